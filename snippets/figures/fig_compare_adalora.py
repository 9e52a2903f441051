"""Where AdaLoRA put its rank budget: final rank of each adapted matrix.

Reads docs/assets/data/compare/extras_adalora.csv (snippets/experiments/
compare.py, from methods.extras): at the learning rate chosen on
validation, the number of singular values left unmasked at the end of
training in W_q and W_v of each of MiniLM's 6 layers, mean over 3 seeds
with min-max bars. Every matrix starts at the initial rank; the allocator
prunes the total down to the target rank times the number of matrices.
Shown in the method-comparison chapter.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
import statistics
from collections import defaultdict

from snippets.common import r6
from snippets.experiments import compare_plotting as cp

NAME = "compare_adalora"


def compute() -> list[dict]:
    """Per adapted matrix: layer, projection, mean / min / max final rank."""
    ranks = defaultdict(list)
    for row in cp.read("extras_adalora"):
        if row["chosen"] == 1:
            ranks[row["module"]].append(row["final_rank"])
    out = []
    for module, values in ranks.items():
        parts = module.split(".")
        out.append({"module": module, "layer": int(parts[parts.index("layer") + 1]),
                    "projection": parts[-1], "seeds": len(values),
                    "rank_mean": r6(statistics.fmean(values)),
                    "rank_min": min(values), "rank_max": max(values)})  # fmt: skip
    return sorted(out, key=lambda row: (row["layer"], row["projection"]))


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    setting = next(s for s in cp.chosen() if s["name"] == "adalora")
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colors = {"query": "C0", "value": "C1"}
    for projection, color in colors.items():
        mine = [(i, r) for i, r in enumerate(rows) if r["projection"] == projection]
        x = [i for i, _ in mine]
        y = [r["rank_mean"] for _, r in mine]
        err = [[r["rank_mean"] - r["rank_min"] for _, r in mine],
               [r["rank_max"] - r["rank_mean"] for _, r in mine]]  # fmt: skip
        ax.bar(x, y, yerr=err, color=color, capsize=3,
               label=f"$W_{projection[0]}$")  # fmt: skip
    ax.axhline(setting["r"], color="k", linestyle="--", linewidth=1.2,
               label=f"target rank {setting['r']:g} (the average budget)")  # fmt: skip
    mean = statistics.fmean(r["rank_mean"] for r in rows)
    ax.axhline(mean, color="0.5", linestyle=":", linewidth=1.2,
               label=f"mean final rank {mean:.2f}")  # fmt: skip
    ax.set_xticks(range(len(rows)),
                  [f"{r['layer']}.{r['projection'][0]}" for r in rows])  # fmt: skip
    ax.set_xlabel("layer . projection (q = $W_q$, v = $W_v$)")
    ax.set_ylabel("final rank (unmasked singular values)")
    init = dict(o.split("=") for o in setting["options"].split())["init_r"]
    seeds = max(r["seeds"] for r in rows)
    ax.set_title(f"AdaLoRA: final rank per matrix (initial rank {init}, "
                 f"{seeds} seeds)")  # fmt: skip
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=10)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
