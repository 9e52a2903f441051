"""Many LoRA adapters on one frozen base, each row of a batch using its own.

Row i of a batch with adapter j(i) computes
h_i = W0 x_i + b0 + γ_j B_j A_j x_i with j = j(i) (LoRA eq. 3, γ = α/r per
adapter). The N adapters' factors are stacked into (N, r_max, k) and
(N, d, r_max) tensors, zero-padded to the largest rank (zero rows of A meet
zero columns of B and add nothing), and each row gathers its own pair: the
batched gather-then-multiply of Punica's SGMV kernel (Chen et al. 2023,
arXiv 2310.18547, "segmented gather matrix-vector multiplication") and of
S-LoRA's custom kernels for heterogeneous batches (Sheng et al. 2023,
arXiv 2311.03285), written with `torch.bmm` instead of a custom kernel.
Taught in "Many adapters, one base" (docs/many-adapters.md). The PEFT
counterpart is `forward(..., adapter_names=[...])`, handled by
`peft.tuners.lora.layer.LoraLayer._mixed_batch_forward` (peft 0.21.2), which
loops over the distinct adapters and runs each sub-batch separately; the two
agree in float64. Inference only: the adapters are frozen buffers.

Layout (docs/notation.md): W0 is (d, k); x is (n, ..., k); row i of the
batch is x[i].
"""

from pathlib import Path

import torch
from torch import nn

from lora_ref.lora import check_lora_args
from lora_ref.peft_io import KEY, pattern_value, read_adapter

BASE = "__base__"  # PEFT's name for "no adapter on this row"


class MultiLoRALinear(nn.Module):
    """A frozen `nn.Linear` with N stacked LoRA adapters, one chosen per row.

    Worked shapes: W0 (d, k) = (64, 128) and three adapters of ranks 2, 4, 8
    stack into A (3, 8, 128) and B (3, 64, 8). For a batch x of shape
    (n, s, 128) and `adapter_index` j of shape (n,), row i gathers
    A[j[i]] (8, 128) and B[j[i]] (64, 8).

    Args:
        base: the pretrained layer, frozen in place and kept as `.base`.
        A: one (r_j, k) factor per adapter j.
        B: one (d, r_j) factor per adapter j, in the same order.
        scaling: γ_j = α_j / r_j (or α_j / √r_j) per adapter.

    Raises:
        ValueError: no adapters, lists of different lengths, or shapes that
            do not fit the base layer.
    """

    def __init__(
        self,
        base: nn.Linear,
        A: list[torch.Tensor],
        B: list[torch.Tensor],
        scaling: list[float],
    ) -> None:
        super().__init__()
        if not A or not len(A) == len(B) == len(scaling):
            raise ValueError(
                f"need one A, one B and one scaling per adapter, got {len(A)} A, "
                f"{len(B)} B and {len(scaling)} scalings"
            )
        d, k = base.weight.shape
        for j, (A_j, B_j) in enumerate(zip(A, B, strict=True)):
            r = A_j.shape[0]
            if A_j.shape != (r, k) or B_j.shape != (d, r):
                raise ValueError(
                    f"adapter {j}: W0 is (d, k) = {(d, k)}, so A must be (r, {k}) "
                    f"and B ({d}, r); got A {tuple(A_j.shape)}, B {tuple(B_j.shape)}"
                )
        self.base = base
        self.base.requires_grad_(False)
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        r_max = max(A_j.shape[0] for A_j in A)
        # zero-padding to r_max: the extra rows of A meet zero columns of B
        A_stack = torch.zeros(len(A), r_max, k, **factory)  # (N, r_max, k)
        B_stack = torch.zeros(len(A), d, r_max, **factory)  # (N, d, r_max)
        for j, (A_j, B_j) in enumerate(zip(A, B, strict=True)):
            A_stack[j, : A_j.shape[0]] = A_j
            B_stack[j, :, : B_j.shape[1]] = B_j
        self.register_buffer("A", A_stack)
        self.register_buffer("B", B_stack)
        self.register_buffer("scaling", torch.tensor(scaling, **factory))
        # which adapter each row uses; -1 = the base alone (set by set_adapter_index)
        self.register_buffer("adapter_index", torch.zeros(1, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """h_i = W0 x_i + b0 + γ_j B_j A_j x_i with j = j(i), for every row i."""
        n, k = x.shape[0], x.shape[-1]
        idx = self.adapter_index  # (n,), or (1,): the same adapter on every row
        if idx.numel() == 1:
            idx = idx.expand(n)
        if idx.shape != (n,):
            raise ValueError(f"adapter_index has {idx.numel()} rows, the batch {n}")
        h0 = self.base(x)  # (n, ..., d)
        # gather each row's factors, as S-LoRA's / Punica's batched kernels do
        A = self.A[idx.clamp(min=0)]  # (n, r_max, k)
        B = self.B[idx.clamp(min=0)]  # (n, d, r_max)
        gamma = torch.where(idx < 0, 0.0, self.scaling[idx.clamp(min=0)])  # (n,)
        xs = x.reshape(n, -1, k)  # (n, t, k), t = all positions of a row
        h_lora = torch.bmm(torch.bmm(xs, A.transpose(1, 2)), B.transpose(1, 2))
        # (n, t, k) -> (n, t, r_max) -> (n, t, d)
        return h0 + (gamma.view(n, 1, 1) * h_lora).reshape(h0.shape)


def load_peft_adapters(model: nn.Module, directories: list[str | Path]) -> nn.Module:
    """Install N PEFT-saved LoRA adapters as `MultiLoRALinear` layers.

    Adapter j is `directories[j]`. A module that some adapters do not adapt
    gets zero factors for them (a zero update).

    Args:
        model: the plain base model the adapters were trained on.
        directories: adapter directories written by PEFT's `save_pretrained`.

    Returns:
        The model, with every adapted `nn.Linear` replaced.

    Raises:
        ValueError: no directories, an adapter `read_adapter` refuses, or a
            module the model lacks or that is not an `nn.Linear`.
    """
    if not directories:
        raise ValueError("give at least one adapter directory")
    per_module: dict[str, dict[int, dict[str, torch.Tensor]]] = {}
    gammas: dict[str, dict[int, float]] = {}
    for j, directory in enumerate(directories):
        config, tensors = read_adapter(directory)
        for key, tensor in tensors.items():
            m = KEY.match(key)
            if m is None:
                raise ValueError(f"{directory}: {key!r} is not a LoRA A or B")
            per_module.setdefault(m["module"], {}).setdefault(j, {})[m["factor"]] = (
                tensor
            )
            r = pattern_value(
                config.get("rank_pattern") or {}, m["module"], config["r"]
            )
            alpha = pattern_value(
                config.get("alpha_pattern") or {}, m["module"], config["lora_alpha"]
            )
            check_lora_args(r, alpha, config.get("lora_dropout", 0.0))
            rs = config.get("use_rslora", False)
            gammas.setdefault(m["module"], {})[j] = alpha / (r**0.5 if rs else r)
    for name in per_module:
        base = model.get_submodule(name)
        if not isinstance(base, nn.Linear):
            raise ValueError(f"{name!r} is a {type(base).__name__}, not an nn.Linear")
    for name, factors in per_module.items():
        base = model.get_submodule(name)
        d, k = base.weight.shape
        zero_A, zero_B = torch.zeros(1, k), torch.zeros(d, 1)
        As = [factors.get(j, {}).get("A", zero_A) for j in range(len(directories))]
        Bs = [factors.get(j, {}).get("B", zero_B) for j in range(len(directories))]
        gamma = [gammas[name].get(j, 0.0) for j in range(len(directories))]
        parent, _, child = name.rpartition(".")
        layer = MultiLoRALinear(base, As, Bs, gamma)
        setattr(model.get_submodule(parent) if parent else model, child, layer)
    return model


def set_adapter_index(model: nn.Module, index: torch.Tensor) -> None:
    """Choose each row's adapter in every `MultiLoRALinear` of `model`.

    Args:
        model: a model with `MultiLoRALinear` layers.
        index: (n,) integer tensor; row i uses adapter index[i], -1 the base.

    Raises:
        ValueError: an index outside [-1, N).
    """
    for layer in model.modules():
        if isinstance(layer, MultiLoRALinear):
            if index.min() < -1 or index.max() >= layer.A.shape[0]:
                raise ValueError(
                    f"adapter indices must be in [-1, {layer.A.shape[0]}), got "
                    f"{index.tolist()}"
                )
            layer.adapter_index = index.to(layer.A.device, torch.long)


def adapter_index(names: list[str], adapters: list[str]) -> torch.Tensor:
    """Row indices for PEFT-style `adapter_names` ("__base__" = no adapter).

    Raises:
        ValueError: a name that is neither an adapter nor "__base__".
    """
    unknown = sorted(set(names) - set(adapters) - {BASE})
    if unknown:
        raise ValueError(f"unknown adapters {unknown}; known: {adapters} and {BASE!r}")
    return torch.tensor([adapters.index(a) if a != BASE else -1 for a in names])
