"""The measured numbers quoted in prose come from the committed compare CSVs.

docs/comparison.md and the method chapters quote results of `make compare` as
"mean (min–max)" over seeds, e.g. "0.835 (0.710–1.000)". Every such triple on
those pages must be a cell (or part of a cell) of the committed
docs/assets/data/compare/table_compare.csv, so a page cannot keep a number
after the data behind it changed. The one other source is the head-only rows
of docs/assets/data/experiments/table_sweeps.csv (same data, steps, batch and
seeds): the frozen encoder at the kit's fixed head learning rate 10⁻³, the
head learning rate of every other compare setting.
"""

import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ROOT / "docs" / "assets" / "data" / "compare"
SWEEPS = ROOT / "docs" / "assets" / "data" / "experiments" / "table_sweeps.csv"
# the pages whose "measured on the Experiments task" numbers come from compare
PAGES = (
    "comparison", "lora-variants", "beyond-lora", "dora", "pissa", "lora-plus",
    "vera", "adalora", "dylora", "qlora", "ia3", "prompt-tuning",
    "prefix-tuning", "adapters", "bitfit",
)  # fmt: skip
SPREAD = re.compile(r"\d+\.\d+ \(-?\d+\.\d+–-?\d+\.\d+\)")


def spreads(text: str) -> list[str]:
    """Every 'mean (min–max)' triple in `text`, line breaks read as spaces."""
    return SPREAD.findall(" ".join(text.split()))


def table_cells() -> str:
    with (COMPARE / "table_compare.csv").open(encoding="utf-8") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    with SWEEPS.open(encoding="utf-8") as f:
        cells += [
            cell
            for row in csv.reader(f)
            if row[0].startswith("frozen encoder (head only)")
            for cell in row
        ]
    return "\n".join(cells)


def test_the_pattern_finds_spreads_across_line_breaks_and_nothing_else():
    text = "reached 0.835\n(0.710–1.000), against 0.997 (0.995–1.000); 3 (1–2)"
    assert spreads(text) == ["0.835 (0.710–1.000)", "0.997 (0.995–1.000)"]


@pytest.mark.skipif(
    not (COMPARE / "table_compare.csv").exists(),
    reason="make compare has not written docs/assets/data/compare yet",
)
@pytest.mark.parametrize("page", PAGES)
def test_every_quoted_spread_is_in_the_compare_table(page):
    cells = table_cells()
    text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
    missing = [s for s in spreads(text) if s not in cells]
    assert missing == [], f"docs/{page}.md quotes spreads not in the table"
