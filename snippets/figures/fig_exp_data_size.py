"""How much data is enough: accuracy vs training-set size, LoRA and full fine-tuning.

Reads docs/assets/data/experiments/summary.csv (snippets/experiments/run_all.py):
full fine-tuning and LoRA on W_q, W_v at r = 8, each at the learning rate
its sweep chose on all training data, trained for the same number of steps
on subsets of the 500 training sentences (run_all.FULL["sizes"]; a fresh
random subset per seed) and on all of them. Mean over 3 seeds, band
min-max. Shown in docs/choosing-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from snippets import common
from snippets.experiments import plotting

NAME = "exp_data_size"
SERIES = {"full": ("k", "s--"), "qv_r8": ("C0", "o-")}


def compute() -> list[dict]:
    """One row per method and training-set size (0 in the CSV = all)."""
    n_all = len(common.read_csv(common.EXPERIMENTS / "data_train.csv"))
    out = []
    for r in plotting.summary():
        if r["name"] in SERIES and r["chosen"]:
            out.append({
                "name": r["name"], "lr": r["lr"],
                "n_examples": r["n_examples"] or n_all,
                "accuracy_mean": r["accuracy_mean"],
                "accuracy_min": r["accuracy_min"],
                "accuracy_max": r["accuracy_max"],
                "similarity_spearman_mean": r["similarity_spearman_mean"],
            })  # fmt: skip
    return sorted(out, key=lambda o: (o["name"], o["n_examples"]))


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    head = plotting.chosen(plotting.summary())["head_only"]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for name, (color, fmt) in SERIES.items():
        rows = [o for o in out if o["name"] == name]
        n = [o["n_examples"] for o in rows]
        label = plotting.LABELS[name] + (f" (lr {rows[0]['lr']:g})" if rows else "")
        ax.plot(n, [o["accuracy_mean"] for o in rows], fmt, color=color, label=label)
        ax.fill_between(n, [o["accuracy_min"] for o in rows],
                        [o["accuracy_max"] for o in rows], color=color,
                        alpha=0.15, linewidth=0)  # fmt: skip
    ax.axhline(head["accuracy_mean"], color="grey", linestyle=":",
               label="frozen encoder, all data")  # fmt: skip
    ax.set_xscale("log")
    sizes = sorted({o["n_examples"] for o in out})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training sentences (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("Accuracy vs training data (same steps)")
    ax.legend(loc="lower right")
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
