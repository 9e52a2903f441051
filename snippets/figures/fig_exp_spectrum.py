"""Singular values and energy of real fine-tuning updates vs random matrices.

Reads docs/assets/data/experiments/spectra.csv (written by
snippets/experiments/run_all.py): for every attention matrix of MiniLM, the
singular values of ΔW = W_after - W_before after full fine-tuning, and of a
Gaussian matrix with the same shape and Frobenius norm. Shown in
docs/low-rank.md.
"""

import csv
from collections import defaultdict

import matplotlib.pyplot as plt
import style

DATA = style.ROOT / "docs" / "assets" / "data" / "experiments" / "spectra.csv"
SHOWN = ("3", "value")  # the matrix whose singular values the left panel shows

with DATA.open() as f:
    rows = list(csv.DictReader(f))

energy = defaultdict(lambda: defaultdict(list))  # kind -> r -> energies
sigma = defaultdict(list)  # kind -> singular values of the shown matrix
for row in rows:
    energy[row["kind"]][int(row["r"])].append(float(row["energy"]))
    if (row["layer"], row["module"]) == SHOWN:
        sigma[row["kind"]].append(float(row["sigma"]))

out = []
for kind in ("finetune", "gaussian"):
    for r, values in sorted(energy[kind].items()):
        mean = float(f"{sum(values) / len(values):.6g}")
        out.append(
            {
                "kind": kind,
                "r": r,
                "energy_mean": mean,
                "energy_min": min(values),
                "energy_max": max(values),
                "sigma_layer3_value": sigma[kind][r - 1],
            }
        )

labels = {"finetune": "real ΔW (full fine-tuning)", "gaussian": "Gaussian, same norm"}
colors = {"finetune": "C0", "gaussian": "C3"}
fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
for kind in ("finetune", "gaussian"):
    mine = [row for row in out if row["kind"] == kind]
    r = [row["r"] for row in mine]
    left.plot(
        r,
        [row["sigma_layer3_value"] for row in mine],
        color=colors[kind],
        label=labels[kind],
    )
    right.plot(
        r, [row["energy_mean"] for row in mine], color=colors[kind], label=labels[kind]
    )
    right.fill_between(
        r,
        [row["energy_min"] for row in mine],
        [row["energy_max"] for row in mine],
        color=colors[kind],
        alpha=0.2,
        linewidth=0,
    )
left.set_yscale("log")
left.set_xlabel("index i of the singular value")
left.set_ylabel("singular value σᵢ")
left.set_title("Layer 3, value: spectrum of ΔW")
right.set_xscale("log", base=2)
right.axvline(8, color="grey", linestyle=":", linewidth=1)
right.set_xlabel("rank r (log scale)")
right.set_ylabel(r"fraction of $\|\Delta W\|_F^2$ in top r")
right.set_title("All 24 attention matrices (mean, min-max band)")
right.set_ylim(0, 1.02)
right.legend(loc="lower right", fontsize=8)
left.legend(fontsize=8)
style.save_svg(fig, "exp_spectrum")
style.save_csv(out, "exp_spectrum")
