"""Relative error of the best rank-r approximation (Eckart-Young), real vs random.

Reads docs/assets/data/experiments/spectra.csv (snippets/experiments/run_all.py).
The error of the truncated SVD (lora_ref.spectra.eckart_young_error): the best
any rank-r matrix, a LoRA update included, can do. 72 matrices: the 24
attention matrices of full fine-tuning at its validated learning rate, 3
seeds. Shown in docs/low-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
from collections import defaultdict

import matplotlib.pyplot as plt
from matplotlib.ticker import ScalarFormatter

from snippets import common
from snippets.experiments import plotting

NAME = "exp_eckart_young"
RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384)
SERIES = (  # (CSV column, line format, color, legend label), drawn in this order
    ("error_finetune_mean", "o-", "C0", "real ΔW, mean of 72 matrices"),
    ("error_finetune_max", "--", "C0", "real ΔW, worst matrix"),
    ("error_gaussian_mean", "s-", "C3", "Gaussian, same shape and norm"),
)


def compute() -> list[dict]:
    """Mean and worst error over the 72 matrices, and the Gaussian mean, per r."""
    errors = defaultdict(lambda: defaultdict(list))  # kind -> r -> errors
    for row in common.read_csv(common.EXPERIMENTS / "spectra.csv"):
        if int(row["r"]) in RANKS:
            errors[row["kind"]][int(row["r"])].append(float(row["error"]))
    out = []
    for r in RANKS:
        real, random = errors["finetune"][r], errors["gaussian"][r]
        out.append(
            {
                "r": r,
                "error_finetune_mean": common.r6(sum(real) / len(real)),
                "error_finetune_max": max(real),
                "error_gaussian_mean": common.r6(sum(random) / len(random)),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for column, fmt, color, label in SERIES:
        ax.plot(RANKS, [o[column] for o in out], fmt, color=color, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("rank $r$ of the approximation (log scale)")
    ax.set_ylabel(r"$\|\Delta W - \Delta W_r\|_F \;/\; \|\Delta W\|_F$")
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_title("Best rank-$r$ approximation error (Eckart–Young)")
    ax.legend()
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
