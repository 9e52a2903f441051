"""Forgetting: gain on the new task vs loss of the original capability, measured.

Reads docs/assets/data/experiments/runs.csv (snippets/experiments/run_all.py).
x: how well the fine-tuned encoder keeps the pretrained model's similarity
judgments on held-out generic sentences (Spearman correlation of all pairwise
cosine similarities; 1 = unchanged). y: test accuracy on the new task.
Shown in docs/forgetting.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets import common

NAME = "exp_forgetting"
RANKS = (1, 2, 4, 8, 16, 32, 64)
LR_SWEEP = ("qv_r8_lr0.0003", "qv_r8_lr0.001", "qv_r8", "qv_r8_lr0.01")
MARKERS = {
    "head_only": ("s", "grey", "frozen encoder (head only)"),
    "all_r8": ("^", "C2", "LoRA all linear, r = 8"),
    "full": ("D", "k", "full fine-tuning"),
}


def compute() -> list[dict]:
    """One row per plotted run: its size, accuracy and agreement with the original."""
    runs = {
        row["name"]: row for row in common.read_csv(common.EXPERIMENTS / "runs.csv")
    }
    names = ["head_only"] + [f"qv_r{r}" for r in RANKS] + ["all_r8", "full"]
    names += [n for n in LR_SWEEP if n != "qv_r8"]
    return [
        {
            "name": n,
            "r": int(runs[n]["r"]),
            "trainable": int(runs[n]["trainable"]),
            "accuracy": float(runs[n]["accuracy"]),
            "similarity_spearman": float(runs[n]["similarity_spearman"]),
            "embedding_cosine": float(runs[n]["embedding_cosine"]),
        }
        for n in names
    ]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    out = compute()
    fig, ax = plt.subplots()
    lora = [o for o in out if o["name"] in [f"qv_r{r}" for r in RANKS]]
    ax.plot(
        [o["similarity_spearman"] for o in lora],
        [o["accuracy"] for o in lora],
        "o-",
        color="C0",
        label="LoRA q, v, r = 1 … 64 (lr 3e-3)",
    )
    for o in lora:
        ax.annotate(
            f"r={o['r']}",
            (o["similarity_spearman"], o["accuracy"]),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=7,
        )
    by_name = {o["name"]: o for o in out}
    sweep = [by_name[n] for n in LR_SWEEP]
    ax.plot(
        [o["similarity_spearman"] for o in sweep],
        [o["accuracy"] for o in sweep],
        "v--",
        color="C1",
        label="LoRA q, v, r = 8, lr 3e-4 … 1e-2",
    )
    for n in LR_SWEEP:
        lr = "3e-3" if n == "qv_r8" else n.removeprefix("qv_r8_lr")
        o = by_name[n]
        ax.annotate(
            f"lr {lr}",
            (o["similarity_spearman"], o["accuracy"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
            color="C1",
        )
    for o in out:
        if o["name"] in MARKERS:
            marker, color, label = MARKERS[o["name"]]
            ax.plot(
                o["similarity_spearman"],
                o["accuracy"],
                marker,
                color=color,
                label=label,
            )
    ax.set_xlabel("agreement with the pretrained model (Spearman ρ, 1 = unchanged)")
    ax.set_ylabel("new-task test accuracy")
    ax.set_title("New task gained vs original similarity judgments kept")
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
