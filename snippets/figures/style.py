"""Shared look and deterministic saving for every figure script.

Import it first (`from snippets.figures import style`) in
`snippets/figures/fig_<name>.py`, parse the command line with `style.parse_args`
and pass `args.out` to `save_svg` / `save_csv`. SVGs come out byte-identical
across runs: a fixed hash salt, no date in the metadata, and text drawn as
paths (so the pinned matplotlib decides the glyphs).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from snippets import common  # noqa: E402

ROOT = common.ROOT
FIGURES = ROOT / "docs" / "assets" / "figures"

plt.rcParams.update(
    {
        "svg.hashsalt": "lora-docs",
        "svg.fonttype": "path",
        # Sizes for a phone: a 6.4-inch figure is shown about 360 px wide
        # there (0.55 of its natural size), so 11-12 pt text stays >= 8 px.
        # Dark mode inverts the figures in CSS (docs/stylesheets/extra.css),
        # so they stay black on white here.
        "font.size": 12,
        "axes.titlesize": 12,
        "axes.labelsize": 12,
        "xtick.labelsize": 11,
        "ytick.labelsize": 11,
        "legend.fontsize": 10,
        "lines.linewidth": 1.8,
        # room for the larger text: panel titles, suptitles, colorbars and the
        # y label of a second panel never collide
        "figure.constrained_layout.use": True,
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
    parser = common.argument_parser(description)
    parser.add_argument(
        "--out",
        type=Path,
        default=FIGURES,
        help="directory for the SVG and its CSV (default: docs/assets/figures)",
    )
    return parser.parse_args(argv)


def save_svg(fig: plt.Figure, name: str, out: Path) -> Path:
    """Write `<name>.svg` deterministically into `out` and close the figure."""
    path = common.replace_file(
        out / f"{name}.svg",
        lambda tmp: fig.savefig(tmp, format="svg", metadata={"Date": None}),
    )
    plt.close(fig)
    return path


def save_csv(rows: list[dict], name: str, out: Path) -> Path:
    """Write the data behind a figure as `<name>.csv` next to its SVG."""
    return common.write_csv(out / f"{name}.csv", rows)
