"""snippets/bench_inference.py: its verdicts on synthetic times, and one tiny
real run. The benchmark itself runs in `make bench`.

Checked here: the command line is parsed before any work; an A/A control
(`control` or `lora_merged`) outside 1.00 +- 3% makes the run exit non-zero
and save nothing; the noise floor is the largest |ratio - 1| of the two
controls and a variant clears it only with its whole interval; the change
with batch size is called only when the intervals do not overlap; the timing
machinery is bench_lora's, not a copy.
"""

import random

import pytest

from snippets import bench_inference, bench_lora


def synthetic(factors: dict[str, float], rounds: int = 30) -> dict:
    """Both clocks' samples: 10 ms times a factor per variant, plus one-sided
    noise (a few calls much slower), the same noise for every variant."""
    rng = random.Random(0)
    noise = [1 + 0.5 * rng.random() ** 8 for _ in range(rounds)]
    samples = {
        name: [0.01 * factors.get(name, 1.0) * x for x in noise]
        for name in bench_inference.NAMES
    }
    return {"cpu": samples, "wall": samples}


@pytest.fixture
def run(monkeypatch, tmp_path):
    """main() with synthetic times per batch; returns (status, saved or None)."""
    out = tmp_path / "bench_inference.txt"
    monkeypatch.setattr(bench_inference, "OUT", out)

    def go(by_batch: dict[int, dict[str, float]], argv=("--save",)):
        monkeypatch.setattr(
            bench_inference,
            "measure",
            lambda args: {n: synthetic(f) for n, f in by_batch.items()},
        )
        status = bench_inference.main(list(argv))
        return status, out.read_text() if out.exists() else None

    return go


def line(text: str, start: str) -> str:
    return next(x for x in text.splitlines() if x.startswith(start))


def test_help_and_bad_arguments_do_no_work(monkeypatch):
    def fail(*args):
        raise AssertionError("work was done")

    monkeypatch.setattr(bench_inference, "measure", fail)
    for argv, code in (
        (["--help"], 0),
        (["--rounds", "0"], 2),
        (["--batches", "1", "-8"], 2),
        (["--threads", "2"], 2),  # the thread's CPU clock needs one thread
        (["--sav"], 2),  # no abbreviations
    ):
        with pytest.raises(SystemExit) as done:
            bench_inference.main(argv)
        assert done.value.code == code


def test_the_timing_machinery_is_bench_lora_s():
    assert bench_inference.sample is bench_lora.sample
    assert bench_inference.ratio is bench_lora.ratio
    assert bench_inference.percentile is bench_lora.percentile


def test_a_noisy_control_exits_non_zero_and_saves_nothing(run, capsys):
    status, saved = run({1: {"lora_merged": 1.05}})
    assert status == 1
    assert saved is None
    captured = capsys.readouterr()
    assert "A/A within 1.00 ± 3%: FAIL" in line(captured.out, "  lora_merged ")
    assert "TOO NOISY" in captured.err


def test_a_quiet_run_is_saved_with_the_load_and_cores_in_its_header(run):
    status, saved = run({1: {}, 8: {}})
    assert status == 0
    assert "(os.cpu_count)" in saved
    assert "load average (1, 5, 15 min)" in saved
    assert "A/A within 1.00 ± 3%: PASS" in line(saved, "  control ")


def test_the_noise_floor_is_the_largest_control_deviation(run):
    _, saved = run({1: {"control": 1.02, "lora_merged": 0.99, "houlsby": 1.2}})
    assert line(saved, "  noise floor ").split()[2] == "0.020"
    assert line(saved, "  houlsby ").endswith("slower, clears the noise floor")
    # 1.01 is above 1.00 but inside the 2% floor: no difference claimed
    _, saved = run({1: {"control": 1.02, "pfeiffer": 1.01}})
    assert line(saved, "  pfeiffer ").endswith("within the noise floor")


def test_a_change_with_batch_is_called_only_when_the_intervals_do_not_overlap(run):
    _, saved = run({1: {"houlsby": 1.3, "prompt": 1.2}, 8: {"prompt": 1.4}})
    assert "houlsby          1.300 -> 1.000: shrinks" in saved
    assert "prompt           1.200 -> 1.400: grows" in saved
    assert "pfeiffer         1.000 -> 1.000: no clear change" in saved
    assert "  control " not in saved.split("ratio from batch 1 to batch 8")[1]


def test_a_tiny_real_run_times_every_variant():
    args = bench_inference.parse_args(
        ["--rounds", "2", "--batches", "1", "--seq-len", "8"]
    )
    times = bench_inference.measure(args)
    assert list(times) == [1]
    for clock in ("cpu", "wall"):
        assert list(times[1][clock]) == list(bench_inference.NAMES)
        assert all(len(t) == 2 for t in times[1][clock].values())
    text, _ = bench_inference.report(times, args)
    for name in bench_inference.NAMES[1:]:
        assert line(text, f"  {name} ")
