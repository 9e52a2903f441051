"""LoRA for one linear layer: h = W0 x + (alpha / r) B A x.

Implements Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models"
(arXiv 2106.09685, section 4.1, equation 3), with rsLoRA's alpha / sqrt(r)
scaling as an option (Kalajdzievski 2023, arXiv 2312.03732). Taught in the
chapter "LoRA from scratch" (docs/lora-from-scratch.md); the PEFT counterpart
is `peft.tuners.lora.layer.Linear` (peft 0.21.2), which this module matches
numerically.

Layout (docs/notation.md): PyTorch's. W0 has shape (d, k) =
(out_features, in_features) and inputs are row batches, so W0 x is written
`x @ W0.T`. A has shape (r, k), B has shape (d, r), as in the paper.
"""

import math

import torch
from torch import nn


def check_lora_args(r: int, alpha: float, dropout: float) -> None:
    """Raise `ValueError` unless r, alpha and dropout are usable.

    Args:
        r: rank of the update; a positive integer.
        alpha: the numerator of the scaling alpha / r; positive.
        dropout: probability of zeroing an input of the LoRA branch; in [0, 1).
    """
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ValueError(f"r must be a positive integer (the rank of B A), got {r!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    if not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(
            f"alpha must be positive and finite (it scales the update by alpha / r), "
            f"got {alpha!r}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, int | float):
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"dropout must be in [0, 1): it is the probability of zeroing an input "
            f"of the LoRA branch, and 1 would zero them all; got {dropout!r}"
        )


def lora_scaling(r: int, alpha: float, use_rslora: bool = False) -> float:
    """The factor in front of B A: alpha / r, or alpha / sqrt(r) with rsLoRA.

    PEFT computes the same in `LoraLayer.update_layer`.

    Args:
        r: rank of the update.
        alpha: the `lora_alpha` hyperparameter.
        use_rslora: use rank-stabilised scaling alpha / sqrt(r) (rsLoRA, section 3).
    """
    return alpha / math.sqrt(r) if use_rslora else alpha / r


def unmerged_W0(weight: torch.Tensor, merged: bool) -> torch.Tensor:
    """The frozen pretrained weight W0 of an adapted layer, shape (d, k).

    Every mergeable layer of `lora_ref` reads its `W0` through this function.

    Args:
        weight: the weight the layer stores for its base (`base.weight`).
        merged: whether the layer's update is merged into that weight.

    Raises:
        RuntimeError: the layer is merged. Then `base.weight` holds the merged
            weight (W0 + ΔW for LoRA), and W0 itself is not stored anywhere
            (subtracting the update back is exact only up to rounding), so W0
            would be a lie. Call `unmerge()` first, or read `base.weight`, the
            weight the layer actually multiplies by.
    """
    if merged:
        raise RuntimeError(
            "the layer is merged: its stored weight is the merged weight, not W0; "
            "call unmerge() first, or read the stored weight (base.weight) itself"
        )
    return weight


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update (alpha / r) B A.

    Worked shapes: a base `nn.Linear(4096, 1024)` has W0 of shape (1024, 4096),
    so d = 1024 and k = 4096. With r = 8, A is (8, 4096) and B is (1024, 8):
    8 * (4096 + 1024) = 40,960 trainable numbers instead of 4,194,304.

    Args:
        base: the pretrained layer. It is frozen in place and kept as `.base`.
        r: rank of the update, a positive integer.
        alpha: scaling numerator; the update is multiplied by alpha / r.
        dropout: dropout probability on the input of the LoRA branch only.
        use_rslora: scale by alpha / sqrt(r) instead of alpha / r.
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 8,
        dropout: float = 0.0,
        use_rslora: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(
                f"LoRALinear wraps an nn.Linear, got {type(base).__name__}; "
                "other layer types need their own LoRA layer"
            )
        check_lora_args(r, alpha, dropout)
        self.base = base
        self.base.requires_grad_(False)  # W0 (and b0) stay frozen
        d, k = base.weight.shape
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        self.A = nn.Parameter(torch.empty(r, k, **factory))
        self.B = nn.Parameter(torch.zeros(d, r, **factory))
        # A: Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(k), 1/sqrt(k)), as
        # PEFT's default init (LoraLayer.reset_lora_parameters) and loralib do.
        # B = 0 makes the update exactly zero at step 0 (LoRA section 4.1).
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.r = r
        self.alpha = alpha
        self.use_rslora = use_rslora
        self.scaling = lora_scaling(r, alpha, use_rslora)
        self.dropout_p = float(dropout)
        # dropout acts on the LoRA branch's input only; W0 sees the undropped x
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    @property
    def W0(self) -> torch.Tensor:
        """The frozen pretrained weight W0, shape (d, k); see `unmerged_W0`."""
        return unmerged_W0(self.base.weight, self.merged)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling * B @ A, shape (d, k). Materialised only for merging.

        Half-precision factors are multiplied in float32 and the product is
        rounded once, as PEFT's `get_delta_weight` does on the CPU.
        """
        if self.A.dtype in (torch.float16, torch.bfloat16):
            return (self.scaling * (self.B.float() @ self.A.float())).to(self.A.dtype)
        return self.scaling * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h = W0 x + b0 + scaling * B A dropout(x), for x of shape (..., k)."""
        if self.merged:
            return self.base(x)  # W0 + ΔW is already in base.weight
        # h = W0 x + b0 + (alpha / r) B A x   (LoRA eq. 3 with the alpha/r scaling)
        h0 = self.base(x)  # (n, d)
        h_lora = self.dropout(x) @ self.A.T @ self.B.T  # (n, k) -> (n, r) -> (n, d)
        return h0 + self.scaling * h_lora

    @torch.no_grad()
    def merge(self) -> None:
        """Add ΔW into the base weight, so forward is one plain matmul.

        Idempotent: merging a merged layer does nothing, so ΔW is never added
        twice (PEFT warns and skips in the same case).
        While merged, `base.weight` holds W0 + ΔW and `W0` raises: read
        `base.weight` for the merged weight, or `unmerge()` to get W0 back.
        """
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract ΔW from the base weight again; a no-op when not merged."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        d, k = self.base.weight.shape
        return (
            f"d={d}, k={k}, r={self.r}, alpha={self.alpha}, "
            f"scaling={self.scaling:g}, dropout={self.dropout_p}, merged={self.merged}"
        )
