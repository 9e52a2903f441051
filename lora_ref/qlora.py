"""QLoRA for one linear layer: LoRA on top of a frozen NF4 weight.

Implements Dettmers et al., "QLoRA: Efficient Finetuning of Quantized LLMs"
(arXiv 2305.14314, section 3, equations 5-6): the base weight is stored in NF4
(`lora_ref.nf4`), dequantized on the fly to the compute dtype for every
forward, and only the LoRA factors A and B are trained. Taught in the chapter
"QLoRA and NF4" (docs/qlora.md). The PEFT counterpart is
`peft.tuners.lora.bnb.Linear4bit` (peft 0.21.2) around a `bnb.nn.Linear4bit`
(bitsandbytes 0.50.2), which this module matches in float32 compute: forward,
gradients of A and B, and the merged (requantized) weight.

Layout (docs/notation.md): W0 has shape (d, k) = (out_features, in_features);
A has shape (r, k), B has shape (d, r).
"""

import math

import torch
from torch import nn

from lora_ref.lora import check_lora_args, lora_scaling, unmerged_W0
from lora_ref.nf4 import dequantize_nf4, quantize_nf4


class QLoRALinear(nn.Module):
    """A frozen NF4 copy of an `nn.Linear` plus a trainable update (alpha / r) B A.

    Worked shapes: an `nn.Linear(384, 1536)` has W0 of shape (1536, 384), stored
    as 294,912 bytes of packed 4-bit codes and 9,216 absmax constants (blocks of
    64). With r = 8, A is (8, 384) and B is (1536, 8), both float32.

    Args:
        base: the pretrained layer; its weight is quantized to NF4 and dropped,
            its bias kept frozen.
        r: rank of the update, a positive integer.
        alpha: scaling numerator; the update is multiplied by alpha / r.
        dropout: dropout probability on the input of the LoRA branch only.
        use_rslora: scale by alpha / sqrt(r) instead of alpha / r.
        blocksize: weights per absmax constant (64 in QLoRA).
        double_quant: also quantize the absmax constants (QLoRA section 3).
        compute_dtype: dtype W0 is dequantized to for the matmul
            (`bnb_4bit_compute_dtype`); QLoRA uses bfloat16 on a GPU.
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 8,
        dropout: float = 0.0,
        use_rslora: bool = False,
        blocksize: int = 64,
        double_quant: bool = False,
        compute_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(
                f"QLoRALinear wraps an nn.Linear, got {type(base).__name__}"
            )
        check_lora_args(r, alpha, dropout)
        d, k = base.weight.shape
        packed, self.state = quantize_nf4(base.weight.detach(), blocksize, double_quant)
        self.register_buffer("W0_packed", packed)  # (ceil(d * k / 2), 1) uint8
        bias = None if base.bias is None else base.bias.detach().clone()
        self.register_buffer("b0", bias)  # frozen, like W0
        self.compute_dtype = compute_dtype
        # PEFT keeps the factors in float32: the base weight's dtype is uint8
        self.A = nn.Parameter(torch.empty(r, k))
        self.B = nn.Parameter(torch.zeros(d, r))
        # same init as LoRALinear: Kaiming-uniform A (a = sqrt(5)), B = 0
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.r, self.alpha, self.use_rslora = r, alpha, use_rslora
        self.scaling = lora_scaling(r, alpha, use_rslora)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def dequantized_weight(self) -> torch.Tensor:
        """The stored 4-bit weight, dequantized: W0, or W0 + ΔW once merged."""
        return dequantize_nf4(self.W0_packed, self.state)

    @property
    def W0(self) -> torch.Tensor:
        """The dequantized base weight W0, shape (d, k); see `unmerged_W0`."""
        return unmerged_W0(self.dequantized_weight(), self.merged)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling * B @ A, shape (d, k), float32."""
        return self.scaling * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h = dequant(W0) x + b0 + scaling * B A dropout(x); x has shape (..., k)."""
        # QLoRA eq. 5: Y = X doubleDequant(c1, c2, W_NF4) + X L1 L2
        cd = self.compute_dtype
        b0 = None if self.b0 is None else self.b0.to(cd)
        W = self.dequantized_weight().to(cd)  # W0, or W0 + ΔW once merged
        h0 = nn.functional.linear(x.to(cd), W, b0).to(x.dtype)  # (n, d)
        if self.merged:
            return h0  # ΔW is already inside the requantized W0
        h_lora = self.dropout(x.to(self.A.dtype)) @ self.A.T @ self.B.T  # (n, d)
        return h0 + (self.scaling * h_lora).to(h0.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """Dequantize W0, add ΔW and quantize the sum again (what PEFT does).

        Lossy: the sum is rounded to NF4, so the merged layer differs from the
        unmerged one, and there is no exact unmerge. Merging twice does nothing.
        """
        if self.merged:
            return
        s = self.state
        W = self.W0 + self.delta_weight().to(s.dtype)  # (d, k)
        self.W0_packed, self.state = quantize_nf4(W, s.blocksize, s.absmax2 is not None)
        self.merged = True

    def extra_repr(self) -> str:
        d, k = self.state.shape
        return (
            f"d={d}, k={k}, r={self.r}, alpha={self.alpha}, "
            f"scaling={self.scaling:g}, nf4 blocksize={self.state.blocksize}, "
            f"double_quant={self.state.absmax2 is not None}, merged={self.merged}"
        )
