"""Which matrices to adapt: q+v vs q+k+v+o vs all linear layers, measured on MiniLM.

Reads docs/assets/data/experiments/runs.csv (snippets/experiments/run_all.py):
at equal rank r = 8, and at a roughly equal budget of trainable parameters
(q+v at r = 8, q+k+v+o at r = 4, all linear at r = 2). Shown in
docs/choosing-rank.md.
"""

import csv

import matplotlib.pyplot as plt
import style

DATA = style.ROOT / "docs" / "assets" / "data" / "experiments" / "runs.csv"
GROUPS = {
    "equal rank (r = 8)": ("qv_r8", "qkvo_r8", "all_r8"),
    "equal budget": ("qv_r8", "qkvo_r4", "all_r2"),
}
LABELS = ("q, v", "q, k, v, o", "all linear")

with DATA.open() as f:
    runs = {row["name"]: row for row in csv.DictReader(f)}
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

fig, ax = plt.subplots()
width = 0.27
for g in range(len(GROUPS)):
    for t, label in enumerate(LABELS):
        o = out[3 * g + t]
        x = g + (t - 1) * width
        ax.bar(x, o["accuracy"], width, color=f"C{t}", label=label if g == 0 else None)
        ax.text(
            x,
            o["accuracy"] + 0.005,
            f"r={o['r']}\n{o['trainable'] / 1000:.0f}k",
            ha="center",
            va="bottom",
            fontsize=7,
        )
ax.axhline(
    float(runs["full"]["accuracy"]), color="k", linestyle="--", label="full fine-tuning"
)
ax.set_xticks(range(len(GROUPS)), list(GROUPS))
lowest = min(o["accuracy"] for o in out)
ax.set_ylim(max(0.0, lowest - 0.1), 1.2)  # room for the legend above the bars
ax.set_ylabel("test accuracy")
ax.set_title("Target modules (labels: rank, trainable parameters)")
ax.legend(fontsize=8, loc="upper right", ncol=2)
style.save_svg(fig, "exp_targets")
style.save_csv(out, "exp_targets")
