"""DyLoRA: one LoRA trained for every rank r in [r_min, r_max] at once.

Implements Valipour et al., "DyLoRA: Parameter-Efficient Tuning of
Pretrained Models using Dynamic Search-Free Low-Rank Adaptation" (EACL 2023,
arXiv 2210.07558, section 3): at each step a rank r is drawn uniformly from
[r_min, r_max] and the layer uses only the first r rows of A and the first r
columns of B, with the scaling alpha / r. After training, the first r
components alone form an ordinary LoRA adapter of rank r, for every r.
Taught in the chapter "DyLoRA" (docs/dylora.md). PEFT 0.21.2 has no DyLoRA;
`truncated(r)` returns a `lora_ref.LoRALinear`, which matches PEFT's LoRA.

Layout (docs/notation.md): W0 is (d, k), A is (r_max, k), B is (d, r_max).
"""

import copy

import torch
from torch import nn

from lora_ref.inject import replace_layer, wrap_targets
from lora_ref.lora import (
    LoRALinear,
    branch_dropout,
    check_linear,
    check_lora_args,
    lora_factors,
)


class DyLoRALinear(nn.Module):
    """A frozen `nn.Linear` plus (alpha / r) B[:, :r] A[:r], for a settable r.

    Args:
        base: the pretrained layer, frozen in place and kept as `.base`.
        r_max: the largest rank; A is (r_max, k) and B is (d, r_max).
        alpha: scaling numerator; at rank r the update is scaled by alpha / r.
        dropout: dropout probability on the adapter branch's input only.
        r_min: the smallest rank training samples.
        frozen: the paper's "frozen" mode: at rank r only the r-th row of A
            and column of B get gradients; the first r - 1 are held fixed.
    """

    def __init__(
        self,
        base: nn.Linear,
        r_max: int = 8,
        alpha: float = 8,
        dropout: float = 0.0,
        r_min: int = 1,
        frozen: bool = False,
    ) -> None:
        super().__init__()
        check_linear(base, "DyLoRALinear")
        check_lora_args(r_max, alpha, dropout)
        if isinstance(r_min, bool) or not isinstance(r_min, int):
            raise ValueError(f"r_min must be an integer, got {r_min!r}")
        if not 1 <= r_min <= r_max:
            raise ValueError(
                f"need 1 <= r_min <= r_max, got r_min={r_min}, r_max={r_max}"
            )
        self.base = base
        self.base.requires_grad_(False)
        d, k = base.weight.shape
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        # the LoRA initialisation, so every truncation starts as a LoRA would
        self.A, self.B = lora_factors(d, k, r_max, factory)
        self.r_min, self.r_max, self.alpha = r_min, r_max, alpha
        self.frozen = frozen
        self.dropout_p = float(dropout)
        self.dropout = branch_dropout(dropout)
        self.r = r_max  # the rank forward uses; set_rank changes it

    @property
    def W0(self) -> torch.Tensor:
        """The frozen base weight, shape (d, k)."""
        return self.base.weight

    @property
    def scaling(self) -> float:
        """alpha / r at the current rank: a rank-r LoRA's scaling."""
        return self.alpha / self.r

    def set_rank(self, r: int) -> None:
        """Use the first r components from now on (1 <= r <= r_max)."""
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= self.r_max:
            raise ValueError(f"r must be an integer in [1, {self.r_max}], got {r!r}")
        self.r = r

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A[:r] (r, k) and B[:, :r] (d, r); in frozen training mode the
        first r - 1 components are detached, so only the r-th one learns."""
        A, B = self.A[: self.r], self.B[:, : self.r]
        if self.frozen and self.training:
            A = torch.cat([A[:-1].detach(), A[-1:]])
            B = torch.cat([B[:, :-1].detach(), B[:, -1:]], dim=1)
        return A, B

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (alpha / r) B[:, :r] A[:r], shape (d, k)."""
        A, B = self.factors()
        return self.scaling * (B @ A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h = W0 x + b0 + (alpha / r) B[:, :r] A[:r] dropout(x), x: (..., k)."""
        A, B = self.factors()
        h0 = self.base(x)  # (n, d)
        h_lora = self.dropout(x) @ A.T @ B.T  # (n, k) -> (n, r) -> (n, d)
        return h0 + self.scaling * h_lora

    @torch.no_grad()
    def truncated(self, r: int) -> LoRALinear:
        """A plain rank-r `LoRALinear`: a copy of the base, A[:r], B[:, :r], alpha."""
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= self.r_max:
            raise ValueError(f"r must be an integer in [1, {self.r_max}], got {r!r}")
        lora = LoRALinear(
            copy.deepcopy(self.base), r=r, alpha=self.alpha, dropout=self.dropout_p
        )
        lora.A.copy_(self.A[:r])
        lora.B.copy_(self.B[:, :r])
        return lora


def apply_dylora(
    model: nn.Module,
    target_modules: str | list[str] | tuple[str, ...],
    r_max: int = 8,
    alpha: float = 8,
    dropout: float = 0.0,
    r_min: int = 1,
    frozen: bool = False,
) -> dict[str, DyLoRALinear]:
    """Wrap each targeted `nn.Linear` in a `DyLoRALinear`; freeze the rest.

    Returns the new layers by qualified name (the model is changed in place).
    """
    return wrap_targets(
        model,
        target_modules,
        lambda base: DyLoRALinear(base, r_max, alpha, dropout, r_min, frozen),
    )


def sample_rank(
    layers: dict[str, DyLoRALinear], generator: torch.Generator | None = None
) -> int:
    """Draw r uniformly from [r_min, r_max] and set it on every layer.

    Call it once per training step, before the forward pass (DyLoRA section 3:
    one rank per step, from a uniform distribution). Returns the rank.
    """
    first = next(iter(layers.values()))
    r = int(torch.randint(first.r_min, first.r_max + 1, (1,), generator=generator))
    for layer in layers.values():
        layer.set_rank(r)
    return r


def truncate_dylora(model: nn.Module, r: int) -> nn.Module:
    """Replace every `DyLoRALinear` by its rank-r `LoRALinear` (in place).

    The result is an ordinary LoRA model: `lora_ref.save_peft_adapter`
    writes it in PEFT's format, and `lora_ref.merge_lora` merges it.
    """
    layers = {n: m for n, m in model.named_modules() if isinstance(m, DyLoRALinear)}
    if not layers:
        raise ValueError("the model has no DyLoRALinear layer to truncate")
    for name, layer in layers.items():
        lora = layer.truncated(r)
        replace_layer(model, name, lora)
    return model
