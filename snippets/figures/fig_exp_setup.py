"""The experiments' setup: MiniLM, where each LoRA target set sits, the head, the task.

Drawn from the kit's own constants (snippets/experiments/run_all.py: the
target sets; kit.py: the classifier). The pretrained encoder's six layers
share one picture; the colours say which weights each configuration trains.
Shown in docs/choosing-rank.md (and linked from the other Experiments pages).
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from snippets.experiments import data, plotting, run_all

NAME = "exp_setup"
GREY, HEAD = "0.85", "#f4a261"
# (module in the kit, label on the figure, first target set that adapts it)
MATRICES = (
    ("query", "$W_q$", "q, v"),
    ("key", "$W_k$", "q, k, v, o"),
    ("value", "$W_v$", "q, v"),
    ("attention.output.dense", "$W_o$", "q, k, v, o"),
    ("intermediate.dense", "FFN in\n384→1536", "all linear"),
    ("output.dense", "FFN out\n1536→384", "all linear"),
)
COLORS = {"q, v": "C0", "q, k, v, o": "C1", "all linear": "C2"}


def compute() -> list[dict]:
    """One row per adaptable matrix: which of the kit's target sets include it."""
    sets = {"q, v": run_all.QV, "q, k, v, o": run_all.QKVO,
            "all linear": run_all.ALL_LINEAR}  # fmt: skip
    return [
        {"module": module, "first_set": first,
         **{f"in_{k.replace(', ', '').replace(' ', '_')}": int(module in v)
            for k, v in sets.items()}}
        for module, _, first in MATRICES
    ]  # fmt: skip


def box(ax, x, y, w, h, text, color, size=12) -> None:
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02",
                           facecolor=color, edgecolor="k", linewidth=1)  # fmt: skip
    ax.add_patch(patch)
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)


def arrow(ax, y0, y1, x=5.0) -> None:
    ax.annotate("", (x, y1), (x, y0), arrowprops={"arrowstyle": "->", "lw": 1.5})


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    rows = compute()
    fig, ax = plt.subplots(figsize=(10, 7.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10.4)
    ax.axis("off")
    box(ax, 1.5, 9.5, 7, 0.7, '"the food was not bad, but the service was dull"',
        "white", 11)  # fmt: skip
    arrow(ax, 9.5, 9.1)
    box(ax, 2.5, 8.4, 5, 0.6, "token + position embeddings", GREY)
    arrow(ax, 8.4, 8.0)
    ax.add_patch(FancyBboxPatch((0.6, 3.6), 8.8, 4.3, boxstyle="round,pad=0.05",
                                facecolor="none", edgecolor="k",
                                linestyle="--"))  # fmt: skip
    ax.text(0.8, 7.6, "× 6 layers (MiniLM, $d_\\mathrm{model}$ = 384)", fontsize=12)
    ax.text(0.8, 6.9, "self-attention", fontsize=12, style="italic")
    ax.text(0.8, 4.7, "feed-forward", fontsize=12, style="italic")
    for i, (_, label, first) in enumerate(MATRICES[:4]):
        box(ax, 1.0 + 2.1 * i, 5.9, 1.7, 0.8, label, COLORS[first], 14)
    for i, (_, label, first) in enumerate(MATRICES[4:]):
        box(ax, 2.0 + 3.4 * i, 3.8, 2.6, 0.8, label, COLORS[first], 11)
    arrow(ax, 3.6, 3.2)
    box(ax, 2.5, 2.5, 5, 0.6, "mean pooling over real tokens → 384", GREY)
    arrow(ax, 2.5, 2.1)
    box(ax, 2.5, 1.4, 5, 0.6, "head: Linear(384 → 4), always trained", HEAD)
    arrow(ax, 1.4, 1.0)
    labels = ", ".join(f"{c}" for c in range(data.N_CLASSES))
    box(ax, 1.0, 0.1, 8, 0.8, f"class {labels} = (1st verdict, 2nd verdict):\n"
        "neg-neg, neg-pos, pos-neg, pos-pos", "white", 11)  # fmt: skip
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    legend = ["LoRA targets: q, v", "+ k, o (q, k, v, o)", "+ FFN (all linear)"]
    handles.append(plt.Rectangle((0, 0), 1, 1, color=GREY))
    legend.append("frozen except in full fine-tuning")
    ax.legend(handles, legend, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=2, fontsize=11, frameon=False)  # fmt: skip
    style.save_svg(fig, NAME, args.out)
    style.save_csv(rows, NAME, args.out)


if __name__ == "__main__":
    main()
