"""Subspace similarity of LoRA updates learned at r = 8 and r = 64 (LoRA §7.2).

Reads docs/assets/data/experiments/grassmann.csv (snippets/experiments/run_all.py):
φ(i, j) between the top-i right-singular directions of A at r = 8 and the
top-j of A at r = 64, for W_q and W_v of each layer, each LoRA at its
validated learning rate. The panels average the six layers and 3 seeds
(the LoRA paper's Figure 3 shows one layer). Shown in docs/low-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
from collections import defaultdict

import matplotlib.pyplot as plt

from snippets import common
from snippets.experiments import plotting

NAME = "exp_grassmann"


def compute() -> list[dict]:
    """φ(i, j) for W_q and W_v, averaged over the six layers and the seeds."""
    phi = defaultdict(list)  # (module, i, j) -> values over layers and seeds
    for row in common.read_csv(common.EXPERIMENTS / "grassmann.csv"):
        phi[(row["module"], int(row["i"]), int(row["j"]))].append(float(row["phi"]))
    return [
        {"module": m, "i": i, "j": j, "phi_mean": common.r6(sum(v) / len(v))}
        for (m, i, j), v in sorted(phi.items())
    ]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
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
        ax.set_title(f"$W_{module[0]}$")
        ax.set_xlabel("$j$ (directions of $r = 64$)")
    axes[0].set_ylabel("$i$ (of $r = 8$)")
    fig.suptitle(
        r"$\phi(A_{r=8}, A_{r=64}, i, j)$, mean of 6 layers and 3 seeds", y=1.02
    )
    fig.colorbar(image, ax=axes, label="φ (0 = orthogonal, 1 = same)")
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
