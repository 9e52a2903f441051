"""Forgetting: gain on the new task vs loss of the original capability, measured.

Reads docs/assets/data/experiments/runs.csv (snippets/experiments/run_all.py).
x: how well the fine-tuned encoder keeps the pretrained model's similarity
judgments on held-out generic sentences (Spearman correlation of all pairwise
cosine similarities; 1 = unchanged). y: test accuracy on the new task.
Shown in docs/forgetting.md.
"""

import csv

import matplotlib.pyplot as plt
import style

DATA = style.ROOT / "docs" / "assets" / "data" / "experiments" / "runs.csv"
RANKS = (1, 2, 4, 8, 16, 32, 64)

with DATA.open() as f:
    runs = {row["name"]: row for row in csv.DictReader(f)}
LR_SWEEP = ("qv_r8_lr0.0003", "qv_r8_lr0.001", "qv_r8", "qv_r8_lr0.01")
names = ["head_only"] + [f"qv_r{r}" for r in RANKS] + ["all_r8", "full"]
names += [n for n in LR_SWEEP if n != "qv_r8"]
out = [
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
markers = {
    "head_only": ("s", "grey", "frozen encoder (head only)"),
    "all_r8": ("^", "C2", "LoRA all linear, r = 8"),
    "full": ("D", "k", "full fine-tuning"),
}
for o in out:
    if o["name"] in markers:
        marker, color, label = markers[o["name"]]
        ax.plot(
            o["similarity_spearman"], o["accuracy"], marker, color=color, label=label
        )
ax.set_xlabel("agreement with the pretrained model (Spearman ρ, 1 = unchanged)")
ax.set_ylabel("new-task test accuracy")
ax.set_title("New task gained vs original similarity judgments kept")
ax.invert_xaxis()
ax.legend(fontsize=8)
style.save_svg(fig, "exp_forgetting")
style.save_csv(out, "exp_forgetting")
