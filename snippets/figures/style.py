"""Shared look and deterministic saving for every figure script.

Import it first (`import style`) in `snippets/figures/fig_<name>.py`. SVGs come
out byte-identical across runs: a fixed hash salt, no date in the metadata,
and text drawn as paths (so the pinned matplotlib decides the glyphs).
"""

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


def out_dir() -> Path:
    """Where to write: the first command-line argument, or docs/assets/figures."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_svg(fig: plt.Figure, name: str) -> Path:
    """Write `<name>.svg` deterministically into `out_dir()` and close the figure."""
    path = out_dir() / f"{name}.svg"
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return path


def save_csv(rows: list[dict], name: str) -> Path:
    """Write the data behind a figure as `<name>.csv` next to its SVG."""
    path = out_dir() / f"{name}.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
