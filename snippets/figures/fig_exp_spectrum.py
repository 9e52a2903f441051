"""Singular values and energy of real fine-tuning updates vs random matrices.

Reads docs/assets/data/experiments/spectra.csv (written by
snippets/experiments/run_all.py): for every attention matrix of MiniLM, the
singular values of ΔW = W_after - W_before after full fine-tuning at its
validated learning rate (3 seeds: 72 matrices), and of a Gaussian matrix with
the same shape and Frobenius norm. Shown in docs/low-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
from collections import defaultdict

import matplotlib.pyplot as plt
from matplotlib.ticker import ScalarFormatter

from snippets import common
from snippets.experiments import plotting

NAME = "exp_spectrum"
SHOWN = ("0", "3", "value")  # seed, layer, module of the left panel's matrix
KINDS = ("finetune", "gaussian")
LABELS = {"finetune": "real ΔW (full fine-tuning)", "gaussian": "Gaussian, same norm"}
COLORS = {"finetune": "C0", "gaussian": "C3"}


def compute() -> list[dict]:
    """Per kind and r: energy mean, min and max over matrices and seeds, σ_r of
    SHOWN (spectra.csv keeps every r up to 16, then a sparser grid)."""
    energy = defaultdict(lambda: defaultdict(list))  # kind -> r -> energies
    sigma = defaultdict(dict)  # kind -> r -> σ_r of the shown matrix
    for row in common.read_csv(common.EXPERIMENTS / "spectra.csv"):
        energy[row["kind"]][int(row["r"])].append(float(row["energy"]))
        if (row["seed"], row["layer"], row["module"]) == SHOWN:
            sigma[row["kind"]][int(row["r"])] = float(row["sigma"])
    out = []
    for kind in KINDS:
        for r, values in sorted(energy[kind].items()):
            out.append(
                {
                    "kind": kind,
                    "r": r,
                    "energy_mean": common.r6(sum(values) / len(values)),
                    "energy_min": min(values),
                    "energy_max": max(values),
                    "sigma_layer3_value": sigma[kind][r],
                }
            )
    return out


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind in KINDS:
        mine = [row for row in out if row["kind"] == kind]
        r = [row["r"] for row in mine]
        left.plot(
            r,
            [row["sigma_layer3_value"] for row in mine],
            ".-",
            color=COLORS[kind],
            label=LABELS[kind],
        )
        right.plot(
            r,
            [row["energy_mean"] for row in mine],
            color=COLORS[kind],
            label=LABELS[kind],
        )
        right.fill_between(
            r,
            [row["energy_min"] for row in mine],
            [row["energy_max"] for row in mine],
            color=COLORS[kind],
            alpha=0.2,
            linewidth=0,
        )
    left.set_yscale("log")
    left.set_xscale("log", base=2)
    left.set_xlabel("index $i$ (log scale)")
    left.set_ylabel("singular value $\\sigma_i$")
    left.set_title("Layer 3, $W_v$, seed 0: spectrum")
    right.set_xscale("log", base=2)
    right.axvline(8, color="grey", linestyle=":", linewidth=1)
    right.set_xlabel("rank $r$ (log scale)")
    right.set_ylabel(r"fraction of $\|\Delta W\|_F^2$ in top r")
    right.set_title("72 matrices: mean, min–max band")
    right.set_ylim(0, 1.02)
    for ax in (left, right):
        ax.xaxis.set_major_formatter(ScalarFormatter())
    right.legend(loc="lower right")
    left.legend(loc="lower left")
    fig.tight_layout()
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
