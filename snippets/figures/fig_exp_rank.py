"""Rank ablation on MiniLM: best-of-sweep accuracy and measured memory vs r.

Reads docs/assets/data/experiments/summary.csv (snippets/experiments/run_all.py):
LoRA on W_q and W_v with alpha = 8, each rank at the learning rate its own
sweep chose on the validation split, beside full fine-tuning (also at its
validated learning rate) and a frozen encoder (head only). Points are the mean
over 3 seeds, bars and bands their min-max. Shown in docs/choosing-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.experiments import plotting

NAME = "exp_rank"
KEYS = ("r", "trainable", "lr", "accuracy_mean", "accuracy_min", "accuracy_max",
        "peak_mib_mean", "step_time_ms_mean")  # fmt: skip


def compute() -> list[dict]:
    """One row per setting at its chosen lr: LoRA q, v per rank, full, head only."""
    best = plotting.chosen(plotting.summary())
    names = sorted((n for n in best if n.startswith("qv_r") and n[4:].isdigit()),
                   key=lambda n: best[n]["r"])  # fmt: skip
    return [{"name": n} | {k: best[n][k] for k in KEYS}
            for n in [*names, "full", "head_only"]]  # fmt: skip


def band(ax: plt.Axes, row: dict, color: str, style_: str, label: str) -> None:
    """A horizontal line at the mean and a band over min-max."""
    ax.axhline(row["accuracy_mean"], color=color, linestyle=style_, label=label)
    ax.axhspan(row["accuracy_min"], row["accuracy_max"], color=color, alpha=0.15)


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    lora = [o for o in out if o["name"].startswith("qv_")]
    full, head = out[-2], out[-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    r = [o["r"] for o in lora]
    mean = [o["accuracy_mean"] for o in lora]
    err = plotting.minmax_err(lora, "accuracy")
    left.errorbar(r, mean, yerr=err, fmt="o-", capsize=4, label="LoRA on $W_q, W_v$")
    band(left, full, "k", "--", "full fine-tuning")
    band(left, head, "grey", ":", "frozen encoder")
    left.set_ylabel("test accuracy")
    left.set_title("Accuracy, each at its validated lr")
    left.legend(loc="center right")
    right.plot(r, [o["peak_mib_mean"] for o in lora], "o-", label="LoRA on $W_q, W_v$")
    right.axhline(full["peak_mib_mean"], color="k", linestyle="--",
                  label="full fine-tuning")  # fmt: skip
    right.axhline(head["peak_mib_mean"], color="grey", linestyle=":",
                  label="frozen encoder")  # fmt: skip
    right.set_ylim(bottom=0)
    right.set_ylabel("peak memory of a step (MiB)")
    right.set_title("Measured peak memory (fp32, batch 16)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(r, [str(x) for x in r])
        ax.set_xlabel("rank $r$ (log scale)")
    fig.tight_layout()
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
