"""Magnitude vs direction changes during training: full fine-tuning, LoRA, DoRA.

Figure for docs/dora.md ("Why split magnitude and direction"). A miniature of
the DoRA paper's weight-decomposition analysis (Liu et al. 2024, arXiv
2402.09353, section 3): a seeded `TinyMLP` (64 -> 256 -> 64) learns a
rank-4 teacher change of both weights (as in snippets/loraplus_ratio.py),
trained with AdamW for 300 steps in three ways: full fine-tuning of the two
weights, `LoRALinear` and `DoRALinear` (r = 8, alpha = 8) on both layers.
Every 20 steps the first layer's trained weight W' is compared with W0 row by
row: ΔM is the mean change of row length, ΔD the mean of 1 - cos(W'_i, W0_i).
One seed; a toy problem, not a language model.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import copy

import matplotlib.pyplot as plt
import torch
from torch import nn

from lora_ref import DoRALinear, LoRALinear, TinyMLP

NAME = "dora_updates"
K, HIDDEN, D, RANK_CHANGE = 64, 256, 64, 4
STEPS, EVERY, BATCH = 300, 20, 64
LR = {"full fine-tuning": 1e-4, "LoRA": 1e-3, "DoRA": 1e-3}


def task() -> tuple[TinyMLP, TinyMLP]:
    """The frozen base and the teacher: base + a rank-4 change of each weight."""
    torch.manual_seed(0)
    base = TinyMLP(k=K, hidden=HIDDEN, d=D)
    teacher = copy.deepcopy(base)
    g = torch.Generator().manual_seed(1000)
    with torch.no_grad():
        for layer in (teacher.lin0, teacher.lin1):
            d, k = layer.weight.shape
            change = torch.randn(d, RANK_CHANGE, generator=g)
            change = change @ torch.randn(RANK_CHANGE, k, generator=g)
            layer.weight += 0.5 * layer.weight.norm() * change / change.norm()
    return base, teacher


def first_weight(model: nn.Module) -> torch.Tensor:
    """W' of the first layer: the weight the layer's forward pass applies."""
    layer = model.lin0
    with torch.no_grad():
        if isinstance(layer, DoRALinear):
            factor = layer.m / layer.weight_norm()
            return factor[:, None] * (layer.W0 + layer.delta_weight())
        if isinstance(layer, LoRALinear):
            return layer.W0 + layer.delta_weight()
        return layer.weight.detach().clone()


def changes(W: torch.Tensor, W0: torch.Tensor) -> tuple[float, float]:
    """(ΔM, ΔD): mean |row-length change| and mean (1 - cosine) per row."""
    dM = (W.norm(dim=1) - W0.norm(dim=1)).abs().mean().item()
    dD = (1 - nn.functional.cosine_similarity(W, W0, dim=1)).mean().item()
    return dM, dD


def compute() -> list[dict]:
    base, teacher = task()
    W0 = base.lin0.weight.detach().clone()
    rows = []
    for method, lr in LR.items():
        model = copy.deepcopy(base)
        if method == "full fine-tuning":
            model.requires_grad_(False)
            params = [model.lin0.weight, model.lin1.weight]
            for p in params:
                p.requires_grad_(True)
        else:
            cls = LoRALinear if method == "LoRA" else DoRALinear
            model.lin0 = cls(model.lin0, r=8, alpha=8)
            model.lin1 = cls(model.lin1, r=8, alpha=8)
            params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        data = torch.Generator().manual_seed(1)
        for step in range(1, STEPS + 1):
            x = torch.randn(BATCH, K, generator=data)
            with torch.no_grad():
                y = teacher(x)
            optimizer.zero_grad()
            loss = (model(x) - y).pow(2).mean()
            loss.backward()
            optimizer.step()
            if step % EVERY == 0:
                dM, dD = changes(first_weight(model), W0)
                rows.append(
                    {
                        "method": method,
                        "lr": lr,
                        "step": step,
                        "delta_M": round(dM, 6),
                        "delta_D": round(dD, 8),
                        "train_loss": round(loss.item(), 6),
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    torch.set_num_threads(1)  # bit-reproducible sums
    rows = compute()
    fig, ax = plt.subplots()
    for method, marker in zip(LR, ("s", "o", "^"), strict=True):
        sel = [row for row in rows if row["method"] == method]
        ax.plot(
            [row["delta_D"] for row in sel],
            [row["delta_M"] for row in sel],
            marker + "-",
            markersize=4,
            label=f"{method} (lr {LR[method]:g})",
        )
    ax.set_xlabel(r"$\Delta D$: mean $1 - \cos(W'_i, W_{0,i})$ over rows $i$")
    ax.set_ylabel(r"$\Delta M$: mean $|\,\|W'_i\| - \|W_{0,i}\|\,|$")
    ax.set_title("First layer, every 20 steps of 300 (toy task, one seed)")
    ax.legend(fontsize=8)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
