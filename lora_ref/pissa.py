"""PiSSA: start LoRA from the top-r singular triplets of W0, freeze the rest.

Implements Meng, Wang and Zhang, "PiSSA: Principal Singular Values and Singular
Vectors Adaptation of Large Language Models" (arXiv 2404.02948, section 3):
with W0 = U Σ Vᵀ, the adapter starts as the principal part γ B A = U_r Σ_r V_rᵀ
and the base keeps the residual W_res = W0 - γ B A, so the layer's output is
unchanged at initialisation. Taught in the chapter "PiSSA" (docs/pissa.md).
PEFT counterparts (peft 0.21.2): `LoraConfig(init_lora_weights="pissa")`, i.e.
`LoraLayer.pissa_init` in `tuners/lora/layer.py`, and
`LoraModel.subtract_mutated_init` in `tuners/lora/model.py` for turning a
trained PiSSA adapter into a plain LoRA one.

Layout (docs/notation.md): W0 is (d, k); A (r, k) = sqrt(Σ_r / γ) V_rᵀ and
B (d, r) = U_r sqrt(Σ_r / γ), PEFT's `lora_A` and `lora_B`.
"""

import torch
from torch import nn

from lora_ref.inject import apply_lora, find_targets
from lora_ref.lora import LoRALinear


@torch.no_grad()
def pissa_init(layer: LoRALinear) -> LoRALinear:
    """Re-initialise a `LoRALinear` with PiSSA, in place, and return it.

    A and B get the top-r singular triplets of W0, split evenly (a square root
    of each singular value on each side) and divided by the scaling, so that
    ΔW = γ B A is exactly the best rank-r approximation of W0. The base weight
    becomes the residual W0 - ΔW. The SVD runs in float32 for half-precision
    weights (PEFT runs it in float32 for every dtype and refuses float64).

    Args:
        layer: an unmerged `LoRALinear`; its base weight is overwritten.

    Raises:
        ValueError: the layer is merged, or r exceeds min(d, k).
    """
    if layer.merged:
        raise ValueError("pissa_init needs an unmerged layer: unmerge() it first")
    d, k = layer.W0.shape
    if layer.r > min(d, k):
        raise ValueError(
            f"r={layer.r} exceeds min(d, k)={min(d, k)}: W0 has no more "
            "singular triplets than that"
        )
    dtype = layer.W0.dtype
    W = layer.W0.to(torch.promote_types(dtype, torch.float32))
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)  # W0 = U diag(S) Vh
    root = torch.sqrt(S[: layer.r] / layer.scaling)  # sqrt(Σ_r / γ), (r,)
    A = root[:, None] * Vh[: layer.r]  # (r, k)
    B = U[:, : layer.r] * root[None, :]  # (d, r)
    layer.A.copy_(A.to(dtype))
    layer.B.copy_(B.to(dtype))
    # W_res = W0 - γ B A: computed before rounding, as PEFT does
    layer.base.weight.copy_((W - layer.scaling * B @ A).to(dtype))
    return layer


def apply_pissa(
    model: nn.Module,
    target_modules: str | list[str] | tuple[str, ...],
    r: int = 8,
    alpha: float = 8,
    dropout: float = 0.0,
    use_rslora: bool = False,
) -> nn.Module:
    """`apply_lora`, then `pissa_init` on every new layer; returns the model.

    Like `get_peft_model` with `init_lora_weights="pissa"`: the targeted base
    weights become residuals, and the model's output is unchanged.
    """
    names = find_targets(model, target_modules)
    apply_lora(model, target_modules, r, alpha, dropout, use_rslora)
    for name in names:
        pissa_init(model.get_submodule(name))
    return model


def pissa_to_lora(
    A: torch.Tensor, B: torch.Tensor, A0: torch.Tensor, B0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a trained PiSSA adapter into a rank-2r LoRA for the original W0.

    Training moved the factors from (A0, B0) to (A, B) on top of the residual,
    so the full update relative to W0 is γ (B A - B0 A0) = γ `[B | -B0] @ [A ; A0]`.
    Used with the ORIGINAL base weight, with rank 2r and alpha doubled
    (alpha * sqrt(2) with rsLoRA) so that γ is unchanged, it reproduces the
    trained model. This is what PEFT's `save_pretrained(...,
    path_initial_model_for_weight_conversion=...)` saves.

    Args:
        A: trained A, shape (r, k).
        B: trained B, shape (d, r).
        A0: A at initialisation (from `pissa_init`), shape (r, k).
        B0: B at initialisation, shape (d, r).

    Returns:
        (A', B') of shapes (2r, k) and (d, 2r).

    Raises:
        ValueError: the shapes of the trained and initial factors differ.
    """
    if A.shape != A0.shape or B.shape != B0.shape:
        raise ValueError(
            f"trained and initial factors must have the same shapes, got A "
            f"{tuple(A.shape)} vs A0 {tuple(A0.shape)}, B {tuple(B.shape)} vs "
            f"B0 {tuple(B0.shape)}"
        )
    return torch.cat([A, A0], dim=0), torch.cat([B, -B0], dim=1)
