"""PiSSA (lora_ref.pissa): the chapter's claims, and equality with PEFT's
init_lora_weights="pissa" and its conversion to a plain LoRA adapter.

PEFT refuses to run PiSSA on float64 weights, so both sides are initialised in
float32 (the same SVD, so the factors agree to the last bit or nearly), then
cast to float64 for the forward, gradient and merge comparisons. PiSSA's B is
non-zero by construction, so no comparison is vacuous.
"""

import copy

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from torch import nn

from lora_ref import (
    LoRALinear,
    TinyMLP,
    apply_pissa,
    lora_layers,
    pissa_init,
    pissa_to_lora,
)
from lora_ref.spectra import best_rank_r

TARGETS = ["lin0", "lin1"]


def make_pair(r=4, alpha=8, use_rslora=False):
    """PEFT's PiSSA model and ours, both initialised from the same float32 base."""
    torch.manual_seed(0)
    base = TinyMLP(k=16, hidden=32, d=8)
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        use_rslora=use_rslora,
        target_modules=TARGETS,
        init_lora_weights="pissa",
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    ours = apply_pissa(copy.deepcopy(base), TARGETS, r, alpha, use_rslora=use_rslora)
    return base, ours, theirs


def peft_layer(theirs, name):
    return theirs.base_model.model.get_submodule(name)


@pytest.mark.parametrize("use_rslora", [False, True], ids=["alpha-over-r", "rslora"])
def test_pissa_matches_peft_init(use_rslora):
    _, ours, theirs = make_pair(use_rslora=use_rslora)
    for name, layer in lora_layers(ours).items():
        theirs_layer = peft_layer(theirs, name)
        torch.testing.assert_close(layer.A, theirs_layer.lora_A["default"].weight)
        torch.testing.assert_close(layer.B, theirs_layer.lora_B["default"].weight)
        torch.testing.assert_close(layer.W0, theirs_layer.base_layer.weight)


def test_pissa_matches_peft_forward_gradients_and_merge_float64():
    _, ours, theirs = make_pair()
    ours, theirs = ours.double(), theirs.double()
    x = torch.randn(6, 16, dtype=torch.float64)
    y_ours, y_theirs = ours(x), theirs(x)
    torch.testing.assert_close(y_ours, y_theirs, rtol=0, atol=1e-10)
    y_ours.pow(2).sum().backward()
    y_theirs.pow(2).sum().backward()
    for name, layer in lora_layers(ours).items():
        theirs_layer = peft_layer(theirs, name)
        for ours_p, theirs_p in (
            (layer.A, theirs_layer.lora_A["default"].weight),
            (layer.B, theirs_layer.lora_B["default"].weight),
        ):
            assert ours_p.grad.abs().max() > 0
            torch.testing.assert_close(ours_p.grad, theirs_p.grad, rtol=0, atol=1e-10)
    for layer in lora_layers(ours).values():
        layer.merge()
    theirs.merge_adapter()
    for name, layer in lora_layers(ours).items():
        torch.testing.assert_close(
            layer.base.weight,
            peft_layer(theirs, name).base_layer.weight,
            rtol=0,
            atol=1e-10,
        )


def test_pissa_leaves_the_output_unchanged_at_init():
    base, ours, _ = make_pair()
    x = torch.randn(6, 16)
    torch.testing.assert_close(ours(x), base(x))
    for name, layer in lora_layers(ours).items():
        W0 = base.get_submodule(name).weight
        torch.testing.assert_close(layer.W0 + layer.delta_weight(), W0)


def test_pissa_adapter_is_the_best_rank_r_part_of_W0():
    base, ours, _ = make_pair(r=3)
    for name, layer in lora_layers(ours).items():
        W0 = base.get_submodule(name).weight.detach()
        torch.testing.assert_close(layer.delta_weight(), best_rank_r(W0, 3).float())
        # the residual keeps the other singular values: σ4, σ5, ... of W0
        tail = torch.linalg.svdvals(W0)[3:]
        torch.testing.assert_close(torch.linalg.svdvals(layer.W0)[: len(tail)], tail)


def test_pissa_to_lora_matches_peft_conversion(tmp_path):
    base, ours, theirs = make_pair()
    A0 = {n: layer.A.detach().clone() for n, layer in lora_layers(ours).items()}
    B0 = {n: layer.B.detach().clone() for n, layer in lora_layers(ours).items()}
    theirs.peft_config["default"].init_lora_weights = True  # PEFT's recipe
    theirs.save_pretrained(tmp_path / "init")
    torch.manual_seed(3)  # "training": the same change on both sides
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            dA, dB = 0.1 * torch.randn_like(layer.A), 0.1 * torch.randn_like(layer.B)
            layer.A += dA
            layer.B += dB
            peft_layer(theirs, name).lora_A["default"].weight += dA
            peft_layer(theirs, name).lora_B["default"].weight += dB
    x = torch.randn(6, 16)
    trained = ours(x)
    theirs.save_pretrained(
        tmp_path / "converted",
        path_initial_model_for_weight_conversion=str(tmp_path / "init"),
    )
    saved = load_file(tmp_path / "converted" / "adapter_model.safetensors")
    converted = copy.deepcopy(base)  # the ORIGINAL weights, not the residual
    for name, layer in lora_layers(ours).items():
        A2, B2 = pissa_to_lora(layer.A, layer.B, A0[name], B0[name])
        assert A2.shape == (8, layer.W0.shape[1]) and B2.shape == (layer.W0.shape[0], 8)
        torch.testing.assert_close(A2, saved[f"base_model.model.{name}.lora_A.weight"])
        torch.testing.assert_close(B2, saved[f"base_model.model.{name}.lora_B.weight"])
        lora = LoRALinear(converted.get_submodule(name), r=8, alpha=16)
        with torch.no_grad():
            lora.A.copy_(A2)
            lora.B.copy_(B2)
        converted.set_submodule(name, lora)
    torch.testing.assert_close(converted(x), trained)
    loaded = PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "converted")
    assert loaded.peft_config["default"].r == 8
    torch.testing.assert_close(loaded(x), trained)


def test_pissa_rejects_bad_input():
    layer = LoRALinear(nn.Linear(4, 3), r=4, alpha=8)
    with pytest.raises(ValueError, match="exceeds min"):
        pissa_init(layer)
    with pytest.raises(ValueError, match="same shapes"):
        pissa_to_lora(
            torch.ones(2, 4), torch.ones(3, 2), torch.ones(3, 4), torch.ones(3, 3)
        )
