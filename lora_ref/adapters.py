"""Bottleneck adapters (Houlsby; Pfeiffer): small residual MLPs inserted in each layer.

Implements Houlsby et al., "Parameter-Efficient Transfer Learning for NLP"
(ICML 2019, arXiv 1902.00751), section 2.1 and Figure 2: an adapter is
h + W_up f(W_down h + b_down) + b_up with a bottleneck of width m (here
`bottleneck`), placed twice per layer, after the projection that follows
attention and after the feed-forward sub-layer, before the skip connection;
it adds 2·m·d_model + m + d_model parameters (section 2.1) and starts near the
identity. Pfeiffer et al., "AdapterFusion" (EACL 2021, arXiv 2005.00247) keep
one adapter per layer, after the feed-forward sub-layer. Taught in "Bottleneck
adapters" (docs/adapters.md). PEFT 0.21.2 has no bottleneck adapter, and
AdapterHub's `adapters` pins transformers 4.x, so the tests check this module
against the papers' formulas and counts instead.

Layout: W_down is (m, d_model) and W_up is (d_model, m), PyTorch's (out, in).
"""

import torch
from torch import nn

from lora_ref.inject import find_targets

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
PLACEMENTS = ("houlsby", "pfeiffer")


def adapter_params(d_model: int, bottleneck: int) -> int:
    """2·m·d_model + m + d_model: the weights and biases of one adapter."""
    return 2 * bottleneck * d_model + bottleneck + d_model


class BottleneckAdapter(nn.Module):
    """h -> h + W_up f(W_down h + b_down) + b_up, a residual bottleneck MLP.

    Worked shapes: on LLaMA-7B (d_model = 4096) with m = 64, W_down is
    (64, 4096) and W_up is (4096, 64): 2 · 64 · 4096 + 64 + 4096 = 528,448
    numbers per adapter.

    Args:
        d_model: width of the hidden states it reads and writes.
        bottleneck: m, the width of the bottleneck (m << d_model).
        activation: f, one of "relu", "gelu", "silu".
        init_std: weights start N(0, init_std²) truncated at two standard
            deviations, biases at 0, so the adapter starts near the identity
            (Houlsby et al. section 2.1; section 3.6 varies this scale).
    """

    def __init__(
        self,
        d_model: int,
        bottleneck: int,
        activation: str = "relu",
        init_std: float = 1e-2,
    ) -> None:
        super().__init__()
        for name, value in {"d_model": d_model, "bottleneck": bottleneck}.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        if not init_std >= 0:
            raise ValueError(f"init_std must be >= 0, got {init_std!r}")
        self.W_down = nn.Parameter(torch.empty(bottleneck, d_model))
        self.b_down = nn.Parameter(torch.zeros(bottleneck))
        self.W_up = nn.Parameter(torch.empty(d_model, bottleneck))
        self.b_up = nn.Parameter(torch.zeros(d_model))
        self.f = ACTIVATIONS[activation]()
        for W in (self.W_down, self.W_up):
            if init_std == 0:
                nn.init.zeros_(W)  # exactly the identity (and no gradient to W_down)
            else:
                nn.init.trunc_normal_(W, std=init_std, a=-2 * init_std, b=2 * init_std)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h + W_up f(W_down h + b_down) + b_up, for h of shape (..., d_model)."""
        z = self.f(h @ self.W_down.T + self.b_down)  # (..., m): the bottleneck
        return h + z @ self.W_up.T + self.b_up  # (..., d_model), skip inside


class AdaptedSublayer(nn.Module):
    """A frozen sub-layer output projection followed by an adapter: adapter(base(x)).

    Wrapping a transformer's attention output projection (`o_proj`) or its
    feed-forward output projection (`down_proj`) puts the adapter exactly
    where Houlsby et al.'s Figure 2 does: after the projection, before the
    layer's own skip connection adds the sub-layer input back.

    Args:
        base: the pretrained projection; frozen in place and kept as `.base`.
        adapter: the trainable adapter applied to its output.
    """

    def __init__(self, base: nn.Module, adapter: BottleneckAdapter) -> None:
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


def _targets(spec: str | list[str] | tuple[str, ...]) -> str | list[str]:
    """A regex stays a string; a tuple of names becomes PEFT's list form."""
    return spec if isinstance(spec, str) else list(spec)


def apply_adapters(
    model: nn.Module,
    placement: str = "houlsby",
    bottleneck: int = 64,
    attention_output: str | list[str] = ("o_proj",),
    ffn_output: str | list[str] = ("down_proj",),
    activation: str = "relu",
    init_std: float = 1e-2,
) -> nn.Module:
    r"""Insert adapters in every layer and freeze everything else.

    Args:
        model: any module tree; changed in place and returned.
        placement: "houlsby" (after `attention_output` and after `ffn_output`,
            two per layer) or "pfeiffer" (after `ffn_output` only).
        bottleneck: m, the adapter width.
        attention_output: the projection after attention, in PEFT's target
            rules (a list of names or suffixes, or one regex for the whole
            name). Llama: ["o_proj"]; BERT: ["attention.output.dense"].
        ffn_output: the feed-forward output projection, same rules. Llama:
            ["down_proj"]; BERT: r".*layer\.\d+\.output\.dense" (a regex,
            because the suffix "output.dense" also matches the attention's).
        activation: the adapter non-linearity f.
        init_std: scale of the near-identity initialisation.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    names = find_targets(model, _targets(ffn_output))
    if placement == "houlsby":
        names = names + find_targets(model, _targets(attention_output))
    for name in names:
        base = model.get_submodule(name)
        d_model = base.weight.shape[0]
        adapter = BottleneckAdapter(d_model, bottleneck, activation, init_std)
        adapter.to(device=base.weight.device, dtype=base.weight.dtype)
        model.set_submodule(name, AdaptedSublayer(base, adapter))
    mark_only_adapters_trainable(model)
    return model


def adapter_layers(model: nn.Module) -> dict[str, BottleneckAdapter]:
    """The model's adapters by qualified name, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, BottleneckAdapter)}


def mark_only_adapters_trainable(model: nn.Module) -> nn.Module:
    """Freeze every parameter except those of the adapters."""
    model.requires_grad_(False)
    for adapter in adapter_layers(model).values():
        adapter.requires_grad_(True)
    return model
