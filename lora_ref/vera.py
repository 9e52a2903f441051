"""VeRA: h = W0 x + Λ_b B Λ_d A x, with A and B frozen, random and shared.

Implements Kopiczko, Blankevoort and Asano, "VeRA: Vector-based Random Matrix
Adaptation" (ICLR 2024, arXiv 2310.11454, section 3). Taught in the chapter
"VeRA" (docs/vera.md). The PEFT counterparts (peft 0.21.2) are
`peft.tuners.vera.layer.Linear` for the layer and
`VeraModel._init_vera_A_vera_B` for the shared projections; this module
draws the same projections from the same `projection_prng_key` and matches
PEFT numerically.

Layout (docs/notation.md): W0 is (d, k). One shared pair A (r, k_max) and
B (d_max, r) serves every adapted layer, which slices A[:, :k] and B[:d, :].
Each layer trains two vectors only: lambda_b (d,) and lambda_d (r,), the
diagonals of Λ_b and Λ_d. There is no alpha / r scaling in VeRA.
"""

import math

import torch
from torch import nn

from lora_ref.inject import find_targets
from lora_ref.lora import unmerged_W0


def _kaiming_uniform(
    shape: tuple[int, int], generator: torch.Generator
) -> torch.Tensor:
    """U(-bound, bound) with bound = sqrt(3) * sqrt(2) / sqrt(fan_in).

    The arithmetic is PEFT's `vera.model._kaiming_init` to the last bit: fan_in
    is the second dimension of the (rows, columns) tensor, drawn in float32.
    """
    std = math.sqrt(2) / math.sqrt(shape[1])
    bound = math.sqrt(3.0) * std
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


def vera_projections(
    r: int, d: int, k: int, prng_key: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared frozen pair (A, B) of shapes (r, k) and (d, r), in float32.

    One CPU generator seeded with `prng_key` draws A first, then B, as PEFT's
    `VeraModel._init_vera_A_vera_B` does, so the same key gives the same
    projections (VeRA section 3: Kaiming-uniform shared matrices).

    Args:
        r: the rank (rows of A, columns of B).
        d: the largest out_features among the adapted layers.
        k: the largest in_features among the adapted layers.
        prng_key: seed of the generator (PEFT's `projection_prng_key`).
    """
    for name, value in {"r": r, "d": d, "k": k}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    generator = torch.Generator(device="cpu").manual_seed(prng_key)
    A = _kaiming_uniform((r, k), generator)  # (r, k)
    B = _kaiming_uniform((d, r), generator)  # (d, r)
    return A, B


class VeRALinear(nn.Module):
    """A frozen `nn.Linear` plus Λ_b B Λ_d A, with only lambda_b and lambda_d trained.

    Worked shapes: for a 4096 x 4096 projection with r = 8, lambda_b has 4096
    entries and lambda_d has 8: 4,104 trainable numbers, where LoRA at r = 8
    trains 8 * (4096 + 4096) = 65,536.

    Args:
        base: the pretrained layer, frozen in place and kept as `.base`.
        A: the shared projection, (r, k_max) with k_max >= k; never trained.
        B: the shared projection, (d_max, r) with d_max >= d; never trained.
        d_initial: the value every entry of lambda_d starts at (PEFT: 0.1).
        dropout: dropout probability on the adapter branch's input only.
    """

    def __init__(
        self,
        base: nn.Linear,
        A: torch.Tensor,
        B: torch.Tensor,
        d_initial: float = 0.1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(
                f"VeRALinear wraps an nn.Linear, got {type(base).__name__}"
            )
        d, k = base.weight.shape
        r = A.shape[0]
        if A.dim() != 2 or B.dim() != 2 or B.shape[1] != r:
            raise ValueError(
                f"A must be (r, k_max) and B (d_max, r), got {tuple(A.shape)} "
                f"and {tuple(B.shape)}"
            )
        if A.shape[1] < k or B.shape[0] < d:
            raise ValueError(
                f"the shared projections are too small for a ({d}, {k}) layer: "
                f"A is {tuple(A.shape)}, B is {tuple(B.shape)}; size them to the "
                "largest adapted layer"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.base = base
        self.base.requires_grad_(False)  # W0 (and b0) stay frozen
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        # frozen buffers, not parameters: the optimizer never sees them
        self.register_buffer("A", A.to(**factory), persistent=False)
        self.register_buffer("B", B.to(**factory), persistent=False)
        # lambda_b = 0 makes the update exactly zero at step 0; lambda_d starts
        # at one small constant (VeRA section 3; PEFT reset_vera_parameters)
        self.lambda_b = nn.Parameter(torch.zeros(d, **factory))
        self.lambda_d = nn.Parameter(torch.full((r,), float(d_initial), **factory))
        self.r = r
        self.dropout_p = float(dropout)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    @property
    def W0(self) -> torch.Tensor:
        """The frozen pretrained weight W0, shape (d, k); see `unmerged_W0`."""
        return unmerged_W0(self.base.weight, self.merged)

    def sliced_projections(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This layer's views A[:, :k] (r, k) and B[:d, :] (d, r) of the shared pair."""
        d, k = self.base.weight.shape
        return self.A[:, :k], self.B[:d, :]

    def delta_weight(self) -> torch.Tensor:
        """ΔW = Λ_b B Λ_d A, shape (d, k). Materialised only for merging."""
        A, B = self.sliced_projections()
        return (self.lambda_b[:, None] * B) @ (self.lambda_d[:, None] * A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h = W0 x + b0 + lambda_b ⊙ (B (lambda_d ⊙ (A dropout(x)))), x: (..., k)."""
        if self.merged:
            return self.base(x)  # W0 + ΔW is already in base.weight
        A, B = self.sliced_projections()
        # h = W0 x + b0 + Λ_b B Λ_d A x   (VeRA section 3); diagonal matrices are
        # elementwise products, so nothing of size d x d is ever built
        h0 = self.base(x)  # (n, d)
        u = self.lambda_d * (self.dropout(x) @ A.T)  # (n, k) -> (n, r)
        return h0 + self.lambda_b * (u @ B.T)  # (n, r) -> (n, d)

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

    def extra_repr(self) -> str:
        d, k = self.base.weight.shape
        return (
            f"d={d}, k={k}, r={self.r}, dropout={self.dropout_p}, merged={self.merged}"
        )


def apply_vera(
    model: nn.Module,
    target_modules: str | list[str] | tuple[str, ...],
    r: int = 256,
    prng_key: int = 0,
    d_initial: float = 0.1,
    dropout: float = 0.0,
) -> nn.Module:
    """Wrap each targeted `nn.Linear` in a `VeRALinear` sharing one (A, B) pair.

    The pair is sized to the largest targeted layer, (r, k_max) and
    (d_max, r), as PEFT's `VeraModel._find_dim` does; everything but the
    lambda vectors is frozen. The model is changed in place and returned.

    Args:
        model: any module tree.
        target_modules: names or name suffixes (PEFT's list rules), or a regex.
        r: the rank of the shared projections (PEFT's default is 256).
        prng_key: seed of the projections (PEFT's `projection_prng_key`).
        d_initial: starting value of every lambda_d entry.
        dropout: dropout on each adapter branch's input.
    """
    names = find_targets(model, target_modules)
    shapes = [model.get_submodule(n).weight.shape for n in names]
    d_max = max(s[0] for s in shapes)
    k_max = max(s[1] for s in shapes)
    A, B = vera_projections(r, d_max, k_max, prng_key)
    model.requires_grad_(False)
    for name in names:
        base = model.get_submodule(name)
        layer = VeRALinear(base, A, B, d_initial=d_initial, dropout=dropout)
        layer.train(base.training)
        model.set_submodule(name, layer)
    return model
