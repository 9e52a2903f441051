"""Accuracy against trainable parameters, every method, with the frontier.

Reads docs/assets/data/compare/summary.csv (snippets/experiments/compare.py).
One point per setting at its learning rate chosen on validation: x, the
trainable parameters outside the head (log scale); y, test accuracy, mean
over 3 seeds with min-max bars. The band joins the Pareto frontier: settings
that no other setting beats with fewer parameters and higher accuracy. The
frozen encoder trains no encoder parameter (0 cannot sit on a log axis): it
is the dashed line. Shown in the method-comparison chapter.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.experiments import compare_plotting as cp

NAME = "compare_params"


def compute() -> list[dict]:
    """Every trained setting's point, frontier flag set; the head last."""
    rows = cp.chosen()
    pts = cp.points([r for r in rows if r["trainable"] > 0], "trainable")
    cp.mark_frontier(pts, lower_x_is_better=True)
    head = cp.points([r for r in rows if r["name"] == "head_only"], "trainable")
    return pts + [p | {"frontier": 0} for p in head]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    trained = [p for p in rows if p["x"] > 0]
    fig, ax = plt.subplots(figsize=(10, 7))
    cp.pareto_panel(ax, trained, log_x=True)
    for p in rows:
        if p["x"] == 0:
            ax.axhline(p["y"], color="0.5", linestyle="--", linewidth=1.2,
                       label="frozen encoder, head only, head lr 3×10⁻² "
                       "(others' head: 10⁻³); 0 encoder parameters",
                       )  # fmt: skip
    ax.set_xlabel("trainable parameters outside the head (log scale)")
    ax.set_ylabel("test accuracy (4 classes)")
    ax.set_title("Accuracy vs trainable parameters (MiniLM, 60 steps)")
    cp.legend_below(fig, ax)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
