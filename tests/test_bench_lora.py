"""snippets/bench_lora.py's verdicts, on synthetic times (nothing is timed here).

The benchmark itself runs in `make bench`; these tests check its logic: an A/A
control outside 1.00 +- 3% makes the run exit non-zero and save nothing, the
targets are printed in the issue's exact words with PASS/FAIL, the ratio is
taken on a low percentile (so one-sided noise does not move it), and the
command line rejects bad input before any work. And the page's explanation:
both layers launch the same operations.
"""

import collections

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from lora_ref import LoRALinear
from snippets import bench_lora

NAMES = (
    "step ours",
    "step peft",
    "step ours again",
    "forward merged",
    "forward linear",
    "forward linear again",
)


def synthetic(factors: dict[str, float], rounds: int = 30) -> dict:
    """Both clocks' samples: a base time per contender, 1/3 of calls slowed 40%."""
    samples = {}
    for name in NAMES:
        base = factors.get(name, 1.0) * (0.2 if name.startswith("step") else 0.1)
        samples[name] = [
            base * (1.4 if (i * 7 + len(name)) % 3 == 0 else 1.0 + 0.001 * (i % 5))
            for i in range(rounds)
        ]
    return {"cpu": samples, "wall": samples}


@pytest.fixture
def run(monkeypatch, tmp_path):
    """main() with synthetic times; returns (status, report file or None)."""
    out = tmp_path / "bench_lora.txt"
    monkeypatch.setattr(bench_lora, "OUT", out)
    monkeypatch.setattr(bench_lora, "contenders", lambda: {})

    def go(factors: dict[str, float], argv: list[str]) -> tuple[int, str | None]:
        monkeypatch.setattr(bench_lora, "sample", lambda *a: synthetic(factors))
        status = bench_lora.main(argv)
        return status, out.read_text() if out.exists() else None

    return go


def test_a_failing_aa_control_exits_non_zero_and_saves_nothing(run, capsys):
    status, saved = run({"step ours again": 1.05}, ["--save"])
    assert status == 1
    assert saved is None
    captured = capsys.readouterr()
    assert "lora_step ours/ours (A/A) within 1.00 ± 3%: 1.050 FAIL" in captured.out
    assert "TOO NOISY" in captured.err


def test_a_quiet_run_on_target_passes_and_saves_the_exact_target_lines(run):
    status, saved = run({"step peft": 1.01}, ["--save"])
    assert status == 0
    assert "lora_step ours/peft ≤ 1.05: 0.990 PASS\n" in saved
    assert "merged_forward ours/linear ≤ 1.05: 1.000 PASS\n" in saved
    assert "merged_forward linear/linear (A/A) within 1.00 ± 3%: 1.000 PASS\n" in saved


def test_a_missed_target_is_saved_and_exits_non_zero(run):
    status, saved = run({"step ours": 1.10, "step ours again": 1.10}, ["--save"])
    assert status == 1
    assert "lora_step ours/peft ≤ 1.05: 1.100 FAIL\n" in saved


def test_without_save_nothing_is_written(run):
    status, saved = run({}, [])
    assert (status, saved) == (0, None)


def test_the_ratio_ignores_one_sided_slow_samples_that_move_the_mean():
    fast = [1.0] * 20
    slowed = [1.0] * 14 + [3.0] * 6  # 30% of calls hit by load
    s = bench_lora.ratio(slowed, fast)
    assert s["ratio"] == pytest.approx(1.0)
    assert s["low"] <= 1.0 <= s["high"]
    assert sum(slowed) / sum(fast) > 1.5  # the mean would say 1.6


def test_the_ratio_sees_a_real_5_percent_difference_and_its_interval_excludes_one():
    theirs = [1.0 + 0.001 * (i % 7) for i in range(40)]
    ours = [1.05 * t for t in theirs]
    s = bench_lora.ratio(ours, theirs)
    assert s["ratio"] == pytest.approx(1.05)
    assert s["low"] > 1.0


def test_percentile_interpolates_between_order_statistics():
    assert bench_lora.percentile([3.0, 1.0, 2.0, 4.0], 0) == 1.0
    assert bench_lora.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.5
    assert bench_lora.percentile([3.0, 1.0, 2.0, 4.0], 100) == 4.0


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--rounds", "0"], 2),
        (["--seconds", "-1"], 2),
        (["--sav"], 2),
        (["--threads", "2"], 2),  # the CPU clock needs one thread
    ],
)
def test_help_and_bad_arguments_exit_before_any_work(argv, code, monkeypatch):
    def refuse():
        raise AssertionError("the benchmark started")

    monkeypatch.setattr(bench_lora, "contenders", refuse)
    with pytest.raises(SystemExit) as exit_:
        bench_lora.main(argv)
    assert exit_.value.code == code


def test_wall_clock_with_two_threads_is_accepted():
    args = bench_lora.parse_args(["--clock", "wall", "--threads", "2"])
    assert (args.clock, args.threads) == ("wall", 2)


# ops that only relabel memory (views, no-op casts, dispatch wrappers)
METADATA_OPS = {
    "aten::t", "aten::transpose", "aten::permute", "aten::numpy_T", "aten::view",
    "aten::_unsafe_view", "aten::reshape", "aten::as_strided", "aten::expand",
    "aten::linear", "aten::matmul", "aten::to", "aten::detach", "aten::empty",
    "aten::empty_strided", "aten::resolve_conj", "aten::resolve_neg",
    "aten::_reshape_alias", "aten::alias", "aten::lift_fresh", "aten::result_type",
}  # fmt: skip


def launched_ops(model: torch.nn.Module, x: torch.Tensor) -> collections.Counter:
    """(op, input shapes) -> count for one training step, metadata ops left out."""
    grad_out = torch.ones(*x.shape[:-1], 24)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        model(x).backward(grad_out)
    return collections.Counter(
        {
            (e.key, str(e.input_shapes)): e.count
            for e in prof.key_averages(group_by_input_shape=True)
            if e.key.startswith("aten::") and e.key not in METADATA_OPS
        }
    )


def test_ours_and_peft_launch_the_same_compute_ops_in_a_training_step():
    """The Benchmarks page's claim: same ops, same shapes, same counts."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    ours = LoRALinear(torch.nn.Linear(32, 24), r=4, alpha=8)
    theirs = get_peft_model(
        bench_lora.One(torch.nn.Linear(32, 24)),
        LoraConfig(r=4, lora_alpha=8, target_modules=["proj"]),
    )
    x = torch.randn(2, 5, 32, requires_grad=True)
    for model in (ours, theirs):  # warm up lazy initialisation
        model(x).sum().backward()
    assert launched_ops(ours, x) == launched_ops(theirs, x)
