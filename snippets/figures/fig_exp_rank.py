"""Rank ablation on MiniLM: accuracy and step time vs r, full fine-tuning as reference.

Reads docs/assets/data/experiments/runs.csv (snippets/experiments/run_all.py):
LoRA on W_q and W_v with alpha = 8 at r = 1 ... 64, beside full fine-tuning
and a frozen encoder (head only). Shown in docs/choosing-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets import common

NAME = "exp_rank"
RANKS = (1, 2, 4, 8, 16, 32, 64)


def compute() -> list[dict]:
    """One row per run: LoRA q, v at every rank, full fine-tuning, head only."""
    runs = {
        row["name"]: row for row in common.read_csv(common.EXPERIMENTS / "runs.csv")
    }
    out = []
    for name in [f"qv_r{r}" for r in RANKS] + ["full", "head_only"]:
        row = runs[name]
        out.append(
            {
                "name": name,
                "r": int(row["r"]),
                "trainable": int(row["trainable"]),
                "accuracy": float(row["accuracy"]),
                "step_time_ms": float(row["step_time_ms"]),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    out = compute()
    lora = [o for o in out if o["name"].startswith("qv_")]
    full = next(o for o in out if o["name"] == "full")
    head = next(o for o in out if o["name"] == "head_only")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    left.plot(
        [o["r"] for o in lora],
        [o["accuracy"] for o in lora],
        "o-",
        label="LoRA on W_q, W_v (α = 8)",
    )
    left.axhline(full["accuracy"], color="k", linestyle="--", label="full fine-tuning")
    left.axhline(head["accuracy"], color="grey", linestyle=":", label="frozen encoder")
    left.set_ylabel("test accuracy")
    left.set_title("Task metric vs rank")
    right.plot([o["r"] for o in lora], [o["step_time_ms"] for o in lora], "o-")
    right.axhline(full["step_time_ms"], color="k", linestyle="--")
    right.axhline(head["step_time_ms"], color="grey", linestyle=":")
    right.set_ylabel("median step time (ms)")
    right.set_ylim(bottom=0)
    right.set_title("Step time vs rank (1 CPU thread, batch 16)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("rank r (log scale)")
    left.legend(fontsize=8, loc="lower right")
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
