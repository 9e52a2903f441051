"""Benchmark: lora_ref's LoRALinear against PEFT's LoRA layer, and merged vs plain.

Run with `make bench` (or `python snippets/bench_lora.py [--save]`). Prints,
from one run with the contenders interleaved side by side:

    lora_step ours/peft = <ratio>          a training step (forward + backward)
    merged_forward ours/linear = <ratio>   a merged LoRALinear vs a plain nn.Linear
    lora_branch extra FLOPs r(d+k)/(dk) = <fraction>

Shapes: d = k = 4096, r = 8, a batch of 8 x 512 tokens, float32, CPU. Each
ratio is median(ours) / median(theirs) over interleaved repeats in rotating
order, so all sides see the same machine load. A control, two identical
nn.Linear layers timed the same way, shows the noise floor of the run: read
the ratios against it. Target: both ratios <= 1.05. With --save the report
is also written to docs/assets/data/bench_lora.txt (the Benchmarks page).
"""

import argparse
import copy
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
REPEATS = 15
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


def side_by_side(*fns, repeats: int = REPEATS) -> list[list[float]]:
    """Seconds of every run of each fn, interleaved after one warm-up each.

    The order rotates (a b c, b c a, c a b, ...): whichever runs first in a
    round was measured a few percent slower on our machine, so a fixed order
    would bias the ratios.
    """
    for fn in fns:
        fn()
    times = {fn: [] for fn in fns}
    for i in range(repeats):
        for fn in fns[i % len(fns) :] + fns[: i % len(fns)]:
            times[fn].append(timed(fn))
    return [times[fn] for fn in fns]


def ratio_lines(name: str, ours: list[float], theirs: list[float], other: str) -> list:
    """The report lines for one comparison: both medians and their ratio."""
    med_ours, med_theirs = statistics.median(ours), statistics.median(theirs)
    return [
        f"{name} ours = {med_ours:.3f} s, {other} = {med_theirs:.3f} s (medians)",
        f"{name} ours/{other} = {med_ours / med_theirs:.3f}",
    ]


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

    def forward(model):
        def run():
            with torch.no_grad():
                model(x_eval)

        return run

    # 1. merged inference against plain nn.Linear layers holding the same weight;
    # the second plain layer is the control: the same matmul timed twice
    merged = copy.deepcopy(ours)
    merged.merge()
    plain, control = nn.Linear(k, d), nn.Linear(k, d)
    with torch.no_grad():
        for layer in (plain, control):
            layer.weight.copy_(merged.base.weight)
            layer.bias.copy_(merged.base.bias)
    x_eval = x.detach()
    t_merged, t_plain, t_control = side_by_side(
        forward(merged), forward(plain), forward(control)
    )
    # 2. a training step against PEFT's layer
    t_ours, t_peft = side_by_side(step(ours), step(theirs))
    lines = [
        f"# {datetime.date.today()}, torch {torch.__version__}, "
        f"peft {peft.__version__}, "
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        f"# d = k = {d}, r = {r}, batch {n_seq} x {seq_len} tokens, float32, "
        f"median of {REPEATS} interleaved repeats (rotating order)",
        *ratio_lines("lora_step", t_ours, t_peft, "peft"),
        *ratio_lines("merged_forward", t_merged, t_plain, "linear"),
        "control_forward linear/linear = "
        f"{statistics.median(t_control) / statistics.median(t_plain):.3f}"
        "  (the noise floor: the same matmul timed twice)",
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
