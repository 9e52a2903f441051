"""Predicted vs measured training memory (run by `make bench`, about a minute).

Measures the peak tensor memory of one AdamW step of a small Llama on CPU
(fp32; full fine-tuning and LoRA, with and without activation checkpointing)
and writes docs/assets/data/memory_measured.csv, the file "Why PEFT" reads.
Prints each measurement beside `lora_ref.budget.finetune_memory`'s prediction.

    .venv/bin/python -m snippets.bench_memory [--save | --out FILE.csv]

Without an option it only prints; `--save` (what `make bench` passes) rewrites
the committed CSV, once every setting has been measured.
"""

import argparse
from pathlib import Path

import torch

from lora_ref.budget import finetune_memory
from snippets.common import DATA, argument_parser, write_csv
from snippets.measure_memory import SMALL, measure_step

CSV = DATA / "memory_measured.csv"
GRID = [
    (method, checkpointing, batch, seq_len)
    for method in ("full", "lora")
    for checkpointing in (False, True)
    for batch, seq_len in ((4, 128), (8, 256))
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """`--save` or `--out FILE.csv` (and `--help`); without them it only prints."""
    parser = argument_parser(__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--save", action="store_true", help=f"rewrite {CSV.name}")
    where.add_argument("--out", type=Path, help="write the CSV here instead")
    return parser.parse_args(argv)


def measure() -> list[dict]:
    """Measure every setting of GRID; print each beside its prediction."""
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
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = args.out or (CSV if args.save else None)
    rows = measure()
    if out is not None:
        write_csv(out, rows)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
