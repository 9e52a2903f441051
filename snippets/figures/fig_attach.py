"""Where each PEFT family attaches in a transformer block, drawn in one style.

Figures for docs/beyond-lora.md (the map: `attach_all.svg`, all methods side
by side) and one panel per method for docs/ia3.md, docs/prompt-tuning.md,
docs/prefix-tuning.md, docs/adapters.md and docs/bitfit.md
(`attach_<method>.svg`). Every panel is drawn by the same function, `block`,
on a pre-norm decoder layer (Llama's). Grey: frozen; orange: trained. Each CSV
lists what the method trains there, with the shape it has on LLaMA-7B read off
the `lora_ref` module built on the meta device.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, Rectangle
from torch import nn

from lora_ref import (
    BottleneckAdapter,
    IA3Linear,
    LoRALinear,
    PrefixTuning,
    PromptEncoder,
    SoftPrompt,
)

NAME = "attach"
FROZEN, TRAINED = "#d9d9d9", "#f4a259"
D, D_FF, N_LAYERS, N_VIRTUAL = 4096, 11008, 32, 20  # LLaMA-7B, 20 tokens

# method -> (panel title, parts drawn in orange)
METHODS = {
    "lora": ("LoRA (q, v)", {"lora_q", "lora_v"}),
    "ia3": ("IA³", {"ell_k", "ell_v", "ell_ff"}),
    "prompt": ("Prompt tuning", {"soft_prompt"}),
    "ptuning": ("P-tuning", {"soft_prompt", "encoder"}),
    "prefix": ("Prefix tuning / P-tuning v2", {"prefix_kv"}),
    "houlsby": ("Houlsby adapters", {"adapter_attn", "adapter_ffn"}),
    "pfeiffer": ("Pfeiffer adapter", {"adapter_ffn"}),
    "bitfit": ("BitFit (a model with biases)", {"biases"}),
}


def shape(t: torch.Tensor) -> str:
    return " x ".join(map(str, t.shape))


def compute() -> dict[str, list[dict]]:
    """For each method: what is trained, where, and its LLaMA-7B shape (one layer)."""
    with torch.device("meta"):
        q = LoRALinear(nn.Linear(D, D, bias=False), r=8)
        k = IA3Linear(nn.Linear(D, D, bias=False))
        down = IA3Linear(nn.Linear(D_FF, D, bias=False), feedforward=True)
        prompt = SoftPrompt(N_VIRTUAL, D)
        encoder = PromptEncoder(N_VIRTUAL, D)
        prefix = PrefixTuning(N_LAYERS, N_VIRTUAL, 32, 128)
        adapter = BottleneckAdapter(D, 64)
    enc = sum(p.numel() for p in encoder.mlp.parameters())
    per_layer_kv = f"{N_VIRTUAL} x 2 x {D} per layer"
    rows = {
        "lora": [("q_proj, v_proj", "A, B", f"{shape(q.A)}, {shape(q.B)}")],
        "ia3": [
            ("k_proj, v_proj outputs", "ell_k, ell_v", shape(k.ell)),
            ("down_proj input", "ell_ff", shape(down.ell)),
        ],
        "prompt": [("input embeddings", "soft_prompt", shape(prompt.soft_prompt))],
        "ptuning": [
            ("input embeddings", "embedding", shape(encoder.embedding)),
            ("prompt encoder", "MLP", f"{enc} numbers"),
        ],
        "prefix": [("keys and values of every layer", "prefix", per_layer_kv)],
        "houlsby": [
            (
                "after o_proj",
                "W_down, W_up",
                f"{shape(adapter.W_down)}, {shape(adapter.W_up)}",
            ),
            (
                "after down_proj",
                "W_down, W_up",
                f"{shape(adapter.W_down)}, {shape(adapter.W_up)}",
            ),
        ],
        "pfeiffer": [
            (
                "after down_proj",
                "W_down, W_up",
                f"{shape(adapter.W_down)}, {shape(adapter.W_up)}",
            ),
        ],
        "bitfit": [("every linear and norm layer", "biases", "none in LLaMA")],
    }
    assert prefix.prefix.shape == (N_VIRTUAL, N_LAYERS * 2 * D)
    return {
        m: [
            {"method": m, "where": w, "trained": t, "llama_7b_shape": s}
            for w, t, s in r
        ]
        for m, r in rows.items()
    }


def box(ax, x, y, w, text, on=False, h=0.7, bias=False):
    """A labelled block; `bias` adds a small orange "b" (BitFit) at its right."""
    ax.add_patch(
        Rectangle(
            (x - w / 2, y - h / 2),
            w,
            h,
            facecolor=TRAINED if on else FROZEN,
            edgecolor="black",
            linewidth=0.8,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=7)
    if bias:
        box(ax, x + w / 2 + 0.2, y, 0.35, "b", on=True, h=0.45)


def arrow(ax, start, end):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=7,
            color="black",
            linewidth=0.8,
            shrinkA=0,
            shrinkB=0,
        )
    )


def plus(ax, x, y):
    ax.add_patch(plt.Circle((x, y), 0.22, facecolor="white", edgecolor="black"))
    ax.text(x, y, "+", ha="center", va="center", fontsize=8)


def skip(ax, y0, y1):
    """The residual connection: from below the sub-layer to its + node."""
    ax.plot([3.5, 6.2, 6.2], [y0, y0, y1], color="black", linewidth=0.6)
    arrow(ax, (6.2, y1), (3.72, y1))


def block(ax: plt.Axes, method: str) -> None:
    """One pre-norm decoder layer, with `method`'s trained parts in orange."""
    title, parts = METHODS[method]
    on = parts.__contains__
    b = method == "bitfit"
    ax.set_xlim(-0.7, 6.6)
    ax.set_ylim(-0.2, 13.4)
    ax.axis("off")
    ax.grid(False)
    ax.set_title(title, fontsize=9)
    # input: real tokens, with virtual tokens in front for the prompt methods
    for i in range(3):
        box(ax, 3.0 + 0.55 * i, 0.3, 0.45, "x", h=0.45)
    if on("soft_prompt"):
        for i in range(2):
            box(ax, 1.6 + 0.55 * i, 0.3, 0.45, "E", on=True, h=0.45)
        arrow(ax, (1.9, 0.55), (2.7, 1.45))  # into the layer, like the x's
        if on("encoder"):
            box(ax, 0.6, 1.4, 1.1, "MLP", on=True)
            arrow(ax, (0.8, 1.05), (1.6, 0.55))
    arrow(ax, (3.5, 0.55), (3.5, 1.45))
    box(ax, 3.5, 1.8, 2.2, "norm", bias=b)
    # attention: q, k, v projections (LoRA beside q and v, IA³ on k and v)
    for x, name in ((2.1, "q"), (3.5, "k"), (4.9, "v")):
        arrow(ax, (3.5, 2.15), (x, 2.85))
        box(ax, x, 3.2, 0.9, f"$W_{name}$", bias=b)
        arrow(ax, (x, 3.55), (x, 4.7))
        if on(f"ell_{name}"):
            box(ax, x, 4.1, 0.6, rf"$\ell_{name}$", on=True, h=0.5)
    if on("lora_q"):
        box(ax, 1.1, 3.2, 0.6, "BA", on=True)  # a parallel path: + γBAx
        box(ax, 5.9, 3.2, 0.6, "BA", on=True)
        ax.plot([1.4, 1.65], [3.2, 3.2], color="black", linewidth=0.8)
        ax.plot([5.35, 5.6], [3.2, 3.2], color="black", linewidth=0.8)
    box(ax, 3.5, 5.1, 3.6, "softmax(q kᵀ) v", h=0.8)
    if on("prefix_kv"):
        box(ax, 0.15, 5.1, 1.5, "$K_{pre}, V_{pre}$", on=True)
        arrow(ax, (0.9, 5.1), (1.7, 5.1))
    arrow(ax, (3.5, 5.5), (3.5, 5.85))
    box(ax, 3.5, 6.2, 1.4, "$W_o$", bias=b)
    if on("adapter_attn"):
        box(ax, 3.5, 7.0, 1.6, "adapter", on=True, h=0.55)
    arrow(ax, (3.5, 6.55), (3.5, 7.58))
    plus(ax, 3.5, 7.8)
    skip(ax, 1.1, 7.8)
    # feed-forward, labelled with Llama's module names: W_down/W_up are an
    # adapter's on this site (docs/notation.md)
    arrow(ax, (3.5, 8.02), (3.5, 8.35))
    box(ax, 3.5, 8.7, 2.2, "norm", bias=b)
    arrow(ax, (3.5, 9.05), (3.5, 9.35))
    box(ax, 3.5, 9.7, 3.3, "gate_proj, up_proj", bias=b)
    arrow(ax, (3.5, 10.05), (3.5, 10.95))
    if on("ell_ff"):
        box(ax, 3.5, 10.5, 0.6, r"$\ell_{ff}$", on=True, h=0.5)
    box(ax, 3.5, 11.3, 2.1, "down_proj", bias=b)
    if on("adapter_ffn"):
        box(ax, 3.5, 12.1, 1.6, "adapter", on=True, h=0.55)
    arrow(ax, (3.5, 11.65), (3.5, 12.68))
    plus(ax, 3.5, 12.9)
    skip(ax, 8.2, 12.9)


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, axes = plt.subplots(2, 4, figsize=(12.0, 10.0))
    for ax, method in zip(axes.flat, METHODS, strict=True):
        block(ax, method)
    fig.suptitle(
        "Where each method trains (grey: frozen, orange: trained)", fontsize=10
    )
    style.save_csv([r for m in METHODS for r in rows[m]], f"{NAME}_all", args.out)
    style.save_svg(fig, f"{NAME}_all", args.out)
    for method in METHODS:
        if method == "lora":
            continue  # the LoRA chapters have their own diagram
        fig, ax = plt.subplots(figsize=(3.0, 5.0))
        block(ax, method)
        style.save_csv(rows[method], f"{NAME}_{method}", args.out)
        style.save_svg(fig, f"{NAME}_{method}", args.out)


if __name__ == "__main__":
    main()
