"""DoRA for one linear layer: W' = m (W0 + ΔW) / ||W0 + ΔW||, one norm per row.

Implements Liu et al., "DoRA: Weight-Decomposed Low-Rank Adaptation" (arXiv
2402.09353, section 4.1, equation 5), with the norm treated as a constant in
backward as section 4.3 suggests. Taught in the chapter "DoRA" (docs/dora.md);
the PEFT counterpart is `LoraConfig(use_dora=True)`, i.e.
`peft.tuners.lora.dora.DoraLinearLayer` driven by
`peft.tuners.lora.variants.DoraLinearVariant` (peft 0.21.2), which this module
matches numerically, dropout included.

Layout (docs/notation.md): W0 is (d, k), so the paper's "column-wise" norm of
its (k, d) weight is a norm over each row of ours: `torch.linalg.norm(W, dim=1)`,
one number per output feature. m has shape (d,).
"""

import math

import torch
from torch import nn

from lora_ref.inject import find_targets
from lora_ref.lora import check_lora_args, lora_scaling, unmerged_W0


class DoRALinear(nn.Module):
    """A frozen `nn.Linear` re-parametrised as magnitude m times a direction.

    h = (m / n) ⊙ (W0 + ΔW) x + b0, with ΔW = scaling * B A and
    n = ||W0 + ΔW|| per row. A and B are initialised as in LoRA (B = 0) and
    m as the row norms of W0, so the layer starts equal to the base layer.

    Worked shapes: a base `nn.Linear(4096, 4096)` with r = 8 trains A (8, 4096),
    B (4096, 8) and m (4096,): 65,536 + 4,096 = 69,632 numbers.

    Args:
        base: the pretrained layer. It is frozen in place and kept as `.base`.
        r: rank of the direction update, a positive integer.
        alpha: scaling numerator; ΔW = (alpha / r) B A.
        dropout: dropout probability on the adapter's input (PEFT's form, see
            `forward`).
        use_rslora: scale by alpha / sqrt(r) instead of alpha / r.
        detach_norm: treat n as a constant in backward (DoRA section 4.3, and
            PEFT). False gives the exact gradient of equation 5.
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 8,
        dropout: float = 0.0,
        use_rslora: bool = False,
        detach_norm: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(
                f"DoRALinear wraps an nn.Linear, got {type(base).__name__}; "
                "other layer types need their own DoRA layer"
            )
        check_lora_args(r, alpha, dropout)
        self.base = base
        self.base.requires_grad_(False)  # W0 (and b0) stay frozen
        d, k = base.weight.shape
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        self.A = nn.Parameter(torch.empty(r, k, **factory))
        self.B = nn.Parameter(torch.zeros(d, r, **factory))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as LoRALinear / PEFT
        self.r = r
        self.alpha = alpha
        self.use_rslora = use_rslora
        self.scaling = lora_scaling(r, alpha, use_rslora)
        self.dropout_p = float(dropout)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.detach_norm = detach_norm
        # m starts as ||W0|| per row (B = 0), so W' = W0 at step 0 (section 4.1)
        self.m = nn.Parameter(torch.linalg.norm(base.weight.detach(), dim=1))  # (d,)
        self.merged_norm: torch.Tensor | None = None  # n at merge time

    @property
    def W0(self) -> torch.Tensor:
        """The frozen pretrained weight W0, shape (d, k); see `unmerged_W0`."""
        return unmerged_W0(self.base.weight, self.merged)

    @property
    def merged(self) -> bool:
        return self.merged_norm is not None

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling * B @ A, shape (d, k): LoRA's update of the direction."""
        return self.scaling * (self.B @ self.A)

    def weight_norm(self) -> torch.Tensor:
        """n = ||W0 + ΔW|| per row, shape (d,); detached unless `detach_norm` is off.

        PEFT detaches B A before the norm and the norm after it
        (`DoraLinearLayer.forward`); either way no gradient flows through n.
        """
        BA = self.B @ self.A  # (d, r) @ (r, k) -> (d, k)
        if self.detach_norm:
            BA = BA.detach()
        n = torch.linalg.norm(self.W0 + self.scaling * BA, dim=1)  # (d,)
        return n.detach() if self.detach_norm else n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h = (m / n) ⊙ (W0 + ΔW) x + b0, for x of shape (..., k).

        With dropout active (training, p > 0) PEFT computes
        h = W0 x + b0 + (m/n - 1) ⊙ W0 x~ + (m/n) ⊙ scaling B A x~ with
        x~ = dropout(x), which is not W' x~ + b0; we do the same.
        """
        if self.merged:
            return self.base(x)  # W' is already in base.weight
        h0 = self.base(x)  # W0 x + b0, (n, d)
        factor = self.m / self.weight_norm()  # m / n, (d,)
        if self.training and self.dropout_p > 0:
            x = self.dropout(x)
            W0x = x @ self.W0.T  # W0 x~, (n, d)
        else:
            W0x = h0 if self.base.bias is None else h0 - self.base.bias  # W0 x
        h_lora = x @ self.A.T @ self.B.T  # (n, k) -> (n, r) -> (n, d)
        # h0 + (m/n - 1) W0 x + (m/n) scaling B A x  =  (m/n) (W0 + ΔW) x + b0
        return h0 + (factor - 1) * W0x + factor * self.scaling * h_lora

    @torch.no_grad()
    def merge(self) -> None:
        """Write W' = (m / n) ⊙ (W0 + ΔW) into the base weight (the bias is kept).

        n is stored, because unmerging needs the norm of the unmerged weight.
        Idempotent, like `LoRALinear.merge`.
        """
        if self.merged:
            return
        n = torch.linalg.norm(self.W0 + self.delta_weight(), dim=1)  # (d,)
        self.base.weight.copy_((self.m / n)[:, None] * (self.W0 + self.delta_weight()))
        self.merged_norm = n

    @torch.no_grad()
    def unmerge(self) -> None:
        """Recover W0 = W' / (m / n) - ΔW; a no-op when not merged."""
        if not self.merged:
            return
        factor = self.m / self.merged_norm
        self.base.weight.copy_(self.base.weight / factor[:, None] - self.delta_weight())
        self.merged_norm = None

    def extra_repr(self) -> str:
        d, k = self.base.weight.shape
        return (
            f"d={d}, k={k}, r={self.r}, alpha={self.alpha}, "
            f"scaling={self.scaling:g}, dropout={self.dropout_p}, merged={self.merged}"
        )


def apply_dora(
    model: nn.Module,
    target_modules: str | list[str] | tuple[str, ...],
    r: int = 8,
    alpha: float = 8,
    dropout: float = 0.0,
    use_rslora: bool = False,
) -> nn.Module:
    """Wrap each targeted `nn.Linear` in a `DoRALinear`; only A, B and m train.

    Targets follow `lora_ref.apply_lora` (PEFT's rules). The model is changed
    in place and returned, like `get_peft_model` with `use_dora=True`.

    Raises:
        ValueError: invalid r / alpha / dropout, or targets that match nothing.
    """
    check_lora_args(r, alpha, dropout)
    names = find_targets(model, target_modules)
    model.requires_grad_(False)  # the new A, B and m are created trainable
    for name in names:
        base = model.get_submodule(name)
        layer = DoRALinear(base, r, alpha, dropout, use_rslora)
        layer.train(base.training)
        model.set_submodule(name, layer)
    return model
