"""Accuracy against retained capability, every method, with the frontier.

Reads docs/assets/data/compare/summary.csv (snippets/experiments/compare.py).
One point per setting at its learning rate chosen on validation: x, how much
of the pretrained encoder's similarity ranking of held-out generic sentences
survives (Spearman correlation of all pairwise cosine similarities, 1 =
unchanged: right forgets less); y, test accuracy. Means over 3 seeds with
min-max bars on both axes. The band joins the Pareto frontier: settings that
no other setting beats on both. Shown in the method-comparison chapter.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.experiments import compare_plotting as cp

NAME = "compare_retained"


def compute() -> list[dict]:
    """Every setting's point (the head included), frontier flag set."""
    pts = cp.points(cp.chosen(), "similarity_spearman")
    cp.mark_frontier(pts, lower_x_is_better=False)
    return pts


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, ax = plt.subplots(figsize=(10, 7))
    cp.pareto_panel(ax, rows)
    ax.set_xlabel("similarity ranking kept (Spearman corr.; right = forgets less)")
    ax.set_ylabel("test accuracy (4 classes)")
    ax.set_title("Accuracy vs retained capability (MiniLM, 60 steps)")
    cp.legend_below(fig, ax)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
