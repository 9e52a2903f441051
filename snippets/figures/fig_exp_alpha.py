"""alpha and the learning rate at r = 64: three scaling rules, one product lr·γ.

Reads docs/assets/data/experiments/summary.csv (snippets/experiments/run_all.py).
LoRA on W_q, W_v at r = 64 with alpha = 8 (scaling γ = alpha / r = 1/8, its
lr swept), alpha = 2r (γ = 2) and rsLoRA (γ = alpha / sqrt(r) = 1), the last
two run at the learning rate that keeps lr·γ equal to the first one's
validated choice. Left: test accuracy against the raw learning rate; right:
against lr·γ. Mean over 3 seeds, bars min-max. Shown in docs/choosing-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from lora_ref import lora_scaling
from snippets.experiments import plotting

NAME = "exp_alpha"
RULES = {  # name -> (label, alpha, rsLoRA)
    "qv_r64": ("$\\alpha = 8$, $\\gamma = \\alpha/r$", 8, False),
    "qv_r64_a2r": ("$\\alpha = 2r$, $\\gamma = 2$", 128, False),
    "qv_r64_rs": ("rsLoRA, $\\gamma = \\alpha/\\sqrt{r}$", 8, True),
}


def compute() -> list[dict]:
    """One row per rule and learning rate, with γ from lora_ref."""
    rows = plotting.summary()
    out = []
    for name, (_, alpha, rs) in RULES.items():
        gamma = lora_scaling(64, alpha, rs)
        for r in plotting.lr_sweep(rows, name):
            out.append({
                "name": name, "alpha": alpha, "rslora": int(rs), "gamma": gamma,
                "lr": r["lr"], "lr_times_gamma": r["lr"] * gamma,
                "accuracy_mean": r["accuracy_mean"],
                "accuracy_min": r["accuracy_min"],
                "accuracy_max": r["accuracy_max"],
            })  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    plotting.enlarge()
    out = compute()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for i, (name, (label, _, _)) in enumerate(RULES.items()):
        rows = [o for o in out if o["name"] == name]
        mean = [o["accuracy_mean"] for o in rows]
        err = plotting.minmax_err(rows, "accuracy")
        for ax, x in zip(axes, ("lr", "lr_times_gamma"), strict=True):
            ax.errorbar([o[x] for o in rows], mean, yerr=err, fmt="os^"[i] + "-",
                        color=f"C{i}", capsize=4, markersize=9,
                        label=label)  # fmt: skip
    axes[0].set_xlabel("learning rate (log scale)")
    axes[1].set_xlabel("learning rate × $\\gamma$ (log scale)")
    axes[0].set_ylabel("test accuracy")
    axes[0].set_title("Against the learning rate")
    axes[1].set_title("Against lr × scaling")
    axes[1].legend(loc="lower left")
    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # no crowded minor labels
    fig.tight_layout()
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
