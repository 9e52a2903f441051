"""LoRA+ on a toy task: held-out error vs the ratio κ = η_B / η_A, per η_A.

Figure for docs/lora-plus.md ("Measured: the ratio on a small task"). Reads
docs/assets/data/loraplus_ratio.csv, written by `python -m
snippets.loraplus_ratio --save` (a TinyMLP student with LoRA learning a
rank-4 teacher change; 3 seeds per point), and plots the mean over seeds with
the seeds' range as error bars.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import csv
import statistics

import matplotlib.pyplot as plt

NAME = "loraplus_ratio"
DATA = style.ROOT / "docs" / "assets" / "data" / "loraplus_ratio.csv"


def compute() -> list[dict]:
    """Mean, min and max of the relative error over seeds, per (η_A, κ)."""
    with DATA.open() as f:
        runs = list(csv.DictReader(f))
    groups: dict[tuple[float, int], list[float]] = {}
    for run in runs:
        key = (float(run["lr_A"]), int(run["ratio"]))
        groups.setdefault(key, []).append(float(run["relative_error"]))
    return [
        {
            "lr_A": lr,
            "ratio": ratio,
            "seeds": len(errors),
            "mean_relative_error": round(statistics.mean(errors), 6),
            "min_relative_error": min(errors),
            "max_relative_error": max(errors),
        }
        for (lr, ratio), errors in sorted(groups.items())
    ]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, ax = plt.subplots()
    for lr in sorted({row["lr_A"] for row in rows}):
        sel = [row for row in rows if row["lr_A"] == lr]
        mean = [row["mean_relative_error"] for row in sel]
        below = [row["mean_relative_error"] - row["min_relative_error"] for row in sel]
        above = [row["max_relative_error"] - row["mean_relative_error"] for row in sel]
        ax.errorbar(
            [row["ratio"] for row in sel],
            mean,
            yerr=[below, above],
            marker="o",
            capsize=3,
            label=f"$\\eta_A$ = {lr:g}",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(r"ratio $\kappa = \eta_B / \eta_A$ (1 = plain LoRA)")
    ax.set_ylabel("held-out error after 300 steps\n(fraction of step 0)")
    ax.set_title("LoRA+ on a teacher-student toy task (mean of 3 seeds, range)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
