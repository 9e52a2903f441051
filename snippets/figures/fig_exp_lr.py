"""Learning-rate sweeps on the validation split: full FT, head only, each LoRA setting.

Reads docs/assets/data/experiments/summary.csv (snippets/experiments/run_all.py).
Validation accuracy (100 sentences carved from the training data; the test
split is never used to choose) at every learning rate of each sweep: mean
over 3 seeds, bars min-max; a star marks the learning rate chosen. For the
frozen encoder (head only) the swept learning rate is the head's. Shown in
docs/choosing-rank.md and docs/hyperparameters.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.experiments import plotting

NAME = "exp_lr"
LORA = ("qv_r1", "qv_r8", "qv_r64", "qkvo_r4", "all_r2")  # those the grid ran


def compute() -> list[dict]:
    """One row per setting and learning rate (all training data)."""
    rows = plotting.summary()
    out = []
    for name in ("full", "head_only", *LORA):
        for r in plotting.lr_sweep(rows, name):
            out.append({
                "name": name, "lr": r["lr"], "chosen": r["chosen"],
                "val_accuracy_mean": r["val_accuracy_mean"],
                "val_accuracy_min": r["val_accuracy_min"],
                "val_accuracy_max": r["val_accuracy_max"],
            })  # fmt: skip
    return out


def sweep(ax: plt.Axes, rows: list[dict], color: str, label: str) -> None:
    """Mean with min-max bars, and a star on the chosen learning rate."""
    lr = [o["lr"] for o in rows]
    mean = [o["val_accuracy_mean"] for o in rows]
    err = plotting.minmax_err(rows, "val_accuracy")
    ax.errorbar(lr, mean, yerr=err, fmt="o-", color=color, capsize=3, label=label)
    best = [o for o in rows if o["chosen"]]
    ax.plot([o["lr"] for o in best], [o["val_accuracy_mean"] for o in best], "*",
            color=color, markersize=16, markeredgecolor="k")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    sweep(left, [o for o in out if o["name"] == "full"], "k", "full fine-tuning")
    head = [o for o in out if o["name"] == "head_only"]
    sweep(left, head, "0.5", "head only (the head's lr)")
    present = [n for n in LORA if any(o["name"] == n for o in out)]
    for i, name in enumerate(present):
        rows = [o for o in out if o["name"] == name]
        sweep(right, rows, f"C{i}", plotting.LABELS[name].removeprefix("LoRA "))
    left.set_ylabel("validation accuracy")
    left.set_title("Full fine-tuning; frozen encoder")
    left.legend(loc="lower left", fontsize=10)
    right.set_title("LoRA ($\\alpha = 8$)")
    right.legend(loc="lower left", fontsize=10)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylim(0, 1.05)
    fig.tight_layout()
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
