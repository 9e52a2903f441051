"""DyLoRA: one run, every rank; beside LoRA trained separately at r = 1 and 8.

Reads docs/assets/data/compare/extras_dylora.csv and summary.csv
(snippets/experiments/compare.py), and, if present, the experiment kit's
docs/assets/data/experiments/summary.csv (snippets/experiments/run_all.py:
the same task, splits, steps and seeds). DyLoRA trained once with r_max = 8
on W_q, W_v, then truncated to r = 1, 2, 4 and 8 (methods.extras) at its
learning rate chosen on validation; LoRA q, v at r = 8 from the same
comparison run, and at r = 1 and 8 from the experiment kit, each at its own
validated learning rate. Test accuracy, mean over 3 seeds, min-max bars.
Shown in the method-comparison chapter.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
import statistics
from collections import defaultdict

from snippets import common
from snippets.experiments import compare_plotting as cp

NAME = "compare_dylora"


def compute() -> list[dict]:
    """Rows: source, r, mean / min / max test accuracy over seeds."""
    by_r = defaultdict(list)
    for row in cp.read("extras_dylora"):
        if row["chosen"] == 1:
            by_r[int(row["r"])].append(row["accuracy"])
    out = [{"source": "DyLoRA, truncated", "r": r,
            "accuracy_mean": common.r6(statistics.fmean(v)), "accuracy_min": min(v),
            "accuracy_max": max(v)} for r, v in sorted(by_r.items())]  # fmt: skip
    keep = ("accuracy_mean", "accuracy_min", "accuracy_max")

    def entry(source: str, r: int, row: dict) -> dict:
        return {"source": source, "r": r} | {k: float(row[k]) for k in keep}

    lora = next(s for s in cp.chosen() if s["name"] == "lora_qv_r8")
    out.append(entry("LoRA, this comparison", 8, lora))
    kit = common.EXPERIMENTS / "summary.csv"
    if kit.exists():
        for row in common.read_csv(kit):
            for name, r in (("qv_r1", 1), ("qv_r8", 8)):
                if (
                    row["name"] == name
                    and row["chosen"] == "1"
                    and (row["n_examples"] == "0")
                ):
                    out.append(entry("LoRA, experiment kit", r, row))
    return out


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    looks = {"DyLoRA, truncated": ("o-", "C0", 0.0),
             "LoRA, this comparison": ("s", "C1", 0.06),
             "LoRA, experiment kit": ("D", "C2", -0.06)}  # fmt: skip
    for source, (fmt, color, shift) in looks.items():
        mine = [r for r in rows if r["source"] == source]
        if not mine:
            continue
        x = [r["r"] * 2**shift for r in mine]  # nudged apart on the log axis
        y = [r["accuracy_mean"] for r in mine]
        err = [[r["accuracy_mean"] - r["accuracy_min"] for r in mine],
               [r["accuracy_max"] - r["accuracy_mean"] for r in mine]]  # fmt: skip
        ax.errorbar(x, y, yerr=err, fmt=fmt, color=color, capsize=3,
                    markersize=7, label=source)  # fmt: skip
    ax.set_xscale("log", base=2)
    ranks = sorted({r["r"] for r in rows})
    ax.set_xticks(ranks, [str(r) for r in ranks])
    ax.set_xlabel("rank $r$ used at evaluation")
    ax.set_ylabel("test accuracy (4 classes)")
    ax.set_title("DyLoRA truncated vs LoRA trained at each rank")
    ax.legend(loc="lower right", fontsize=10)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
