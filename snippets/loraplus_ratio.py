"""Measure LoRA+'s learning-rate ratio κ = η_B / η_A on a small teacher-student task.

Run with `python -m snippets.loraplus_ratio [--save]` (a few minutes on one
CPU thread: 108 runs). A seeded `TinyMLP` (64 -> 256 -> 64) is the frozen base; the
teacher is the same network with a rank-4 change added to both weights. The
student is the base with LoRA (r = 8, α = 8) on both layers, trained with
`lora_ref.create_loraplus_optimizer` (AdamW) on fresh Gaussian inputs to
match the teacher's outputs (mean squared error). For each κ, η_A and seed it
records the held-out error after the last step, as a fraction of the error at
step 0. The seed draws the base, the teacher's change and the data.

This is a toy problem chosen to run in seconds, not the Experiments task:
read it as a check of the mechanism, not as advice for a real model. With
--save the rows go to docs/assets/data/loraplus_ratio.csv (through a
temporary file); `snippets/figures/fig_loraplus_ratio.py` plots them.
"""

import argparse
import copy
import csv
import io
import os
import tempfile
from pathlib import Path

import torch

from lora_ref import TinyMLP, apply_lora, create_loraplus_optimizer

OUT = Path(__file__).resolve().parents[1] / "docs" / "assets" / "data"
NAME = "loraplus_ratio.csv"
RATIOS = (1, 2, 4, 8, 16, 32)
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
SEEDS = (0, 1, 2)
K, HIDDEN, D, RANK_CHANGE = 64, 256, 64, 4
STEPS, BATCH = 300, 64


def teacher_of(base: TinyMLP, generator: torch.Generator) -> TinyMLP:
    """The base plus a rank-4 change of each weight, 0.5 x its Frobenius norm."""
    teacher = copy.deepcopy(base)
    with torch.no_grad():
        for layer in (teacher.lin0, teacher.lin1):
            d, k = layer.weight.shape
            U = torch.randn(d, RANK_CHANGE, generator=generator)
            V = torch.randn(RANK_CHANGE, k, generator=generator)
            change = U @ V
            layer.weight += 0.5 * layer.weight.norm() * change / change.norm()
    return teacher


def run(ratio: float, lr: float, seed: int) -> dict:
    """Train one student; return its held-out error relative to step 0."""
    torch.manual_seed(seed)
    base = TinyMLP(k=K, hidden=HIDDEN, d=D)
    generator = torch.Generator().manual_seed(1000 + seed)
    teacher = teacher_of(base, generator)
    x_test = torch.randn(512, K, generator=generator)
    with torch.no_grad():
        y_test = teacher(x_test)
    student = apply_lora(copy.deepcopy(base), ["lin0", "lin1"], r=8, alpha=8)
    optimizer = create_loraplus_optimizer(student, lr=lr, ratio=ratio)

    def test_error() -> float:
        with torch.no_grad():
            return (student(x_test) - y_test).pow(2).mean().item()

    start = test_error()
    for _ in range(STEPS):
        x = torch.randn(BATCH, K, generator=generator)
        with torch.no_grad():
            y = teacher(x)
        optimizer.zero_grad()
        (student(x) - y).pow(2).mean().backward()
        optimizer.step()
    return {
        "ratio": ratio,
        "lr_A": lr,
        "seed": seed,
        "relative_error": round(test_error() / start, 6),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"also write {NAME}")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the same numbers on any machine size
    rows = [run(ratio, lr, seed) for lr in LRS for ratio in RATIOS for seed in SEEDS]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    print(text.getvalue(), end="")
    if args.save:
        OUT.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=OUT, prefix=".loraplus_ratio.", delete=False
        ) as tmp:
            tmp.write(text.getvalue())
        os.chmod(tmp.name, 0o644)  # NamedTemporaryFile creates it 0600
        os.replace(tmp.name, OUT / NAME)


if __name__ == "__main__":
    main()
