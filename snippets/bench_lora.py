"""Benchmark: lora_ref's LoRALinear against PEFT's LoRA layer, and merged vs plain.

Run with `make bench` (or `python snippets/bench_lora.py [--save]`). Prints,
from one run with the contenders interleaved side by side:

    lora_step ours/peft = <ratio>          a training step (forward + backward)
    merged_forward ours/linear = <ratio>   a merged LoRALinear vs a plain nn.Linear
    lora_branch extra FLOPs r(d+k)/(dk) = <fraction>

Shapes: d = k = 4096, r = 8, a batch of 8 x 512 tokens, float32, CPU. Each
ratio is median(ours) / median(theirs) over interleaved repeats, so both
sides see the same machine load. Target: both ratios <= 1.05. With --save the
report is also written to docs/assets/data/bench_lora.txt, which the
Benchmarks page shows.
"""

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import peft
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from lora_ref import LoRALinear

d = k = 4096
r = 8
n_seq, seq_len = 8, 512
REPEATS = 7
OUT = (
    Path(__file__).resolve().parents[1] / "docs" / "assets" / "data" / "bench_lora.txt"
)


class One(nn.Module):
    """A one-layer model, so PEFT can wrap the layer named `proj`."""

    def __init__(self, proj: nn.Linear) -> None:
        super().__init__()
        self.proj = proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(a, b, repeats: int = REPEATS) -> tuple[float, float]:
    """Median seconds of a and b, run alternately after one warm-up each."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(timed(a))
        times_b.append(timed(b))
    return statistics.median(times_a), statistics.median(times_b)


def main() -> str:
    torch.manual_seed(0)
    base = nn.Linear(k, d)
    ours = LoRALinear(base, r=r, alpha=16)
    theirs = get_peft_model(
        One(nn.Linear(k, d)), LoraConfig(r=r, lora_alpha=16, target_modules=["proj"])
    )
    with torch.no_grad():
        theirs.base_model.model.proj.base_layer.weight.copy_(base.weight)
        theirs.base_model.model.proj.base_layer.bias.copy_(base.bias)
    x = torch.randn(n_seq, seq_len, k, requires_grad=True)  # as if from earlier layers
    grad_out = torch.randn(n_seq, seq_len, d)

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            x.grad = None
            model(x).backward(grad_out)

        return run

    t_ours, t_peft = side_by_side(step(ours), step(theirs))

    ours.merge()
    plain = nn.Linear(k, d)
    with torch.no_grad():
        plain.weight.copy_(ours.base.weight)
        plain.bias.copy_(ours.base.bias)
    x_eval = x.detach()

    def forward(model):
        def run():
            with torch.no_grad():
                model(x_eval)

        return run

    t_merged, t_plain = side_by_side(forward(ours), forward(plain))
    lines = [
        f"# {datetime.date.today()}, torch {torch.__version__}, "
        f"peft {peft.__version__}, "
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        f"# d = k = {d}, r = {r}, batch {n_seq} x {seq_len} tokens, float32, "
        f"median of {REPEATS} interleaved repeats",
        f"lora_step ours = {t_ours:.3f} s, peft = {t_peft:.3f} s",
        f"lora_step ours/peft = {t_ours / t_peft:.3f}",
        f"merged_forward ours = {t_merged:.3f} s, linear = {t_plain:.3f} s",
        f"merged_forward ours/linear = {t_merged / t_plain:.3f}",
        f"lora_branch extra FLOPs r(d+k)/(dk) = {r * (d + k) / (d * k):.4%}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"also write {OUT.name}")
    report = main()
    print(report, end="")
    if parser.parse_args().save:
        OUT.write_text(report)
