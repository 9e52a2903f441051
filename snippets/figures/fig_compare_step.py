"""Accuracy against training step time, every method, with the frontier.

Reads docs/assets/data/compare/summary.csv (snippets/experiments/compare.py).
One point per setting at its learning rate chosen on validation: x, the
median time of a training step over full fine-tuning's median in the same
run of the kit (one CPU thread per run, batch 16; 1 = full fine-tuning's
cost, left is faster); y, test accuracy. Means over 3 seeds with min-max
bars on both axes. The band joins the Pareto frontier: settings that no
other setting beats with a faster step and higher accuracy. Shown in the
method-comparison chapter.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.experiments import compare_plotting as cp

NAME = "compare_step"


def compute() -> list[dict]:
    """Every setting's point (the head included), frontier flag set."""
    pts = cp.points(cp.chosen(), "step_ratio")
    cp.mark_frontier(pts, lower_x_is_better=True)
    return pts


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, ax = plt.subplots(figsize=(10, 7))
    cp.pareto_panel(ax, rows)
    ax.axvline(1.0, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlabel("training step time / full fine-tuning's (left = faster)")
    ax.set_ylabel("test accuracy (4 classes)")
    ax.set_title("Accuracy vs step time (MiniLM, batch 16, one CPU thread)")
    cp.legend_below(fig, ax)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
