"""Which matrices to adapt, at an equal budget of trainable parameters, on MiniLM.

Reads docs/assets/data/experiments/summary.csv (snippets/experiments/run_all.py):
q, v at r = 8, q, k, v, o at r = 4 and all linear layers at r = 2 (73,728,
73,728 and 82,944 trainable parameters, as in LoRA Table 5), each at the
learning rate its own sweep chose on the validation split. Bars: mean over 3
seeds; whiskers: min-max. Shown in docs/choosing-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.experiments import plotting

NAME = "exp_targets"
NAMES = ("qv_r8", "qkvo_r4", "all_r2")
TICKS = ("q, v\nr = 8", "q, k, v, o\nr = 4", "all linear\nr = 2")
KEYS = ("r", "trainable", "lr", "accuracy_mean", "accuracy_min", "accuracy_max",
        "similarity_spearman_mean", "similarity_spearman_min",
        "similarity_spearman_max")  # fmt: skip


def compute() -> list[dict]:
    """One row per target set at its chosen lr, then full fine-tuning."""
    best = plotting.chosen(plotting.summary())
    return [{"name": n} | {k: best[n][k] for k in KEYS} for n in (*NAMES, "full")]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    full = out[-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, title in (
        (axes[0], "accuracy", "New task: test accuracy"),
        (axes[1], "similarity_spearman", "Kept: Spearman corr. on generic text"),
    ):
        mean = [o[f"{metric}_mean"] for o in out[:-1]]
        err = plotting.minmax_err(out[:-1], metric)
        ax.bar(range(3), mean, 0.6, yerr=err, capsize=5, color=["C0", "C1", "C2"])
        ax.axhline(full[f"{metric}_mean"], color="k", linestyle="--",
                   label="full fine-tuning")  # fmt: skip
        ax.set_xticks(range(3), TICKS)
        ax.set_ylim(0, 1.1)
        ax.set_title(title)
    axes[0].set_ylabel("mean over 3 seeds (bars: min–max)")
    axes[0].legend(loc="lower right")
    fig.tight_layout()
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
