"""VeRA (lora_ref.vera) against its formula and against PEFT 0.21.2's VeraModel.

PEFT is built with `init_weights=False` and then given random lambda vectors
(at the default init lambda_b = 0 and every comparison would pass vacuously);
the same values are copied into ours. The shared projections are NOT copied:
ours are drawn from the same `projection_prng_key` and must come out equal.
"""

import copy

import pytest
import torch
from peft import VeraConfig, get_peft_model
from torch import nn

from lora_ref import (
    TinyMLP,
    VeRALinear,
    apply_vera,
    parameter_counts,
    tiny_llama,
    vera_projections,
)

DTYPES = [
    pytest.param(torch.float64, id="float64"),
    pytest.param(torch.float32, id="float32"),
]


def tolerances(dtype):
    return {"rtol": 0, "atol": 1e-10} if dtype == torch.float64 else {}


def vera_layers(model):
    return {n: m for n, m in model.named_modules() if isinstance(m, VeRALinear)}


def make_pair(base, targets, dtype, r=4, prng_key=3):
    """PEFT's VeRA and ours on copies of `base`, with the same random lambdas."""
    config = VeraConfig(
        r=r, target_modules=targets, projection_prng_key=prng_key, init_weights=False
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    ours = apply_vera(copy.deepcopy(base), targets, r=r, prng_key=prng_key)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, layer in vera_layers(ours).items():
            peft_layer = theirs.base_model.model.get_submodule(name)
            lambda_b = peft_layer.vera_lambda_b["default"]
            lambda_d = peft_layer.vera_lambda_d["default"]
            lambda_b.copy_(torch.randn_like(lambda_b))
            lambda_d.copy_(torch.randn_like(lambda_d))
            layer.lambda_b.copy_(lambda_b)
            layer.lambda_d.copy_(lambda_d)
    return ours.to(dtype), theirs.to(dtype)


def mlp():
    torch.manual_seed(0)
    return TinyMLP(k=16, hidden=32, d=4), ["lin0", "lin1"]


def llama():
    return tiny_llama(seed=0), ["q_proj", "v_proj"]  # v_proj maps 64 -> 32


CASES = [pytest.param(mlp, id="mlp"), pytest.param(llama, id="tiny-llama-gqa")]


def inputs(model, dtype):
    if isinstance(model, TinyMLP):
        return {"x": torch.randn(8, 16, generator=torch.Generator().manual_seed(0))}
    ids = torch.randint(0, 128, (2, 11), generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids}


def output(model, batch, dtype):
    if "x" in batch:
        return model(batch["x"].to(dtype))
    return model(**batch).logits


@pytest.mark.parametrize("prng_key", [0, 3, 1234])
def test_vera_projections_match_peft_for_the_same_prng_key(prng_key):
    base, targets = mlp()  # largest layer: lin0 (32, 16) and lin1 (4, 32)
    theirs = get_peft_model(
        base, VeraConfig(r=4, target_modules=targets, projection_prng_key=prng_key)
    )
    A, B = vera_projections(r=4, d=32, k=32, prng_key=prng_key)
    assert torch.equal(A, theirs.base_model.vera_A["default"])
    assert torch.equal(B, theirs.base_model.vera_B["default"])


def test_vera_projections_change_with_the_key():
    A0, B0 = vera_projections(4, 32, 16, prng_key=0)
    A1, B1 = vera_projections(4, 32, 16, prng_key=1)
    assert not torch.equal(A0, A1) and not torch.equal(B0, B1)


def test_vera_projections_are_kaiming_uniform():
    A, B = vera_projections(8, 300, 200, prng_key=0)
    assert A.abs().max() <= (6 / 200) ** 0.5 and B.abs().max() <= (6 / 8) ** 0.5
    assert A.abs().max() > 0.9 * (6 / 200) ** 0.5  # the bound is actually used


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_vera_matches_peft_forward_and_gradients(case, dtype):
    base, targets = case()
    ours, theirs = make_pair(base, targets, dtype)
    batch = inputs(base, dtype)
    h_ours, h_theirs = output(ours, batch, dtype), output(theirs, batch, dtype)
    assert h_ours.abs().max() > 0
    torch.testing.assert_close(h_ours, h_theirs, **tolerances(dtype))
    h_ours.square().mean().backward()
    h_theirs.square().mean().backward()
    for name, layer in vera_layers(ours).items():
        peft_layer = theirs.base_model.model.get_submodule(name)
        for ours_p, theirs_p in [
            (layer.lambda_b, peft_layer.vera_lambda_b["default"]),
            (layer.lambda_d, peft_layer.vera_lambda_d["default"]),
        ]:
            assert ours_p.grad.abs().max() > 0
            torch.testing.assert_close(ours_p.grad, theirs_p.grad, **tolerances(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_vera_matches_peft_merge(case, dtype):
    base, targets = case()
    ours, theirs = make_pair(base, targets, dtype)
    batch = inputs(base, dtype)
    with torch.no_grad():
        before = output(ours, batch, dtype)
        for layer in vera_layers(ours).values():
            layer.merge()
        merged = theirs.merge_and_unload()
        for name, layer in vera_layers(ours).items():
            torch.testing.assert_close(
                layer.base.weight,
                merged.get_submodule(name).weight,
                **tolerances(dtype),
            )
        torch.testing.assert_close(output(ours, batch, dtype), before)


def test_vera_update_is_zero_at_init():
    base, targets = mlp()
    model = apply_vera(copy.deepcopy(base), targets, r=4)
    x = torch.randn(5, 16)
    torch.testing.assert_close(model(x), base(x), rtol=0, atol=0)
    for layer in vera_layers(model).values():
        assert torch.all(layer.lambda_b == 0) and torch.all(layer.lambda_d == 0.1)


def test_vera_delta_weight_is_lambda_b_B_lambda_d_A():
    torch.manual_seed(0)
    A, B = vera_projections(4, 10, 12)
    layer = VeRALinear(nn.Linear(7, 5, dtype=torch.float64), A, B)
    with torch.no_grad():
        layer.lambda_b.normal_()
        layer.lambda_d.normal_()
    by_hand = (
        torch.diag(layer.lambda_b)
        @ B[:5].double()
        @ torch.diag(layer.lambda_d)
        @ A[:, :7].double()
    )
    torch.testing.assert_close(layer.delta_weight(), by_hand, rtol=0, atol=1e-12)
    x = torch.randn(3, 7, dtype=torch.float64)
    torch.testing.assert_close(layer(x) - layer.base(x), x @ by_hand.T)


def test_vera_trains_d_plus_r_per_layer_and_shares_frozen_projections():
    base, targets = mlp()
    model = apply_vera(base, targets, r=4)
    layers = vera_layers(model)
    trainable, _ = parameter_counts(model)
    assert trainable == (32 + 4) + (4 + 4)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "lin0.lambda_b",
        "lin0.lambda_d",
        "lin1.lambda_b",
        "lin1.lambda_d",
    ]
    assert layers["lin0"].A is layers["lin1"].A  # one pair, shared
    assert layers["lin0"].A.shape == (4, 32) and layers["lin0"].B.shape == (32, 4)
    assert not layers["lin0"].A.requires_grad


def test_vera_merging_twice_does_not_double_the_update():
    torch.manual_seed(0)
    A, B = vera_projections(4, 6, 6)
    layer = VeRALinear(nn.Linear(6, 6), A, B)
    with torch.no_grad():
        layer.lambda_b.normal_()
    W0 = layer.W0.clone()
    layer.merge()
    layer.merge()
    torch.testing.assert_close(layer.base.weight, W0 + layer.delta_weight())
    layer.unmerge()
    torch.testing.assert_close(layer.W0, W0)


def test_vera_rejects_projections_smaller_than_the_layer():
    A, B = vera_projections(4, 8, 8)
    with pytest.raises(ValueError, match="too small"):
        VeRALinear(nn.Linear(16, 8), A, B)


def test_vera_rejects_bad_rank():
    with pytest.raises(ValueError, match="r must be a positive integer"):
        vera_projections(0, 8, 8)
