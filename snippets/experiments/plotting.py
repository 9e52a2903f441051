"""What the experiment figures (snippets/figures/fig_exp_*.py) share.

A larger font than the site's other figures (the experiment figures are read
on phones too, and several have two panels), and typed access to the kit's
summary.csv: one row per setting, learning rate and training-set size, with
mean, min and max over seeds.
"""

import matplotlib.pyplot as plt

from snippets import common
from snippets.experiments.tables import LABELS

__all__ = ["LABELS", "chosen", "enlarge", "lr_sweep", "summary"]

FONT = {
    "font.size": 13,
    "axes.titlesize": 13,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 11,
}


def enlarge() -> None:
    """Use the experiment figures' larger font (call it at the top of main)."""
    plt.rcParams.update(FONT)


def summary() -> list[dict]:
    """summary.csv with numbers as numbers."""
    out = []
    for row in common.read_csv(common.EXPERIMENTS / "summary.csv"):
        typed = {}
        for key, value in row.items():
            if key in ("name", "method", "targets"):
                typed[key] = value
            elif key in ("r", "rslora", "n_examples", "trainable", "seeds", "chosen"):
                typed[key] = int(value)
            else:
                typed[key] = float(value)
        out.append(typed)
    return out


def chosen(rows: list[dict]) -> dict[str, dict]:
    """Setting name -> its summary row at the validated lr, all training data."""
    return {r["name"]: r for r in rows if r["chosen"] and r["n_examples"] == 0}


def lr_sweep(rows: list[dict], name: str) -> list[dict]:
    """A setting's rows at every learning rate (all training data), by lr."""
    mine = [r for r in rows if r["name"] == name and r["n_examples"] == 0]
    return sorted(mine, key=lambda r: r["lr"])


def minmax_err(rows: list[dict], metric: str) -> list[list[float]]:
    """matplotlib's yerr for min-max bars: [[mean - min...], [max - mean...]]."""
    return [
        [r[f"{metric}_mean"] - r[f"{metric}_min"] for r in rows],
        [r[f"{metric}_max"] - r[f"{metric}_mean"] for r in rows],
    ]
