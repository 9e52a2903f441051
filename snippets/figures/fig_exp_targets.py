"""Which matrices to adapt: q+v vs q+k+v+o vs all linear layers, measured on MiniLM.

Reads docs/assets/data/experiments/runs.csv (snippets/experiments/run_all.py):
at equal rank r = 8, and at a roughly equal budget of trainable parameters
(q+v at r = 8, q+k+v+o at r = 4, all linear at r = 2). Shown in
docs/choosing-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets import common

NAME = "exp_targets"
GROUPS = {
    "equal rank (r = 8)": ("qv_r8", "qkvo_r8", "all_r8"),
    "equal budget": ("qv_r8", "qkvo_r4", "all_r2"),
}
LABELS = ("q, v", "q, k, v, o", "all linear")


def compute() -> tuple[list[dict], float]:
    """One row per bar (group, target set), and the full fine-tuning accuracy."""
    runs = {
        row["name"]: row for row in common.read_csv(common.EXPERIMENTS / "runs.csv")
    }
    out = []
    for group, names in GROUPS.items():
        for label, name in zip(LABELS, names, strict=True):
            row = runs[name]
            out.append(
                {
                    "group": group,
                    "targets": label,
                    "name": name,
                    "r": int(row["r"]),
                    "trainable": int(row["trainable"]),
                    "accuracy": float(row["accuracy"]),
                }
            )
    return out, float(runs["full"]["accuracy"])


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    out, full = compute()
    fig, ax = plt.subplots()
    width = 0.27
    for g in range(len(GROUPS)):
        for t, label in enumerate(LABELS):
            o = out[3 * g + t]
            x = g + (t - 1) * width
            ax.bar(
                x, o["accuracy"], width, color=f"C{t}", label=label if g == 0 else None
            )
            ax.text(
                x,
                o["accuracy"] + 0.005,
                f"r={o['r']}\n{o['trainable'] / 1000:.0f}k",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.axhline(full, color="k", linestyle="--", label="full fine-tuning")
    ax.set_xticks(range(len(GROUPS)), list(GROUPS))
    lowest = min(o["accuracy"] for o in out)
    ax.set_ylim(max(0.0, lowest - 0.1), 1.2)  # room for the legend above the bars
    ax.set_ylabel("test accuracy")
    ax.set_title("Target modules (labels: rank, trainable parameters)")
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
