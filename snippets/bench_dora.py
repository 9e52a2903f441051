"""Benchmark: the step time of DoRA against LoRA, side by side in one run.

Run with `make bench`, or `python -m snippets.bench_dora [--save]`. Times one
training step (forward + backward, the input requiring a gradient as inside a
network) of `lora_ref.LoRALinear` and `lora_ref.DoRALinear` wrapping the same
frozen `nn.Linear` (d = k = 2048, r = 8, 1024 tokens, float32, one torch
thread), without and with dropout (p = 0.1) on the adapter's input, and
compares like with like:

- dora_step / lora_step: DoRA's cost without dropout;
- dora_step_dropout / lora_step_dropout: DoRA's cost with dropout, against
  LoRA with the same dropout.

Method: the same as snippets/bench_lora.py, built for a shared, noisy
machine (its `sample`, `percentile` and `ratio` are reused). The contenders
alternate sample by sample in a freshly shuffled order every round; each call
is timed by the CPU time of the timing thread (time.thread_time), which
leaves out the time other processes held the core, with the wall-clock ratio
printed beside it; each contender's time is a low percentile (p10) of its
samples, printed beside the minimum and the median, and each ratio comes with
a 95% bootstrap interval over rounds. An A/A control runs in the same loop:
a second, identical LoRA layer against the first. It times the same code, so
its ratio must come out within 1.00 +- 3%; if it does not, the run says that
it is too noisy, saves nothing and exits with status 1.

With --save the report replaces docs/assets/data/bench_dora.txt (the DoRA
chapter includes it) once the run has passed its A/A control.
"""

import argparse
import copy
import datetime
import platform
import statistics
import sys
from collections.abc import Callable

import torch
from torch import nn

from lora_ref import DoRALinear, LoRALinear
from snippets.bench_lora import (
    AA_TOLERANCE,
    CLOCKS,
    MIN_ROUNDS,
    PERCENTILE,
    percentile,
    ratio,
    sample,
)
from snippets.common import (
    DATA,
    argument_parser,
    positive_float,
    positive_int,
    write_text,
)

OUT = DATA / "bench_dora.txt"
DROPOUT = 0.1
COMPARISONS = (  # (line name, ours, theirs, is an A/A control)
    ("dora_step / lora_step", "dora_step", "lora_step", False),
    (
        "dora_step_dropout / lora_step_dropout",
        "dora_step_dropout",
        "lora_step_dropout",
        False,
    ),
    ("control lora_step / lora_step (A/A)", "lora_step_again", "lora_step", True),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; parsed before anything is built or timed."""
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=40,
        help="rounds of samples; each round times every contender once (default 40)",
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=150.0,
        help=f"stop after this many seconds of sampling, but never before "
        f"{MIN_ROUNDS} rounds (default 150)",
    )
    parser.add_argument("--size", type=positive_int, default=2048, help="d = k")
    parser.add_argument("--tokens", type=positive_int, default=1024, help="n")
    parser.add_argument("--rank", type=positive_int, default=8, help="r")
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="cpu",
        help="what the ratios use (default cpu; both clocks are printed)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the order")
    parser.add_argument(
        "--save", action="store_true", help=f"write the report to {OUT.name}"
    )
    return parser.parse_args(argv)


def contenders(args: argparse.Namespace) -> dict[str, Callable[[], None]]:
    """The five timed steps, all on the same frozen layer and inputs."""
    torch.manual_seed(0)
    d = k = args.size
    base = nn.Linear(k, d)
    lora = LoRALinear(base, r=args.rank, alpha=16)
    nn.init.normal_(lora.B)  # as if trained, so no product is all zeros
    dora = DoRALinear(base, r=args.rank, alpha=16)
    lora_dropout = LoRALinear(base, r=args.rank, alpha=16, dropout=DROPOUT)
    dora_dropout = DoRALinear(base, r=args.rank, alpha=16, dropout=DROPOUT)
    with torch.no_grad():
        for layer in (dora, lora_dropout, dora_dropout):
            layer.A.copy_(lora.A)
            layer.B.copy_(lora.B)
    layers = {
        "lora_step": lora,
        "lora_step_again": copy.deepcopy(lora),  # the A/A control
        "dora_step": dora,
        "lora_step_dropout": lora_dropout,
        "dora_step_dropout": dora_dropout,
    }
    x = torch.randn(args.tokens, k, requires_grad=True)  # as from earlier layers
    grad_h = torch.randn(args.tokens, d)

    def step(layer: nn.Module) -> Callable[[], None]:
        layer.train()

        def run() -> None:
            layer.zero_grad(set_to_none=True)
            x.grad = None
            layer(x).backward(grad_h)

        return run

    return {name: step(layer) for name, layer in layers.items()}


def report(
    times: dict[str, dict[str, list[float]]], args: argparse.Namespace
) -> tuple[str, bool]:
    """The report text, and whether the A/A control passed."""
    primary = times[args.clock]
    other = times["wall" if args.clock == "cpu" else "cpu"]
    rounds = len(primary["lora_step"])
    lines = [
        f"# {datetime.date.today()}, torch {torch.__version__}, "
        f"{platform.machine()} CPU, {torch.get_num_threads()} thread(s)",
        f"# d = k = {args.size}, r = {args.rank}, n = {args.tokens} tokens, "
        f"float32, dropout p = {DROPOUT} where named; {rounds} rounds, every "
        "contender once per round, in shuffled order",
        f"# clock: {CLOCKS[args.clock]}; ratio = p{PERCENTILE}(first) / "
        f"p{PERCENTILE}(second) [95% bootstrap interval over rounds]",
    ]
    for name, samples in primary.items():
        ms = [1000 * t for t in samples]
        lines.append(
            f"time {name:17} p{PERCENTILE} {percentile(ms, PERCENTILE):7.1f} ms, "
            f"min {min(ms):7.1f} ms, median {statistics.median(ms):7.1f} ms"
        )
    control_ok = True
    for name, first, second, control in COMPARISONS:
        s = ratio(primary[first], primary[second])
        other_p = percentile(other[first], PERCENTILE)
        other_p /= percentile(other[second], PERCENTILE)
        lines.append(
            f"{name} = {s['ratio']:.3f} [{s['low']:.3f}, {s['high']:.3f}]  "
            f"(min {s['min']:.3f}, median {s['median']:.3f}; "
            f"p{PERCENTILE} by the {'wall' if args.clock == 'cpu' else 'CPU'} "
            f"clock {other_p:.3f})"
        )
        if control:
            ok = abs(s["ratio"] - 1) <= AA_TOLERANCE
            control_ok &= ok
            lines.append(
                f"A/A control within 1.00 ± {AA_TOLERANCE:.0%}: "
                f"{s['ratio']:.3f} {'PASS' if ok else 'FAIL'}"
            )
    return "\n".join(lines) + "\n", control_ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (0: the A/A control passed)."""
    args = parse_args(argv)
    torch.set_num_threads(1)  # thread_time measures one thread
    times = sample(contenders(args), args.rounds, args.seconds, args.seed)
    text, control_ok = report(times, args)
    print(text, end="")
    if not control_ok:
        print(
            "TOO NOISY: the A/A control (the same code timed twice) is outside "
            f"1.00 ± {AA_TOLERANCE:.0%}, so the ratios above are not measurements. "
            "Nothing saved; rerun on a quieter machine (or with more --rounds).",
            file=sys.stderr,
        )
        return 1
    if args.save:
        write_text(OUT, text)
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
