"""Shared look and deterministic saving for every figure script.

Import it first (`from snippets.figures import style`) in
`snippets/figures/fig_<name>.py`, parse the command line with `style.parse_args`
and pass `args.out` to `save_svg` / `save_csv`. SVGs come out byte-identical
across runs: a fixed hash salt, no date in the metadata, and text drawn as
paths (so the pinned matplotlib decides the glyphs).
"""

import argparse
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "assets" / "figures"

plt.rcParams.update(
    {
        "svg.hashsalt": "lora-docs",
        "svg.fonttype": "path",
        "font.size": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": 100,
        "savefig.bbox": "tight",
    }
)


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The command line every figure script takes: `--out DIR` (and `--help`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--out",
        type=Path,
        default=FIGURES,
        help="directory for the SVG and its CSV (default: docs/assets/figures)",
    )
    return parser.parse_args(argv)


def out_dir() -> Path:
    """Where to write: the first command-line argument, or docs/assets/figures."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_svg(fig: plt.Figure, name: str, out: Path | None = None) -> Path:
    """Write `<name>.svg` deterministically into `out` and close the figure."""
    out = out_dir() if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.svg"
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return path


def save_csv(rows: list[dict], name: str, out: Path | None = None) -> Path:
    """Write the data behind a figure as `<name>.csv` next to its SVG."""
    out = out_dir() if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
