"""Predicted vs measured training memory (run by `make bench`, about a minute).

Measures the peak tensor memory of one AdamW step of a small Llama on CPU
(fp32; full fine-tuning and LoRA, with and without activation checkpointing)
and writes docs/assets/data/memory_measured.csv, the file "Why PEFT" reads.
Prints each measurement beside `lora_ref.budget.finetune_memory`'s prediction.

    .venv/bin/python snippets/bench_memory.py [--save | --out FILE.csv]

Without an option it only prints; `--save` (what `make bench` passes) rewrites
the committed CSV.
"""

import argparse
import csv
from pathlib import Path

import torch
from measure_memory import SMALL, measure_step

from lora_ref.budget import finetune_memory

CSV = (
    Path(__file__).resolve().parents[1]
    / "docs"
    / "assets"
    / "data"
    / "memory_measured.csv"
)
GRID = [
    (method, checkpointing, batch, seq_len)
    for method in ("full", "lora")
    for checkpointing in (False, True)
    for batch, seq_len in ((4, 128), (8, 256))
]


def main(out: Path | None) -> None:
    torch.set_num_threads(1)  # one thread: the same temporaries on every run
    rows = []
    for method, checkpointing, batch, seq_len in GRID:
        measured = measure_step(method, batch, seq_len, checkpointing)
        predicted = finetune_memory(
            SMALL, method, "fp32", batch, seq_len, checkpointing
        ).total
        error = (predicted - measured) / measured
        print(
            f"{method:4} ckpt={checkpointing!s:5} b={batch} s={seq_len:3}  "
            f"measured {measured / 2**20:7.1f} MiB  predicted "
            f"{predicted / 2**20:7.1f} MiB  error {error:+.1%}"
        )
        rows.append(
            {
                "method": method,
                "checkpointing": checkpointing,
                "batch": batch,
                "seq_len": seq_len,
                "measured_bytes": measured,
            }
        )
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"write {CSV.name}")
    parser.add_argument("--out", type=Path, help="write the CSV here instead")
    args = parser.parse_args()
    main(args.out or (CSV if args.save else None))
