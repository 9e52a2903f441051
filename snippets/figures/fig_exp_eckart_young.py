"""Relative error of the best rank-r approximation (Eckart-Young), real vs random.

Reads docs/assets/data/experiments/spectra.csv (snippets/experiments/run_all.py).
The error of the truncated SVD is sqrt(1 - energy captured): the best any
rank-r matrix, a LoRA update included, can do. Shown in docs/low-rank.md.
"""

import csv
from collections import defaultdict

import matplotlib.pyplot as plt
import style

DATA = style.ROOT / "docs" / "assets" / "data" / "experiments" / "spectra.csv"
RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384)

with DATA.open() as f:
    rows = list(csv.DictReader(f))
errors = defaultdict(lambda: defaultdict(list))  # kind -> r -> errors
for row in rows:
    if int(row["r"]) in RANKS:
        errors[row["kind"]][int(row["r"])].append(float(row["error"]))

out = []
for r in RANKS:
    real, random = errors["finetune"][r], errors["gaussian"][r]
    out.append(
        {
            "r": r,
            "error_finetune_mean": float(f"{sum(real) / len(real):.6g}"),
            "error_finetune_max": max(real),
            "error_gaussian_mean": float(f"{sum(random) / len(random):.6g}"),
        }
    )

fig, ax = plt.subplots()
ax.plot(
    RANKS,
    [o["error_finetune_mean"] for o in out],
    "o-",
    color="C0",
    label="real ΔW, mean of 24 matrices",
)
ax.plot(
    RANKS,
    [o["error_finetune_max"] for o in out],
    "--",
    color="C0",
    label="real ΔW, worst matrix",
)
ax.plot(
    RANKS,
    [o["error_gaussian_mean"] for o in out],
    "s-",
    color="C3",
    label="Gaussian, same shape and norm",
)
ax.set_xscale("log", base=2)
ax.set_xlabel("rank r of the approximation (log scale)")
ax.set_ylabel("‖ΔW − ΔW_r‖_F / ‖ΔW‖_F")
ax.set_ylim(0, 1.02)
ax.set_title("Best rank-r approximation error (Eckart–Young)")
ax.legend(fontsize=8)
style.save_svg(fig, "exp_eckart_young")
style.save_csv(out, "exp_eckart_young")
