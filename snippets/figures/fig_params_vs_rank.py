"""Trainable parameters of one LoRA layer vs the rank r, on a log scale.

Figure for "LoRA from scratch" (docs/lora-from-scratch.md, "Parameter count").
Counts come from real `lora_ref.LoRALinear` layers built on the meta device
(no memory is allocated), so they are r (d + k) by construction, not by typing.
Shapes: a square 4096 x 4096 projection and a grouped-query v_proj 4096 -> 1024
(LLaMA-3-8B-like sizes).
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
from torch import nn

from lora_ref import LoRALinear, parameter_counts

NAME = "params_vs_rank"
RANKS = [1, 2, 4, 8, 16, 32, 64]
LAYERS = {  # label: (k, d) = (in_features, out_features)
    "square 4096 x 4096": (4096, 4096),
    "GQA v_proj 4096 -> 1024": (4096, 1024),
}


def lora_counts(k: int, d: int) -> list[dict]:
    """One row per rank: trainable (A and B) and frozen (W0) numbers."""
    base = nn.Linear(k, d, bias=False, device="meta")
    rows = []
    for r in RANKS:
        trainable, total = parameter_counts(LoRALinear(base, r=r))
        rows.append(
            {"r": r, "k": k, "d": d, "lora": trainable, "full": total - trainable}
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = []
    fig, ax = plt.subplots()
    for (label, (k, d)), color in zip(LAYERS.items(), ("C0", "C1"), strict=True):
        data = lora_counts(k, d)
        rows += [{"layer": label} | row for row in data]
        ranks = [row["r"] for row in data]
        ax.plot(
            ranks,
            [row["lora"] for row in data],
            "o-",
            color=color,
            label=f"LoRA r(d+k), {label}",
        )
        ax.axhline(
            data[0]["full"],
            color=color,
            linestyle="--",
            label=f"full fine-tuning dk, {label}",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(RANKS, [str(r) for r in RANKS])
    ax.set_xlabel("rank r")
    ax.set_ylabel("trainable parameters (count, log scale)")
    ax.set_title("Trainable parameters of one layer: LoRA vs full fine-tuning")
    ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
