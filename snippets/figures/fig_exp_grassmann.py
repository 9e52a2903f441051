"""Subspace similarity of LoRA updates learned at r = 8 and r = 64 (LoRA §7.2).

Reads docs/assets/data/experiments/grassmann.csv (snippets/experiments/run_all.py):
φ(i, j) between the top-i right-singular directions of A at r = 8 and the
top-j of A at r = 64, for W_q and W_v of each layer. The panels average the
six layers, as the LoRA paper's Figure 3 shows one layer. Shown in
docs/low-rank.md.
"""

import csv
from collections import defaultdict

import matplotlib.pyplot as plt
import style

DATA = style.ROOT / "docs" / "assets" / "data" / "experiments" / "grassmann.csv"

with DATA.open() as f:
    rows = list(csv.DictReader(f))
phi = defaultdict(list)  # (module, i, j) -> values over layers
for row in rows:
    phi[(row["module"], int(row["i"]), int(row["j"]))].append(float(row["phi"]))

out = [
    {"module": m, "i": i, "j": j, "phi_mean": float(f"{sum(v) / len(v):.6g}")}
    for (m, i, j), v in sorted(phi.items())
]

fig, axes = plt.subplots(1, 2, figsize=(9.6, 2.8), sharey=True)
for ax, module in zip(axes, ("query", "value"), strict=True):
    grid = [
        [o["phi_mean"] for o in out if o["module"] == module and o["i"] == i]
        for i in range(1, 9)
    ]
    image = ax.imshow(
        grid,
        aspect="auto",
        vmin=0,
        vmax=1,
        cmap="viridis",
        extent=(0.5, 64.5, 8.5, 0.5),
    )
    ax.grid(False)
    ax.set_title(f"W_{module[0]}: φ(A_r=8, A_r=64, i, j), mean of 6 layers")
    ax.set_xlabel("j (directions of r = 64)")
axes[0].set_ylabel("i (directions of r = 8)")
fig.colorbar(image, ax=axes, label="φ (0 = orthogonal, 1 = same)")
style.save_svg(fig, "exp_grassmann")
style.save_csv(out, "exp_grassmann")
