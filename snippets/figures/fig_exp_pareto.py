"""Forgetting as a trade-off: new-task gain vs capability kept, and the frontier.

Reads docs/assets/data/experiments/summary.csv (snippets/experiments/run_all.py).
Every setting at every learning rate of its sweep (all training data), full
fine-tuning's whole sweep included. x: how much of the pretrained encoder's
similarity judgments on held-out generic sentences survive (Spearman correlation of
all pairwise cosine similarities; 1 = unchanged; further right = less
forgetting). y: test accuracy gained over the frozen encoder. Points: mean
over 3 seeds; bars: min-max. The line joins the Pareto frontier: the points
no other point beats on both axes. Shown in docs/forgetting.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.experiments import plotting, tables

NAME = "exp_pareto"
MARKERS = {"full": ("s", "k"), "head_only": ("D", "grey"), "qv_r1": ("o", "C0"),
           "qv_r8": ("o", "C1"), "qv_r64": ("o", "C2"), "qkvo_r4": ("^", "C3"),
           "all_r2": ("v", "C4"), "qv_r64_a2r": ("P", "C5"),
           "qv_r64_rs": ("X", "C6")}  # fmt: skip


def compute() -> list[dict]:
    """Every (setting, lr) point with its gain, ρ kept, and frontier flag."""
    return tables.pareto_points(plotting.summary())


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    fig, ax = plt.subplots(figsize=(9, 6.4))
    front = sorted((p for p in out if p["frontier"]), key=lambda p: p["retained"])
    ax.plot([p["retained"] for p in front], [p["gain"] for p in front], "-",
            color="0.6", linewidth=6, alpha=0.5, zorder=0,
            label="Pareto frontier")  # fmt: skip
    for name, (marker, color) in MARKERS.items():
        mine = [p for p in out if p["name"] == name]
        if not mine:
            continue
        x, y = [p["retained"] for p in mine], [p["gain"] for p in mine]
        xerr = [[p["retained"] - p["retained_min"] for p in mine],
                [p["retained_max"] - p["retained"] for p in mine]]  # fmt: skip
        yerr = [[p["gain"] - p["gain_min"] for p in mine],
                [p["gain_max"] - p["gain"] for p in mine]]  # fmt: skip
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=marker, color=color,
                    markersize=9, elinewidth=1, alpha=0.85,
                    label=plotting.LABELS[name])  # fmt: skip
        if name == "full":  # the full fine-tuning sweep, labelled by lr
            for p in mine:
                ax.annotate(f"lr {p['lr']:g}", (p["retained"], p["gain"]),
                            textcoords="offset points", xytext=(8, -4),
                            fontsize=11)  # fmt: skip
    ax.set_xlabel("similarity judgments kept (Spearman corr.; right = forgets less)")
    ax.set_ylabel("test accuracy gained over the frozen encoder")
    ax.set_title("Learning vs forgetting, every run of every sweep")
    fig.legend(loc="lower center", ncol=3, fontsize=10, bbox_to_anchor=(0.5, -0.16))
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
