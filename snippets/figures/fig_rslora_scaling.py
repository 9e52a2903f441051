"""How the learned update and the loss change with r under alpha / r vs alpha / sqrt(r).

Figure for "The math of LoRA" (docs/lora-math.md, "Scaling: alpha / r or
alpha / sqrt(r)"). Measured by really training: one 64 x 64
`lora_ref.LoRALinear` on a frozen random W0 learns a full-rank random target
change with Adam (lr 1e-3, 100 full-batch steps, alpha = 8), once per rank
and scaling rule (rsLoRA: Kalajdzievski 2023, arXiv 2312.03732). Plotted:
the final training loss and the size of the learned update ||ΔW||_F.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
import torch
from torch import nn

from lora_ref import LoRALinear
from snippets import common

NAME = "rslora_scaling"
RANKS = [1, 2, 4, 8, 16, 32, 64]
D = K = 64  # W0 is (d, k)
N = 256  # training examples
STEPS = 100
LR = 1e-3
ALPHA = 8
RULES = {"alpha / r (LoRA)": False, "alpha / sqrt(r) (rsLoRA)": True}


def task() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W0, inputs X (n, k) and targets Y = X (W0 + W_task)^T with a full-rank W_task."""
    g = torch.Generator().manual_seed(0)
    W0 = torch.randn(D, K, generator=g) / K**0.5
    W_task = 0.5 * torch.randn(D, K, generator=g) / K**0.5
    X = torch.randn(N, K, generator=g)
    return W0, X, X @ (W0 + W_task).T


def train(r: int, use_rslora: bool) -> tuple[float, float]:
    """Final loss and ||ΔW||_F after STEPS Adam steps on A and B."""
    W0, X, Y = task()
    base = nn.Linear(K, D, bias=False)
    with torch.no_grad():
        base.weight.copy_(W0)
    torch.manual_seed(1)  # the same A init stream for both rules
    layer = LoRALinear(base, r=r, alpha=ALPHA, use_rslora=use_rslora)
    opt = torch.optim.Adam([layer.A, layer.B], lr=LR)
    for _ in range(STEPS):
        loss = (layer(X) - Y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = (layer(X) - Y).pow(2).mean().item()
        norm = layer.delta_weight().norm().item()
    return final, norm


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    torch.set_num_threads(1)  # bit-reproducible sums
    rows = []
    for rule, use_rslora in RULES.items():
        for r in RANKS:
            loss, norm = train(r, use_rslora)
            rows.append(
                {
                    "rule": rule,
                    "r": r,
                    "final_loss": common.r6(loss),
                    "delta_W_fro": common.r6(norm),
                }
            )
    fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    for rule, marker in zip(RULES, ("o", "s"), strict=True):
        sel = [row for row in rows if row["rule"] == rule]
        ranks = [row["r"] for row in sel]
        ax_loss.plot(
            ranks, [row["final_loss"] for row in sel], marker + "-", label=rule
        )
        ax_norm.plot(
            ranks, [row["delta_W_fro"] for row in sel], marker + "-", label=rule
        )
    for ax in (ax_loss, ax_norm):
        ax.set_xscale("log", base=2)
        ax.set_xticks(RANKS, [str(r) for r in RANKS])
        ax.set_xlabel("rank r")
    ax_loss.set_ylabel(f"training MSE after {STEPS} steps")
    ax_norm.set_ylabel(r"$\|\Delta W\|_F$ after " + f"{STEPS} steps")
    ax_loss.set_title("Loss (lower is better)")
    ax_norm.set_title("Size of the learned update")
    ax_loss.legend(fontsize=8)
    fig.suptitle(
        f"Adam, lr {LR:g}, alpha = {ALPHA}, same task for every r", fontsize=10
    )
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
