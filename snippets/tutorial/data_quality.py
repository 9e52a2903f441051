"""What data quality does to the tutorial's result, measured by training.

Each variant trains the tutorial's LoRA recipe (snippets/tutorial/finetune.py:
300 steps, batch 16, r = 16 on all linear layers) on a damaged copy of the
400 training records and evaluates exact-match success on the 80 held-out
records with the correct template. The fix for every variant is the clean
data, the first row. For docs/troubleshooting.md ("Data quality").

- duplicates: 50 records copied 8 more times (800 rows, 400 unique);
  deduplicating on the training text gives the clean set back;
- overlong: 100 extra records with 60-80 digit numbers, longer than
  max_length = 96 tokens, so truncation cuts their answer and its eos;
  filtering on tokenized length gives the clean set back;
- mixed templates: every other record written with another template;
- no label masking: the loss also covers the prompt tokens;
- no eos: the answers are not followed by the end-of-sequence token.

Every variant is trained once, with seed 0; the clean data is also trained
with seeds 1 and 2 (LoRA initialisation, data order and dropout change), so
the table shows how much one run varies.

Usage: python -m snippets.tutorial.data_quality [--out FILE] [--steps N]
(about 1.5 minutes per run on one CPU thread; eight runs).
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch

from snippets.figures.style import save_csv
from snippets.tutorial import finetune as ft
from snippets.tutorial.make_data import to_en
from snippets.tutorial.template import training_text

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "docs" / "assets" / "data" / "tutorial_data_quality.csv"
MAX_LENGTH = 96


def other_template(instruction: str, input: str) -> str:
    """A second template, as when two sources are merged without care."""
    return f"Instruction: {instruction}\nInput: {input}\nAnswer:"


def overlong_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """digits_to_en records with 60-80 digits: far past max_length tokens."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        digits = str(rng.randint(1, 9)) + "".join(
            str(rng.randint(0, 9)) for _ in range(rng.randint(59, 79))
        )
        rows.append(
            {
                "instruction": "Read this number aloud, one digit at a time.",
                "input": digits,
                "output": to_en(digits),
                "task": "digits_to_en",
            }
        )
    return rows


def variants(
    train: list[dict[str, str]], tokenizer: object
) -> dict[str, list[dict[str, list[int]]]]:
    """Tokenized training sets, by variant name."""

    def tok(r: dict[str, str], **kw: object) -> dict[str, list[int]]:
        return ft.tokenize(tokenizer, r, max_length=MAX_LENGTH, **kw)

    duplicated = train + [r for r in train[:50] for _ in range(8)]
    overlong = train + overlong_records(100)
    return {
        "clean (the fix for every row below)": [tok(r) for r in train],
        "duplicates: 50 records x 9": [tok(r) for r in duplicated],
        "overlong: 100 records > 96 tokens": [tok(r) for r in overlong],
        "mixed templates: every other record": [
            tok(r, prompt=other_template) if i % 2 else tok(r)
            for i, r in enumerate(train)
        ],
        "no label masking": [tok(r, mask_prompt=False) for r in train],
        "no eos after the answer": [tok(r, eos=False) for r in train],
    }


def deduplicate(records: list[dict[str, str]]) -> list[dict[str, str]]:
    """Keep the first record of each distinct training text."""
    return list({training_text(r): r for r in records}.values())


def measure(steps: int, spread_seeds: list[int]) -> list[dict]:
    torch.set_num_threads(1)
    train = ft.read_jsonl(ft.ASSETS / "data" / "train.jsonl")
    heldout = ft.read_jsonl(ft.ASSETS / "data" / "heldout.jsonl")
    tokenizer, _ = ft.load_base()
    named = variants(train, tokenizer)
    clean = next(iter(named))
    runs = [(name, 0) for name in named] + [(clean, s) for s in spread_seeds]
    rows = []
    for name, seed in runs:
        features = named[name]
        _, base = ft.load_base()
        start = time.perf_counter()
        model, stats = ft.train(
            base, features, tokenizer.pad_token_id, steps=steps, seed=seed
        )
        seconds = time.perf_counter() - start
        scores = ft.evaluate(tokenizer, model, heldout)
        rows.append(
            {
                "variant": name,
                "seed": seed,
                "rows": len(features),
                "success_rate": round(scores["success_rate"], 3),
                "mean_output_tokens": round(scores["mean_output_tokens"], 2),
                "stopped_share": round(scores["stopped_share"], 3),
                "padded_tokens": stats["padded_tokens"],
                "train_seconds": round(seconds, 1),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CSV, help="CSV to write")
    parser.add_argument("--steps", type=int, default=300, help="steps per run")
    parser.add_argument(
        "--spread-seeds",
        type=int,
        nargs="*",
        default=[1, 2],
        help="more seeds for the clean data (default: 1 2)",
    )
    args = parser.parse_args(argv)
    rows = measure(args.steps, args.spread_seeds)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_csv(rows, args.out.stem, Path(tmp))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        path.replace(args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
