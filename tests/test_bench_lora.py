"""snippets/bench_lora.py's verdicts, on synthetic times (nothing is timed here).

The benchmark itself runs in `make bench`; these tests check its logic: an A/A
control outside 1.00 +- 3% makes the run exit non-zero and save nothing, the
targets are printed in the issue's exact words with PASS/FAIL, the ratio is
taken on a low percentile (so one-sided noise does not move it), and the
command line rejects bad input before any work.
"""

import pytest

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
