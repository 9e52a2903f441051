"""Benchmark: the step time of DoRA against LoRA, side by side in one run.

Run with `make bench`, or `python -m snippets.bench_dora [--save]`. Times one
training step (forward + backward) of `lora_ref.LoRALinear` and
`lora_ref.DoRALinear` wrapping the same frozen `nn.Linear`, with and without
dropout on the adapter's input, and prints for each contender its fastest
and median time and its ratios to LoRA:

    dora_step / lora_step = <median ratio> (min ratio <...>)

The contenders run interleaved, one sample each per round in rotating order,
so all of them see the same machine load; a second, identical LoRA layer is
the control, whose ratio to the first shows the noise floor of the run. With
--save the report is also written to docs/assets/data/bench_dora.txt (the
DoRA chapter and the Benchmarks page), through a temporary file, so a failed
run never leaves a half-written report.
"""

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from lora_ref import DoRALinear, LoRALinear

OUT = Path(__file__).resolve().parents[1] / "docs" / "assets" / "data"
NAME = "bench_dora.txt"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"also write {NAME}")
    parser.add_argument("--repeats", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--size", type=int, default=2048, help="d = k (default 2048)")
    parser.add_argument("--tokens", type=int, default=1024, help="n (default 1024)")
    parser.add_argument("--rank", type=int, default=8, help="r (default 8)")
    args = parser.parse_args(argv)
    for name in ("repeats", "size", "tokens", "rank"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def side_by_side(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of every run of each fn: one warm-up each, then rotating rounds."""
    names = list(fns)
    for fn in fns.values():
        fn()
    times = {name: [] for name in names}
    for i in range(repeats):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def report(args: argparse.Namespace) -> str:
    torch.manual_seed(0)
    d = k = args.size
    base = nn.Linear(k, d)
    layers = {
        "lora_step": LoRALinear(base, r=args.rank, alpha=16),
        "lora_step_control": LoRALinear(base, r=args.rank, alpha=16),
        "dora_step": DoRALinear(base, r=args.rank, alpha=16),
        "lora_step_dropout": LoRALinear(base, r=args.rank, alpha=16, dropout=0.1),
        "dora_step_dropout": DoRALinear(base, r=args.rank, alpha=16, dropout=0.1),
    }
    for layer in layers.values():
        layer.train()
    x = torch.randn(args.tokens, k, requires_grad=True)  # as if from earlier layers
    grad_h = torch.randn(args.tokens, d)

    def step(layer):
        def run():
            layer.zero_grad(set_to_none=True)
            x.grad = None
            layer(x).backward(grad_h)

        return run

    times = side_by_side({n: step(layer) for n, layer in layers.items()}, args.repeats)
    lora = times["lora_step"]
    lines = [
        f"# {datetime.date.today()}, torch {torch.__version__}, "
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        f"# d = k = {d}, r = {args.rank}, n = {args.tokens} tokens, float32, "
        f"{args.repeats} interleaved rounds (rotating order); dropout p = 0.1",
        "# contender: min, median (s); ratio to lora_step: median (min)",
    ]
    for name, t in times.items():
        ratio = statistics.median(t) / statistics.median(lora)
        lines.append(
            f"{name}: {min(t):.4f} s, {statistics.median(t):.4f} s; "
            f"/ lora_step = {ratio:.3f} ({min(t) / min(lora):.3f})"
        )
    lines.append("# lora_step_control is the noise floor: the same layer timed twice")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    text = report(args)
    print(text, end="")
    if args.save:
        OUT.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=OUT, prefix=".bench_dora.", delete=False
        ) as tmp:
            tmp.write(text)
        os.chmod(tmp.name, 0o644)  # NamedTemporaryFile creates it 0600
        os.replace(tmp.name, OUT / NAME)


if __name__ == "__main__":
    main()
