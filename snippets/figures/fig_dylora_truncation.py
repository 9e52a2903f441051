"""DyLoRA truncated at every rank vs LoRA trained separately at each rank.

Figure for docs/dylora.md ("Measured: one run, every rank"). The task: one
frozen 32 x 32 linear layer W0 must learn a known change ΔW* whose singular
values fall as 1/i (i = 1..32), from 256 fixed random inputs (MSE on the
outputs, full batch, Adam, lr 1e-2, alpha = 8). Because ΔW* is known, the
metric is exact: the relative error ||ΔW - ΔW*||²_F / ||ΔW*||²_F, whose
best possible value at rank r is the Eckart-Young floor
sum_{i>r} σ_i² / sum σ_i². Plotted for r = 1..8, three training seeds
(mean, and min-max as the band): LoRA trained once per rank (300 steps
each), one DyLoRA run (r_max = 8, r sampled each step) with the steps of ONE
LoRA run (300) and with the steps of all eight (2400), and one DyLoRA run in
the "frozen" mode (a step at rank r trains only component r; 300 steps).
Runs in about a minute on one CPU thread.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
import torch
from torch import nn

from lora_ref import DyLoRALinear, LoRALinear, sample_rank

NAME = "dylora_truncation"
D = K = 32  # W0 is (d, k)
N = 256  # training inputs
R_MAX = 8
ALPHA = 8
LR = 1e-2
STEPS = 300  # one LoRA run
SEEDS = (0, 1, 2)


def task() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """W0, the target change ΔW* (σ_i = 1/i), inputs X and targets Y (seed 0)."""
    g = torch.Generator().manual_seed(0)
    W0 = torch.randn(D, K, generator=g) / K**0.5
    U = torch.linalg.qr(torch.randn(D, D, generator=g))[0]
    V = torch.linalg.qr(torch.randn(K, K, generator=g))[0]
    sigma = 1 / torch.arange(1, min(D, K) + 1, dtype=torch.float32)
    delta_star = U @ torch.diag(sigma) @ V.T
    X = torch.randn(N, K, generator=g)
    return W0, delta_star, X, X @ (W0 + delta_star).T


def train(layer: nn.Module, X, Y, steps: int, seed: int) -> None:
    """Full-batch Adam on A and B; a DyLoRA layer gets a new rank every step."""
    opt = torch.optim.Adam([layer.A, layer.B], lr=LR)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        if isinstance(layer, DyLoRALinear):
            sample_rank({"layer": layer}, g)
        loss = (layer(X) - Y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def base(W0: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(K, D, bias=False)
    with torch.no_grad():
        layer.weight.copy_(W0)
    return layer


def compute() -> list[dict]:
    W0, delta_star, X, Y = task()
    sigma2 = torch.linalg.svdvals(delta_star) ** 2

    def rel_error(delta: torch.Tensor) -> float:
        return ((delta - delta_star).norm() ** 2 / delta_star.norm() ** 2).item()

    rows = []
    for seed in SEEDS:
        dylora = {}
        for label, steps, frozen in (
            ("DyLoRA, 300 steps", STEPS, False),
            ("DyLoRA, 2400 steps", 8 * STEPS, False),
            ("DyLoRA frozen mode, 300 steps", STEPS, True),
        ):
            torch.manual_seed(seed)
            dylora[label] = DyLoRALinear(
                base(W0), r_max=R_MAX, alpha=ALPHA, frozen=frozen
            )
            train(dylora[label], X, Y, steps, seed)
        for r in range(1, R_MAX + 1):
            torch.manual_seed(seed)
            lora = LoRALinear(base(W0), r=r, alpha=ALPHA)
            train(lora, X, Y, STEPS, seed)
            errors = {"LoRA at this rank, 300 steps": lora.delta_weight()}
            for label, layer in dylora.items():
                errors[label] = layer.truncated(r).delta_weight()
            floor = (sigma2[r:].sum() / sigma2.sum()).item()
            for method, delta in errors.items():
                rows.append(
                    {
                        "seed": seed,
                        "r": r,
                        "method": method,
                        "rel_error": float(f"{rel_error(delta.detach()):.4g}"),
                        "eckart_young_floor": float(f"{floor:.4g}"),
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    torch.set_num_threads(1)  # bit-reproducible sums
    rows = compute()
    ranks = list(range(1, R_MAX + 1))
    fig, ax = plt.subplots()
    floor = [next(x["eckart_young_floor"] for x in rows if x["r"] == r) for r in ranks]
    ax.plot(ranks, floor, "k--", label="best possible at rank r (Eckart–Young)")
    methods = list(dict.fromkeys(x["method"] for x in rows))
    for method, marker in zip(methods, ("o", "s", "^", "D"), strict=True):
        per_rank = [
            [x["rel_error"] for x in rows if x["method"] == method and x["r"] == r]
            for r in ranks
        ]
        mean = [sum(v) / len(v) for v in per_rank]
        ax.fill_between(
            ranks, [min(v) for v in per_rank], [max(v) for v in per_rank], alpha=0.2
        )
        ax.plot(ranks, mean, marker + "-", label=method)
    ax.set_xlabel("rank r (DyLoRA: truncation rank of one run)")
    ax.set_ylabel(r"$\|\Delta W - \Delta W^*\|_F^2 \,/\, \|\Delta W^*\|_F^2$")
    ax.set_yscale("log")
    ax.set_title(f"Mean of {len(SEEDS)} seeds, band = min to max", fontsize=10)
    ax.legend(fontsize=8)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
