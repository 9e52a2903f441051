"""IA³: learned vectors that rescale keys, values and the feed-forward input.

Implements Liu et al., "Few-Shot Parameter-Efficient Fine-Tuning is Better and
Cheaper than In-Context Learning" (NeurIPS 2022, arXiv 2205.05638), section 3.3:
softmax(Q (ℓ_k ⊙ Kᵀ) / √d_k)(ℓ_v ⊙ V) and (ℓ_ff ⊙ γ(W1 x)) W2. Taught in the
chapter "IA³" (docs/ia3.md); the PEFT counterpart is `peft.tuners.ia3.layer.Linear`
(peft 0.21.2), which this module matches numerically.

Layout (docs/notation.md): W0 has shape (d, k). A non-feed-forward target
scales its output, ℓ of shape (d,); a feed-forward target scales its input,
ℓ of shape (k,). The vector is called `ell` in code (ruff's E741 rejects `l`).
"""

import torch
from torch import nn

from lora_ref.inject import find_targets
from lora_ref.lora import unmerged_W0


class IA3Linear(nn.Module):
    """A frozen `nn.Linear` whose output (or, for feed-forward targets, input) is
    rescaled element-wise by a trainable vector ℓ, initialised to ones.

    Worked shapes: LLaMA-7B's `k_proj` is `nn.Linear(4096, 4096)`, so ℓ has
    4,096 entries; its `down_proj` is `nn.Linear(11008, 4096)` and, as a
    feed-forward target, gets ℓ with 11,008 entries (one per input).

    Args:
        base: the pretrained layer. It is frozen in place and kept as `.base`.
        feedforward: scale the input (h = W0 (ℓ ⊙ x) + b0) instead of the
            output (h = ℓ ⊙ (W0 x + b0)).
    """

    def __init__(self, base: nn.Linear, feedforward: bool = False) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"IA3Linear wraps an nn.Linear, got {type(base).__name__}")
        self.base = base
        self.base.requires_grad_(False)  # W0 and b0 stay frozen
        self.feedforward = feedforward
        d, k = base.weight.shape
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        # ones: the layer is exactly the base layer at step 0 (IA³ section 3.3;
        # PEFT's IA3Layer.reset_ia3_parameters fills with 1.0)
        self.ell = nn.Parameter(torch.ones(k if feedforward else d, **factory))
        self.merged = False

    @property
    def W0(self) -> torch.Tensor:
        """The frozen pretrained weight W0, shape (d, k); see `unmerged_W0`."""
        return unmerged_W0(self.base.weight, self.merged)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h = ℓ ⊙ (W0 x + b0), or h = W0 (ℓ ⊙ x) + b0 for a feed-forward target."""
        if self.merged:
            return self.base(x)
        if self.feedforward:
            return self.base(x * self.ell)  # (n, k) scaled per input, -> (n, d)
        return self.base(x) * self.ell  # (n, d) scaled per output

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ℓ into W0 (and b0 for an output scale); idempotent.

        Output scale: diag(ℓ) W0 scales row i of W0 (and b0[i]) by ℓ[i].
        Input scale: W0 diag(ℓ) scales column j of W0 by ℓ[j]; b0 is untouched,
        because it is added after the product.
        """
        if self.merged:
            return
        if self.feedforward:
            self.base.weight.mul_(self.ell[None, :])  # (d, k) * (1, k)
        else:
            self.base.weight.mul_(self.ell[:, None])  # (d, k) * (d, 1)
            if self.base.bias is not None:
                self.base.bias.mul_(self.ell)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Divide ℓ back out. Approximate: PEFT divides by ℓ + 1e-8 too, and
        warns that the result "can be inaccurate" (an entry of ℓ near 0 loses W0)."""
        if not self.merged:
            return
        ell = self.ell + 1e-8
        if self.feedforward:
            self.base.weight.div_(ell[None, :])
        else:
            self.base.weight.div_(ell[:, None])
            if self.base.bias is not None:
                self.base.bias.div_(ell)
        self.merged = False

    def extra_repr(self) -> str:
        d, k = self.base.weight.shape
        return f"d={d}, k={k}, feedforward={self.feedforward}, merged={self.merged}"


def apply_ia3(
    model: nn.Module,
    target_modules: list[str] | tuple[str, ...],
    feedforward_modules: list[str] | tuple[str, ...] = (),
) -> nn.Module:
    """Wrap each targeted `nn.Linear` in an `IA3Linear` and freeze everything else.

    PEFT's defaults for Llama (`IA3Config` with no targets) are
    `target_modules=["k_proj", "v_proj", "down_proj"]`,
    `feedforward_modules=["down_proj"]`.

    Args:
        model: any module tree; changed in place and returned.
        target_modules: names or name suffixes of the layers to rescale.
        feedforward_modules: the subset whose input (not output) is rescaled.

    Raises:
        ValueError: a feed-forward module is not among the targets, or the
            targets match nothing.
    """
    names = find_targets(model, list(target_modules))
    ff_names = (
        set(find_targets(model, list(feedforward_modules)))
        if (feedforward_modules)
        else set()
    )
    if not ff_names <= set(names):
        raise ValueError(
            f"feedforward_modules {sorted(feedforward_modules)} must be a subset of "
            f"target_modules {sorted(target_modules)} (PEFT's IA3Config rule)"
        )
    for name in names:
        base = model.get_submodule(name)
        layer = IA3Linear(base, feedforward=name in ff_names)
        layer.train(base.training)
        model.set_submodule(name, layer)
    mark_only_ia3_trainable(model)
    return model


def ia3_layers(model: nn.Module) -> dict[str, IA3Linear]:
    """The model's `IA3Linear` layers by qualified name, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, IA3Linear)}


def mark_only_ia3_trainable(model: nn.Module) -> nn.Module:
    """Freeze every parameter except the ℓ of each `IA3Linear`."""
    model.requires_grad_(False)
    for layer in ia3_layers(model).values():
        layer.ell.requires_grad_(True)
    return model


def merge_ia3(model: nn.Module) -> nn.Module:
    """Merge every `IA3Linear` and put its plain `nn.Linear` back in its place."""
    for name, layer in ia3_layers(model).items():
        layer.merge()
        model.set_submodule(name, layer.base)
    return model
