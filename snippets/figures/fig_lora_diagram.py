"""Diagram of a LoRA layer: the frozen path W0 x and the path (alpha / r) B A x.

Figure for "LoRA from scratch" (docs/lora-from-scratch.md, "The idea"). Shapes
follow the paper (LoRA arXiv 2106.09685, section 4.1) in PyTorch layout: W0 is
(d, k), A is (r, k) and is applied to x first, B is (d, r). The CSV lists every
block with its shape and, for the example d = k = 4096, r = 8, its parameter
count, whether it is trained and how it starts, all read from a real
`lora_ref.LoRALinear`.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import math

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, Polygon, Rectangle
from torch import nn

from lora_ref import LoRALinear

NAME = "lora_diagram"
D, K, R = 4096, 4096, 8  # example sizes for the CSV
FROZEN, TRAINABLE = "#d9d9d9", "#f4a259"
KAIMING = "Kaiming-uniform, bound 1/sqrt(k)"


def describe_init(tensor: torch.Tensor, base: torch.Tensor) -> str:
    """Name how `tensor` starts, from its values; raise if no description fits.

    "pretrained": it is the base layer's weight itself. "zeros": all zero.
    Kaiming-uniform with a = sqrt(5) draws from U(-1/sqrt(k), 1/sqrt(k)): every
    value within the bound, the largest close to it, variance bound^2 / 3.
    """
    if tensor is base:
        return "pretrained"
    values = tensor.detach().double()
    if not values.any():
        return "zeros"
    bound = 1 / math.sqrt(values.shape[-1])
    biggest = float(values.abs().max())
    std = float(values.std())
    if 0.99 * bound < biggest <= bound and abs(std * math.sqrt(3) / bound - 1) < 0.02:
        return KAIMING
    raise ValueError(f"no known init fits values with max {biggest}, std {std}")


def example_layer() -> LoRALinear:
    """A real LoRALinear at d = k = 4096, r = 8, freshly initialised (seeded)."""
    torch.manual_seed(0)
    return LoRALinear(nn.Linear(K, D, bias=False), r=R)


def example_rows() -> list[dict]:
    """Each block with its shape, parameter count, trainability and init."""
    layer = example_layer()
    blocks = (
        ("W0", "d x k", layer.W0),
        ("A", "r x k", layer.A),
        ("B", "d x r", layer.B),
    )
    return [
        {
            "block": block,
            "shape": shape,
            "example_shape": "x".join(map(str, tensor.shape)),
            "trainable": tensor.requires_grad,
            "init": describe_init(tensor, layer.base.weight),
            "parameters": tensor.numel(),
        }
        for block, shape, tensor in blocks
    ]


def arrow(ax: plt.Axes, start: tuple, end: tuple) -> None:
    """A black arrow from `start` to `end`, in data coordinates."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            color="black",
            linewidth=1.2,
            shrinkA=0,
            shrinkB=0,
        )
    )


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = example_rows()
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    ax.set_xlim(0, 10.4)
    ax.set_ylim(-0.2, 4.4)
    ax.axis("off")
    # input and output
    ax.text(0.45, 2.0, "x\n(n, k)", ha="center", va="center", fontsize=11)
    ax.text(9.95, 2.0, "h\n(n, d)", ha="center", va="center", fontsize=11)
    # frozen path: W0 (d, k)
    ax.add_patch(Rectangle((3.2, 2.75), 2.6, 1.2, facecolor=FROZEN, edgecolor="black"))
    ax.text(4.5, 3.35, "W0  (d, k)\nfrozen, pretrained", ha="center", va="center")
    # low-rank path: A narrows k -> r, B widens r -> d
    ax.add_patch(
        Polygon(
            [(2.2, 0.0), (2.2, 1.6), (3.6, 1.05), (3.6, 0.55)],
            facecolor=TRAINABLE,
            edgecolor="black",
        )
    )
    ax.text(2.85, 0.8, "A\n(r, k)", ha="center", va="center")
    ax.add_patch(
        Polygon(
            [(4.8, 0.55), (4.8, 1.05), (6.2, 1.6), (6.2, 0.0)],
            facecolor=TRAINABLE,
            edgecolor="black",
        )
    )
    ax.text(5.6, 0.8, "B\n(d, r)\nstarts at 0", ha="center", va="center", fontsize=9)
    ax.text(4.2, 0.8, "(n, r)", ha="center", va="center", fontsize=9)
    ax.text(7.15, 0.8, "× α/r", ha="center", va="center", fontsize=11)
    # the sum node
    ax.add_patch(plt.Circle((8.6, 2.0), 0.28, facecolor="white", edgecolor="black"))
    ax.text(8.6, 2.0, "+", ha="center", va="center", fontsize=14)
    # wires
    ax.plot([0.95, 1.6, 1.6], [2.0, 2.0, 3.35], color="black", linewidth=1.2)
    ax.plot([1.6, 1.6], [2.0, 0.8], color="black", linewidth=1.2)
    arrow(ax, (1.6, 3.35), (3.2, 3.35))
    arrow(ax, (1.6, 0.8), (2.2, 0.8))
    arrow(ax, (3.6, 0.8), (3.85, 0.8))
    arrow(ax, (4.55, 0.8), (4.8, 0.8))
    arrow(ax, (6.2, 0.8), (6.75, 0.8))
    ax.plot([7.55, 8.6], [0.8, 0.8], color="black", linewidth=1.2)
    arrow(ax, (8.6, 0.8), (8.6, 1.72))
    ax.plot([5.8, 8.6], [3.35, 3.35], color="black", linewidth=1.2)
    arrow(ax, (8.6, 3.35), (8.6, 2.28))
    arrow(ax, (8.88, 2.0), (9.5, 2.0))
    ax.text(7.7, 3.45, "(n, d)", ha="center", va="bottom", fontsize=9)
    ax.text(8.05, 0.9, "(n, d)", ha="center", va="bottom", fontsize=9)
    ax.set_title(
        "LoRA layer: h = W0 x + (α/r) B A x   (grey: frozen, orange: trained)",
        fontsize=10,
    )
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
