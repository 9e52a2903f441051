"""IA³ (lora_ref.ia3): the claims of docs/ia3.md, and equality with PEFT's IA3.

PEFT is built with `init_ia3_weights=False` (ℓ random, not ones: at ones every
comparison would pass vacuously) and its vectors are copied into ours.
"""

import copy

import pytest
import torch
from peft import IA3Config, get_peft_model
from torch import nn

from lora_ref import (
    IA3Linear,
    TinyMLP,
    apply_ia3,
    ia3_layers,
    merge_ia3,
    parameter_counts,
    tiny_llama,
)

LLAMA_TARGETS = ["k_proj", "v_proj", "down_proj"]  # PEFT's default for llama
LLAMA_FF = ["down_proj"]


def make_pair(base, targets, ff, dtype):
    """The same base twice: PEFT's IA3 with random ℓ, and ours with ℓ copied."""
    torch.manual_seed(1)
    config = IA3Config(
        target_modules=targets, feedforward_modules=ff, init_ia3_weights=False
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    ours = apply_ia3(copy.deepcopy(base), targets, ff)
    with torch.no_grad():
        for name, layer in ia3_layers(ours).items():
            peft_layer = theirs.base_model.model.get_submodule(name)
            assert layer.feedforward == peft_layer.is_feedforward
            layer.ell.copy_(peft_layer.ia3_l["default"].flatten())
    return ours.to(dtype), theirs.to(dtype)


def mlp(dtype):
    torch.manual_seed(0)
    return TinyMLP(k=16, hidden=32, d=4).to(dtype), torch.randn(8, 16, dtype=dtype)


def llama(dtype):
    ids = torch.randint(0, 128, (2, 11), generator=torch.Generator().manual_seed(0))
    return tiny_llama(seed=0, dtype=dtype), ids


def run(model, x):
    return model(x) if x.is_floating_point() else model(input_ids=x).logits


CASES = [
    pytest.param(mlp, ["lin0", "lin1"], ["lin1"], id="mlp-with-bias"),
    pytest.param(llama, LLAMA_TARGETS, LLAMA_FF, id="tiny-llama-gqa"),
]
DTYPES = [
    pytest.param(torch.float64, {"rtol": 0, "atol": 1e-10}, id="float64"),
    pytest.param(torch.float32, {}, id="float32"),
]


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("make,targets,ff", CASES)
def test_ia3_matches_peft_outputs_and_gradients(make, targets, ff, dtype, tol):
    base, x = make(dtype)
    ours, theirs = make_pair(base, targets, ff, dtype)
    out_ours, out_theirs = run(ours, x), run(theirs, x)
    assert not torch.allclose(out_ours, run(base, x))  # ℓ != 1 changes the output
    torch.testing.assert_close(out_ours, out_theirs, **tol)
    out_ours.square().mean().backward()
    out_theirs.square().mean().backward()
    for name, layer in ia3_layers(ours).items():
        peft_ell = theirs.base_model.model.get_submodule(name).ia3_l["default"]
        assert layer.ell.grad.abs().sum() > 0
        torch.testing.assert_close(layer.ell.grad, peft_ell.grad.flatten(), **tol)


@pytest.mark.parametrize("make,targets,ff", CASES)
def test_ia3_matches_peft_merge(make, targets, ff):
    base, x = make(torch.float64)
    ours, theirs = make_pair(base, targets, ff, torch.float64)
    merged_theirs = theirs.merge_and_unload()
    merged_ours = merge_ia3(ours)
    theirs_state = merged_theirs.state_dict()
    assert list(merged_ours.state_dict()) == list(theirs_state)
    for name, tensor in merged_ours.state_dict().items():
        torch.testing.assert_close(tensor, theirs_state[name], rtol=0, atol=1e-12)
    assert not ia3_layers(merged_ours)


def test_ia3_is_the_base_layer_at_init():
    torch.manual_seed(0)
    base = nn.Linear(8, 6)
    x = torch.randn(3, 8)
    for ff in (False, True):
        layer = IA3Linear(copy.deepcopy(base), feedforward=ff)
        assert torch.equal(layer.ell, torch.ones_like(layer.ell))
        assert torch.equal(layer(x), base(x))


def test_output_scale_has_d_entries_and_input_scale_has_k():
    base = nn.Linear(8, 6)
    assert IA3Linear(copy.deepcopy(base)).ell.shape == (6,)
    assert IA3Linear(copy.deepcopy(base), feedforward=True).ell.shape == (8,)


def test_output_scale_also_scales_the_bias_input_scale_does_not():
    torch.manual_seed(0)
    base = nn.Linear(8, 6)
    zero = torch.zeros(1, 8)  # W0 0 = 0, so the output is the (scaled) bias
    out = IA3Linear(copy.deepcopy(base))
    inp = IA3Linear(copy.deepcopy(base), feedforward=True)
    with torch.no_grad():
        out.ell.fill_(2.0)
        inp.ell.fill_(2.0)
    torch.testing.assert_close(out(zero), 2 * base.bias[None])
    torch.testing.assert_close(inp(zero), base.bias[None])


@pytest.mark.parametrize("ff", [False, True])
def test_merged_forward_equals_unmerged_and_merging_twice_is_a_no_op(ff):
    torch.manual_seed(0)
    layer = IA3Linear(nn.Linear(8, 6).double(), feedforward=ff)
    with torch.no_grad():
        layer.ell.uniform_(0.5, 1.5)
    x = torch.randn(4, 8, dtype=torch.float64)
    before = layer(x)
    layer.merge()
    layer.merge()
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-12)


def test_unmerge_restores_the_base_weight_up_to_the_epsilon():
    torch.manual_seed(0)
    base = nn.Linear(8, 6).double()
    W0 = base.weight.detach().clone()
    layer = IA3Linear(base)
    with torch.no_grad():
        layer.ell.uniform_(0.5, 1.5)
    layer.merge()
    layer.unmerge()
    torch.testing.assert_close(layer.W0, W0, rtol=1e-7, atol=0)


def test_only_ell_is_trainable():
    model = apply_ia3(tiny_llama(), LLAMA_TARGETS, LLAMA_FF)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.endswith(".ell") for n in names)


def test_ia3_count_on_tiny_llama_equals_peft_and_the_formula():
    config = tiny_llama().config
    ours = apply_ia3(tiny_llama(), LLAMA_TARGETS, LLAMA_FF)
    theirs = get_peft_model(tiny_llama(), IA3Config(task_type="CAUSAL_LM"))
    d_kv = config.num_key_value_heads * config.head_dim
    formula = config.num_hidden_layers * (2 * d_kv + config.intermediate_size)
    assert parameter_counts(ours)[0] == formula
    assert theirs.get_nb_trainable_parameters()[0] == formula


def test_feedforward_modules_must_be_targets():
    with pytest.raises(ValueError, match="must be a subset of target_modules"):
        apply_ia3(TinyMLP(), ["lin0"], ["lin1"])


def test_ia3_wraps_only_linear_layers():
    with pytest.raises(ValueError, match="wraps an nn.Linear"):
        IA3Linear(nn.Conv1d(2, 2, 1))
