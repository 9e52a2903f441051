"""Benchmark: lora_ref's LoRALinear against PEFT's LoRA layer, and merged vs plain.

Run with `make bench` (or `python -m snippets.bench_lora [--save]`). Times, for
d = k = 4096, r = 8 and a batch of 2 x 128 tokens in float32 on the CPU:

- lora_step: one training step (forward + backward, the input requiring a
  gradient as inside a network) of our LoRALinear against PEFT's LoRA layer
  holding the same weights. Target: lora_step ours/peft <= 1.05.
- merged_forward: the forward pass of a merged LoRALinear against a plain
  nn.Linear holding the same weight. Target: merged_forward ours/linear <= 1.05.

Method, built for a shared, noisy machine: every contender is sampled many
times, one short call per sample, and the contenders alternate sample by
sample in a freshly shuffled order every round, so all of them see the same
load. Torch runs one thread, and each call is timed by that thread's CPU
time (time.thread_time), which leaves out the time other processes held the
core; the wall-clock ratio is printed beside it (--clock wall makes it the
main one). Noise on a busy machine only ever makes a call slower, so each
contender's time is a low percentile (p10) of its samples, printed beside the
minimum and the median; a ratio comes with a 95% bootstrap interval
(resampling whole rounds, which keeps the pairs together). Two A/A controls
run in the same loop: a second copy of our layer against the first (step)
and a second nn.Linear against the first (forward). They time the same code,
so their ratios must come out within 1.00 +- 3%; if either does not, the run
says that it is too noisy, saves nothing and exits with status 1.

With --save the report replaces docs/assets/data/bench_lora.txt (the
Benchmarks page) once the run has passed its A/A controls. A failed target is
saved (it is a measurement) and also exits with status 1.
"""

import argparse
import copy
import datetime
import gc
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from lora_ref import LoRALinear
from snippets.common import (
    DATA,
    argument_parser,
    positive_float,
    positive_int,
    write_text,
)

d = k = 4096
r = 8
n_seq, seq_len = 2, 128
OUT = DATA / "bench_lora.txt"
PERCENTILE = 10  # the statistic: a low percentile, robust to one-sided noise
AA_TOLERANCE = 0.03  # an A/A ratio must be within 1 +- 3%
TARGET = 1.05
MIN_ROUNDS = 10  # --seconds never stops a run before this many rounds
CLOCKS = {
    "cpu": "CPU time of the timing thread (time.thread_time)",
    "wall": "wall clock (time.perf_counter)",
}


class One(nn.Module):
    """A one-layer model, so PEFT can wrap the layer named `proj`."""

    def __init__(self, proj: nn.Linear) -> None:
        super().__init__()
        self.proj = proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def add_timing_arguments(
    parser: argparse.ArgumentParser, out: Path, seconds: float = 100.0
) -> None:
    """The options of every benchmark built on `sample` (this one and
    snippets/bench_inference.py): --rounds, --seconds, --threads, --clock,
    --seed and --save (which writes `out`)."""
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=60,
        help="rounds of samples; each round times every contender once (default 60)",
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=seconds,
        help=f"stop after this many seconds of sampling, but never before "
        f"{MIN_ROUNDS} rounds (default {seconds:g})",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (default 1: on a shared machine a single thread is "
        "stalled less often than two that wait for each other)",
    )
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="cpu",
        help="what the ratios use (default cpu; both clocks are printed)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the order")
    parser.add_argument(
        "--save", action="store_true", help=f"write the report to {out.name}"
    )


def parse_timing_args(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> argparse.Namespace:
    """Parse `argv`; a usage error if --clock cpu is asked of several threads."""
    args = parser.parse_args(argv)
    if args.clock == "cpu" and args.threads != 1:
        # the CPU time of one thread misses the others' work; summed over
        # threads it counts their spin-waiting: use the wall clock instead
        parser.error("--clock cpu needs --threads 1; use --clock wall")
    return args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; parsed before anything is built or timed."""
    parser = argument_parser(__doc__)
    add_timing_arguments(parser, OUT)
    return parse_timing_args(parser, argv)


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `samples`, linearly interpolated."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def sample(
    contenders: dict[str, Callable[[], None]],
    rounds: int,
    seconds: float,
    seed: int = 0,
) -> dict[str, dict[str, list[float]]]:
    """Seconds of each call of each contender, interleaved in shuffled rounds.

    Every round calls every contender once, in a new random order, so that a
    burst of load hits all of them alike and no contender is always first.
    Sample i of every contender comes from round i (the pairs the bootstrap
    keeps together). Stops after `rounds` rounds, or after `seconds` once
    MIN_ROUNDS rounds are done.

    Returns:
        {"cpu": {name: [...]}, "wall": {name: [...]}}: each call timed twice,
        by the CPU time of this thread (`time.thread_time`: what the call
        computed, without the time other processes held the core) and by the
        wall clock (`time.perf_counter`).
    """
    for fn in contenders.values():  # warm up: allocator, caches, lazy init
        fn()
        fn()
    order = list(contenders)
    rng = random.Random(seed)
    times = {clock: {name: [] for name in contenders} for clock in ("cpu", "wall")}
    start = time.perf_counter()
    gc.disable()  # no collector pauses inside a sample
    try:
        for i in range(rounds):
            rng.shuffle(order)
            for name in order:
                fn = contenders[name]
                wall, cpu = time.perf_counter(), time.thread_time()
                fn()
                times["cpu"][name].append(time.thread_time() - cpu)
                times["wall"][name].append(time.perf_counter() - wall)
            if i + 1 >= MIN_ROUNDS and time.perf_counter() - start > seconds:
                break
    finally:
        gc.enable()
    return times


def ratio(ours: list[float], theirs: list[float], seed: int = 0) -> dict[str, float]:
    """p10, min and median ratios ours/theirs, and a 95% bootstrap interval.

    The interval resamples whole rounds (the same indices for both sides),
    1,000 times, and takes the 2.5th and 97.5th percentiles of the p10 ratio.
    """
    p = PERCENTILE
    rng = random.Random(seed)
    n = len(ours)
    boot = []
    for _ in range(1000):
        idx = [rng.randrange(n) for _ in range(n)]
        boot.append(
            percentile([ours[i] for i in idx], p)
            / percentile([theirs[i] for i in idx], p)
        )
    return {
        "ratio": percentile(ours, p) / percentile(theirs, p),
        "low": percentile(boot, 2.5),
        "high": percentile(boot, 97.5),
        "min": min(ours) / min(theirs),
        "median": statistics.median(ours) / statistics.median(theirs),
    }


def contenders() -> dict[str, Callable[[], None]]:
    """The six timed calls, all on the same weights and inputs."""
    torch.manual_seed(0)
    base = nn.Linear(k, d)
    ours = LoRALinear(base, r=r, alpha=16)
    nn.init.normal_(ours.B)  # as if trained, so no product is all zeros
    ours_again = copy.deepcopy(ours)  # the A/A control of the step
    from peft import LoraConfig, get_peft_model

    theirs = get_peft_model(
        One(nn.Linear(k, d)), LoraConfig(r=r, lora_alpha=16, target_modules=["proj"])
    )
    peft_layer = theirs.base_model.model.proj
    with torch.no_grad():
        peft_layer.base_layer.weight.copy_(base.weight)
        peft_layer.base_layer.bias.copy_(base.bias)
        peft_layer.lora_A["default"].weight.copy_(ours.A)
        peft_layer.lora_B["default"].weight.copy_(ours.B)
    x = torch.randn(n_seq, seq_len, k, requires_grad=True)  # as from earlier layers
    grad_out = torch.randn(n_seq, seq_len, d)
    torch.testing.assert_close(theirs(x), ours(x))  # same function, same numbers

    def step(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            x.grad = None
            model(x).backward(grad_out)

        return run

    # merged inference against plain nn.Linear layers holding the same weight;
    # the second plain layer is the A/A control: the same matmul timed twice
    merged = copy.deepcopy(ours)
    merged.merge()
    plain, plain_again = nn.Linear(k, d), nn.Linear(k, d)
    with torch.no_grad():
        for layer in (plain, plain_again):
            layer.weight.copy_(merged.base.weight)
            layer.bias.copy_(merged.base.bias)
    x_eval = x.detach()

    def forward(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                model(x_eval)

        return run

    return {
        "step ours": step(ours),
        "step peft": step(theirs),
        "step ours again": step(ours_again),
        "forward merged": forward(merged),
        "forward linear": forward(plain),
        "forward linear again": forward(plain_again),
    }


COMPARISONS = (  # (line name, ours, theirs, is an A/A control)
    ("lora_step ours/peft", "step ours", "step peft", False),
    ("merged_forward ours/linear", "forward merged", "forward linear", False),
    ("control lora_step ours/ours (A/A)", "step ours again", "step ours", True),
    (
        "control merged_forward linear/linear (A/A)",
        "forward linear again",
        "forward linear",
        True,
    ),
)


def report(
    times: dict[str, dict[str, list[float]]], clock: str, threads: int
) -> tuple[str, bool, bool]:
    """The report text, whether the A/A controls passed, whether the targets did."""
    import peft

    primary, other = times[clock], times["wall" if clock == "cpu" else "cpu"]
    rounds = len(primary["step ours"])
    lines = [
        f"# {datetime.date.today()}, torch {torch.__version__}, "
        f"peft {peft.__version__}, {platform.machine()} CPU, {threads} thread(s)",
        f"# d = k = {d}, r = {r}, batch {n_seq} x {seq_len} tokens, float32; "
        f"{rounds} rounds, every contender once per round, in shuffled order",
        f"# clock: {CLOCKS[clock]}; ratio = p{PERCENTILE}(ours) / "
        f"p{PERCENTILE}(theirs) [95% bootstrap interval over rounds]",
    ]
    for name, samples in primary.items():
        ms = [1000 * t for t in samples]
        lines.append(
            f"time {name:21} p{PERCENTILE} {percentile(ms, PERCENTILE):7.1f} ms, "
            f"min {min(ms):7.1f} ms, median {statistics.median(ms):7.1f} ms"
        )
    controls_ok = targets_ok = True
    verdicts = []
    for name, ours, theirs, control in COMPARISONS:
        s = ratio(primary[ours], primary[theirs])
        other_p = percentile(other[ours], PERCENTILE)
        other_p /= percentile(other[theirs], PERCENTILE)
        lines.append(
            f"{name} = {s['ratio']:.3f} [{s['low']:.3f}, {s['high']:.3f}]  "
            f"(min {s['min']:.3f}, median {s['median']:.3f}; "
            f"p{PERCENTILE} by the {'wall' if clock == 'cpu' else 'CPU'} clock "
            f"{other_p:.3f})"
        )
        if control:
            ok = abs(s["ratio"] - 1) <= AA_TOLERANCE
            controls_ok &= ok
            verdicts.append(
                f"{name.removeprefix('control ')} within 1.00 ± "
                f"{AA_TOLERANCE:.0%}: {s['ratio']:.3f} {'PASS' if ok else 'FAIL'}"
            )
        else:
            ok = s["ratio"] <= TARGET
            targets_ok &= ok
            verdicts.append(
                f"{name} ≤ {TARGET:.2f}: {s['ratio']:.3f} {'PASS' if ok else 'FAIL'}"
            )
    lines += verdicts
    lines.append(f"lora_branch extra FLOPs r(d+k)/(dk) = {r * (d + k) / (d * k):.4%}")
    return "\n".join(lines) + "\n", controls_ok, targets_ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (0: valid and on target)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    times = sample(contenders(), args.rounds, args.seconds, args.seed)
    text, controls_ok, targets_ok = report(times, args.clock, args.threads)
    print(text, end="")
    if not controls_ok:
        print(
            "TOO NOISY: an A/A control (the same code timed twice) is outside "
            f"1.00 ± {AA_TOLERANCE:.0%}, so the ratios above are not measurements. "
            "Nothing saved; rerun on a quieter machine (or with more --rounds).",
            file=sys.stderr,
        )
        return 1
    if args.save:
        write_text(OUT, text)
        print(f"wrote {OUT}")
    return 0 if targets_ok else 1


if __name__ == "__main__":
    sys.exit(main())
