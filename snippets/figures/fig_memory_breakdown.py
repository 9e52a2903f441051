"""Training memory by kind for full fine-tuning, LoRA and QLoRA at 7B and 70B.

Stacked bars (weights / gradients / optimizer state / activations) from
lora_ref.budget.finetune_memory: AdamW, batch 1, 2,048 tokens, activation
checkpointing on, LoRA r = 16 on all linear layers. Used in docs/why-peft.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from lora_ref.budget import finetune_memory
from lora_ref.counts import SHAPES
from snippets import common

NAME = "memory_breakdown"
MODELS = ("LLaMA-7B", "Llama-2-70B")
SETUPS = (
    ("full", "fp32", "full\nfp32"),
    ("full", "mixed", "full\nmixed"),
    ("lora", "bf16", "LoRA\nbf16"),
    ("qlora", "nf4", "QLoRA\nNF4"),
    ("qlora", "nf4-dq", "QLoRA\nNF4+DQ"),
)
KINDS = ("weights", "gradients", "optimizer", "activations")


def rows() -> list[dict]:
    """Memory by kind (GB) for every model and setup."""
    out = []
    for model in MODELS:
        for method, precision, _ in SETUPS:
            m = finetune_memory(
                SHAPES[model],
                method,
                precision,
                batch=1,
                seq_len=2048,
                checkpointing=True,
                r=16,
                target_modules="all-linear",
            )
            gb = {f"{k}_gb": common.r6(getattr(m, k) / 1e9) for k in KINDS}
            out.append(
                {"model": model, "method": method, "precision": precision}
                | gb
                | {"total_gb": common.r6(m.total / 1e9)}
            )
    return out


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    data = rows()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, model in zip(axes, MODELS, strict=True):
        bars = [r for r in data if r["model"] == model]
        x = range(len(bars))
        bottom = [0.0] * len(bars)
        for kind in KINDS:
            height = [r[f"{kind}_gb"] for r in bars]
            ax.bar(x, height, bottom=bottom, label=kind, width=0.65)
            bottom = [b + h for b, h in zip(bottom, height, strict=True)]
        for i, total in enumerate(bottom):
            ax.annotate(
                f"{total:,.0f}", (i, total), ha="center", va="bottom", fontsize=8
            )
        ax.set_xticks(list(x), [label for _, _, label in SETUPS], fontsize=8)
        ax.set_ylabel("memory (GB = 10^9 bytes)")
        ax.set_title(model)
        ax.margins(y=0.12)
    axes[0].legend(fontsize=8)
    fig.suptitle("Training memory with AdamW (batch 1, 2,048 tokens, checkpointing)")
    style.save_svg(fig, NAME, args.out)
    style.save_csv(data, NAME, args.out)


if __name__ == "__main__":
    main()
