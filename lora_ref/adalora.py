"""AdaLoRA: ΔW = γ P Λ Q, with the rank budget moved to where it matters.

Implements Zhang et al., "Adaptive Budget Allocation for Parameter-Efficient
Fine-Tuning" (ICLR 2023, arXiv 2303.10512): the SVD-shaped update and the
orthogonality regulariser (section 3.1), the sensitivity-based importance of
each singular triplet with its two moving averages (section 3.2) and the
cubic budget schedule (section 3.3). Taught in the chapter "AdaLoRA"
(docs/adalora.md). PEFT counterparts (peft 0.21.2): `tuners.adalora.layer.
SVDLinear` (the layer), `RankAllocator` (importance, schedule, masking) and
`AdaLoraModel.forward` / `update_and_allocate`; this module matches them.

Layout (docs/notation.md): W0 is (d, k); P is (d, r) (PEFT's `lora_B`),
Λ is stored as its diagonal `Lambda` (r,) (PEFT's `lora_E`, (r, 1)), Q is
(r, k) (PEFT's `lora_A`). γ = alpha / (r + 1e-5), with r the initial rank.
"""

import torch
from torch import nn

from lora_ref.inject import find_targets
from lora_ref.lora import check_lora_args, unmerged_W0


class AdaLoRALinear(nn.Module):
    """A frozen `nn.Linear` plus γ P Λ Q; a zero in Λ switches a triplet off.

    Args:
        base: the pretrained layer, frozen in place and kept as `.base`.
        r: the initial rank (PEFT's `init_r`); masking never changes shapes.
        alpha: scaling numerator; γ = alpha / (r + 1e-5), as in PEFT.
        dropout: dropout probability on the adapter branch's input only.
    """

    def __init__(
        self, base: nn.Linear, r: int = 12, alpha: float = 8, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(
                f"AdaLoRALinear wraps an nn.Linear, got {type(base).__name__}"
            )
        check_lora_args(r, alpha, dropout)
        self.base = base
        self.base.requires_grad_(False)
        d, k = base.weight.shape
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        # Λ = 0: the update starts at zero; P, Q ~ N(0, 0.02²)
        # (PEFT AdaLoraLayer.reset_lora_parameters)
        self.P = nn.Parameter(torch.randn(d, r, **factory) * 0.02)
        self.Lambda = nn.Parameter(torch.zeros(r, **factory))
        self.Q = nn.Parameter(torch.randn(r, k, **factory) * 0.02)
        self.r = r
        self.alpha = alpha
        # PEFT divides by ranknum + 1e-5 with ranknum = the initial r, forever
        self.scaling = alpha / (r + 1e-5)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    @property
    def W0(self) -> torch.Tensor:
        """The frozen pretrained weight W0, shape (d, k); see `unmerged_W0`."""
        return unmerged_W0(self.base.weight, self.merged)

    def rank(self) -> int:
        """The current rank: how many singular values are not masked to zero."""
        return int((self.Lambda != 0).sum())

    def delta_weight(self) -> torch.Tensor:
        """ΔW = γ P Λ Q, shape (d, k)."""
        return self.P @ (self.Q * self.Lambda[:, None]) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h = W0 x + b0 + γ P Λ Q dropout(x), for x of shape (..., k)."""
        if self.merged:
            return self.base(x)
        # h = W0 x + b0 + γ P Λ Q x   (AdaLoRA section 3.1); Λ scales Q's rows
        h0 = self.base(x)  # (n, d)
        u = self.dropout(x) @ (self.Q * self.Lambda[:, None]).T  # (n, r)
        return h0 + (u @ self.P.T) * self.scaling  # (n, d)

    @torch.no_grad()
    def merge(self) -> None:
        """Add ΔW into the base weight; merging twice does nothing."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract ΔW from the base weight again; a no-op when not merged."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False


def apply_adalora(
    model: nn.Module,
    target_modules: str | list[str] | tuple[str, ...],
    r: int = 12,
    alpha: float = 8,
    dropout: float = 0.0,
) -> dict[str, AdaLoRALinear]:
    """Wrap each targeted `nn.Linear` in an `AdaLoRALinear`; freeze the rest.

    Returns the new layers by qualified name (the model is changed in place).
    """
    check_lora_args(r, alpha, dropout)
    model.requires_grad_(False)
    layers = {}
    for name in find_targets(model, target_modules):
        base = model.get_submodule(name)
        layers[name] = AdaLoRALinear(base, r=r, alpha=alpha, dropout=dropout)
        layers[name].train(base.training)
        model.set_submodule(name, layers[name])
    return layers


def orthogonal_regularizer(layers: dict[str, AdaLoRALinear]) -> torch.Tensor:
    """R(P, Q): the mean over all P and Q of ‖PᵀP − I‖_F and ‖QQᵀ − I‖_F.

    This is PEFT's `AdaLoraModel.forward`: unsquared norms, averaged over the
    2 × (number of layers) matrices. The paper writes the sum of squared norms
    per layer (section 3.1); both vanish exactly when P and Q are orthonormal.
    """
    terms = []
    for layer in layers.values():
        eye = torch.eye(layer.r, dtype=layer.P.dtype, device=layer.P.device)
        terms.append(torch.linalg.norm(layer.Q @ layer.Q.T - eye))  # (r, r)
        terms.append(torch.linalg.norm(layer.P.T @ layer.P - eye))  # (r, r)
    return torch.stack(terms).mean()


def budget_schedule(
    step: int,
    init_budget: int,
    target_budget: int,
    tinit: int,
    tfinal: int,
    total_step: int,
) -> int:
    """The number of triplets kept at `step` (AdaLoRA section 3.3, cubic).

    Flat at `init_budget` up to step tinit, then falling as a cube to
    `target_budget` at step total_step - tfinal, then flat. Rounded down with
    `int`, as PEFT's `RankAllocator.budget_schedule`.
    """
    if step <= tinit:
        return init_budget
    if step > total_step - tfinal:
        return target_budget
    progress = 1 - (step - tinit) / (total_step - tfinal - tinit)
    return int((init_budget - target_budget) * progress**3 + target_budget)


class RankAllocator:
    """Importance scores, the budget schedule and the masking of Λ.

    Call `update_and_allocate(step)` after `optimizer.step()` and before
    `zero_grad()`, every step (as PEFT's `update_and_allocate`).

    Args:
        layers: the `AdaLoRALinear` layers, e.g. from `apply_adalora`.
        target_r: the average rank at the end: budget = target_r × layers.
        total_step: T, the number of training steps.
        tinit: warm-up steps without masking.
        tfinal: final steps with the allocation frozen.
        deltaT: mask every deltaT steps while the budget falls.
        beta1: decay of the smoothed sensitivity (PEFT's `beta1`).
        beta2: decay of the uncertainty (PEFT's `beta2`).
    """

    def __init__(
        self,
        layers: dict[str, AdaLoRALinear],
        target_r: int,
        total_step: int,
        tinit: int = 0,
        tfinal: int = 0,
        deltaT: int = 1,
        beta1: float = 0.85,
        beta2: float = 0.85,
    ) -> None:
        if not 0 < beta1 < 1 or not 0 < beta2 < 1:
            raise ValueError(f"beta1 and beta2 must be in (0, 1), got {beta1}, {beta2}")
        if tinit >= total_step - tfinal:
            raise ValueError(
                f"tinit={tinit} must be below total_step - tfinal="
                f"{total_step - tfinal}: no step would be left to reallocate"
            )
        self.layers = layers
        self.target_r, self.total_step, self.deltaT = target_r, total_step, deltaT
        self.tinit, self.tfinal, self.beta1, self.beta2 = tinit, tfinal, beta1, beta2
        self.init_budget = sum(layer.r for layer in layers.values())
        self.target_budget = target_r * len(layers)
        self.rank_pattern: dict[str, torch.Tensor] = {}
        self.reset_importance()

    def reset_importance(self) -> None:
        """Forget the moving averages (PEFT's `reset_ipt`)."""
        self.I_bar: dict[tuple[str, str], torch.Tensor] = {}
        self.U_bar: dict[tuple[str, str], torch.Tensor] = {}

    @torch.no_grad()
    def update_importance(self) -> None:
        """Sensitivity I = |w ∂L/∂w| per entry of P, Λ and Q, then both EMAs."""
        for name, layer in self.layers.items():
            for factor in ("P", "Lambda", "Q"):
                w = getattr(layer, factor)
                key = (name, factor)
                sensitivity = (w * w.grad).abs()
                I_bar = self.I_bar.get(key, torch.zeros_like(w))
                U_bar = self.U_bar.get(key, torch.zeros_like(w))
                I_bar = self.beta1 * I_bar + (1 - self.beta1) * sensitivity
                U_bar = (
                    self.beta2 * U_bar + (1 - self.beta2) * (sensitivity - I_bar).abs()
                )
                self.I_bar[key], self.U_bar[key] = I_bar, U_bar

    def triplet_scores(self) -> dict[str, torch.Tensor]:
        """S_i = ρ(Λ_ii) + mean_j ρ(Q_ij) + mean_j ρ(P_ji), with ρ = Ī · Ū."""
        rho = {key: self.I_bar[key] * self.U_bar[key] for key in self.I_bar}
        return {
            name: rho[name, "Lambda"]
            + (rho[name, "Q"].mean(1) + rho[name, "P"].mean(0))
            for name in self.layers
        }

    @torch.no_grad()
    def mask_to_budget(self, budget: int) -> dict[str, torch.Tensor]:
        """Zero the Λ entries of all but the `budget` most important triplets."""
        scores = self.triplet_scores()
        everything = torch.cat(list(scores.values()))
        threshold = torch.kthvalue(everything, self.init_budget - budget).values
        for name, layer in self.layers.items():
            self.rank_pattern[name] = scores[name] > threshold  # kept triplets
            layer.Lambda.masked_fill_(~self.rank_pattern[name], 0.0)
        return self.rank_pattern

    @torch.no_grad()
    def update_and_allocate(self, step: int) -> int:
        """One step of AdaLoRA's allocation; returns the budget at `step`."""
        end = self.total_step - self.tfinal
        budget = budget_schedule(
            step,
            self.init_budget,
            self.target_budget,
            self.tinit,
            self.tfinal,
            self.total_step,
        )
        if step < end:
            self.update_importance()
            if step > self.tinit and step % self.deltaT == 0:
                self.mask_to_budget(budget)
        elif step == end:  # the final allocation, then the scores are dropped
            self.mask_to_budget(budget)
            self.reset_importance()
        else:  # keep the final allocation
            for name, layer in self.layers.items():
                layer.Lambda.masked_fill_(~self.rank_pattern[name], 0.0)
        return budget
