"""Ours vs theirs: lora_ref.LoRALinear against Hugging Face PEFT (pinned 0.21.2).

Both sides start from the same base weights; PEFT is built with
`init_lora_weights=False` so B is non-zero (at the default init B = 0 and every
comparison would pass vacuously), and its A and B are copied into ours with
plain assignments. Float64 must agree to 1e-10; float32 to default tolerances.
"""

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model

from lora_ref import (
    LoRALinear,
    TinyMLP,
    apply_lora,
    lora_layers,
    merge_lora,
    tiny_llama,
)

MLP_TARGETS = ["lin0", "lin1"]
LLAMA_TARGETS = ["q_proj", "v_proj"]  # v_proj maps 64 -> 32 under GQA


def make_pair(
    base, targets, dtype, r=4, alpha=8, dropout=0.0, use_rslora=False, **peft_kwargs
):
    """The same base twice: PEFT's LoRA (B != 0) and ours with copied factors.

    `peft_kwargs` go to `get_peft_model` (e.g. `autocast_adapter_dtype`).
    """
    torch.manual_seed(1)
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        use_rslora=use_rslora,
        target_modules=targets,
        init_lora_weights=False,
    )
    theirs = get_peft_model(copy.deepcopy(base), config, **peft_kwargs)
    ours = apply_lora(copy.deepcopy(base), targets, r, alpha, dropout, use_rslora)
    theirs_model = theirs.base_model.model
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            peft_layer = theirs_model.get_submodule(name)
            layer.A.copy_(peft_layer.lora_A["default"].weight)
            layer.B.copy_(peft_layer.lora_B["default"].weight)
            assert layer.scaling == peft_layer.scaling["default"]
    return ours.to(dtype), theirs.to(dtype)


def mlp(dtype):
    torch.manual_seed(0)
    return TinyMLP(k=16, hidden=32, d=4).to(dtype), torch.randn(8, 16, dtype=dtype)


def llama(dtype):
    model = tiny_llama(seed=0, dtype=dtype)
    return model, torch.randint(
        0, 128, (2, 11), generator=torch.Generator().manual_seed(0)
    )


def run(model, x):
    return model(x) if x.is_floating_point() else model(input_ids=x).logits


def tolerances(dtype):
    return {"rtol": 0, "atol": 1e-10} if dtype == torch.float64 else {}


CASES = [
    pytest.param(mlp, MLP_TARGETS, id="mlp"),
    pytest.param(llama, LLAMA_TARGETS, id="tiny-llama-gqa"),
]
DTYPES = [
    pytest.param(torch.float64, id="float64"),
    pytest.param(torch.float32, id="float32"),
]
RSLORA = [pytest.param(False, id="alpha-over-r"), pytest.param(True, id="rslora")]


def check_forward(build, targets, dtype, use_rslora=False):
    base, x = build(dtype)
    ours, theirs = make_pair(base, targets, dtype, use_rslora=use_rslora)
    torch.testing.assert_close(run(ours, x), run(theirs, x), **tolerances(dtype))
    # and the adapter really changes the output, so the comparison is not vacuous
    assert not torch.allclose(run(ours, x), run(base, x))


def check_gradients(build, targets, dtype, use_rslora=False):
    base, x = build(dtype)
    ours, theirs = make_pair(base, targets, dtype, use_rslora=use_rslora)
    run(ours, x).square().mean().backward()
    run(theirs, x).square().mean().backward()
    theirs_model = theirs.base_model.model
    for name, layer in lora_layers(ours).items():
        peft_layer = theirs_model.get_submodule(name)
        grad_A = peft_layer.lora_A["default"].weight.grad
        grad_B = peft_layer.lora_B["default"].weight.grad
        torch.testing.assert_close(layer.A.grad, grad_A, **tolerances(dtype))
        torch.testing.assert_close(layer.B.grad, grad_B, **tolerances(dtype))
        assert layer.A.grad.abs().sum() > 0 and layer.B.grad.abs().sum() > 0


def check_merge(build, targets, dtype):
    base, x = build(dtype)
    ours, theirs = make_pair(base, targets, dtype)
    for name, layer in lora_layers(ours).items():
        peft_layer = theirs.base_model.model.get_submodule(name)
        torch.testing.assert_close(
            layer.delta_weight(),
            peft_layer.get_delta_weight("default"),
            **tolerances(dtype),
        )
    merged_ours = merge_lora(ours)
    merged_theirs = theirs.merge_and_unload()
    theirs_params = dict(merged_theirs.named_parameters())
    for name, param in merged_ours.named_parameters():
        torch.testing.assert_close(param, theirs_params[name], **tolerances(dtype))
    torch.testing.assert_close(
        run(merged_ours, x), run(merged_theirs, x), **tolerances(dtype)
    )


def check_dropout(build, targets):
    base, x = build(torch.float64)
    ours, theirs = make_pair(base, targets, torch.float64, dropout=0.3)
    ours.train()
    theirs.train()
    torch.manual_seed(123)
    out_ours = run(ours, x)
    torch.manual_seed(123)
    out_theirs = run(theirs, x)
    torch.testing.assert_close(out_ours, out_theirs, rtol=0, atol=1e-10)
    # dropout really acted: in eval mode the output differs
    ours.eval()
    assert not torch.allclose(run(ours, x), out_ours)


@pytest.mark.parametrize("use_rslora", RSLORA)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("build", "targets"), CASES)
def test_lora_matches_peft_forward(build, targets, dtype, use_rslora):
    check_forward(build, targets, dtype, use_rslora)


@pytest.mark.parametrize("use_rslora", RSLORA)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("build", "targets"), CASES)
def test_lora_matches_peft_gradients(build, targets, dtype, use_rslora):
    check_gradients(build, targets, dtype, use_rslora)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("build", "targets"), CASES)
def test_lora_matches_peft_merged_weights(build, targets, dtype):
    check_merge(build, targets, dtype)


@pytest.mark.parametrize(("build", "targets"), CASES)
def test_lora_matches_peft_dropout_in_train_mode_under_a_shared_seed(build, targets):
    check_dropout(build, targets)


def test_lora_matches_peft_trainable_parameter_count():
    base, _ = llama(torch.float32)
    ours, theirs = make_pair(base, LLAMA_TARGETS, torch.float32, r=8)
    trainable_theirs, _ = theirs.get_nb_trainable_parameters()
    trainable_ours = sum(p.numel() for p in ours.parameters() if p.requires_grad)
    # per layer r (d + k): q_proj 8 (64 + 64), v_proj 8 (32 + 64); 2 layers
    assert trainable_ours == trainable_theirs == 2 * (8 * (64 + 64) + 8 * (32 + 64))


def test_lora_matches_peft_bfloat16_merge_bit_for_bit():
    base, _ = mlp(torch.bfloat16)
    # keep PEFT's factors in bfloat16 too (by default it upcasts them to float32)
    ours, theirs = make_pair(
        base, MLP_TARGETS, torch.bfloat16, autocast_adapter_dtype=False
    )
    for name, layer in lora_layers(ours).items():
        peft_layer = theirs.base_model.model.get_submodule(name)
        assert torch.equal(layer.delta_weight(), peft_layer.get_delta_weight("default"))
    merged_ours, merged_theirs = merge_lora(ours), theirs.merge_and_unload()
    for name, param in merged_theirs.named_parameters():
        assert torch.equal(merged_ours.get_parameter(name), param), name


# Mutation checks: break LoRALinear the way a slip would, and the comparisons
# above must fail. If one of these passes, its comparison has stopped testing.


def no_scaling(self, x):
    return self.base(x) + self.dropout(x) @ self.A.T @ self.B.T


def rslora_scaling_always(self, x):
    scaling = self.alpha / self.r**0.5
    return self.base(x) + scaling * (self.dropout(x) @ self.A.T @ self.B.T)


def update_subtracted(self, x):
    return self.base(x) - self.scaling * (self.dropout(x) @ self.A.T @ self.B.T)


def A_frozen(self, x):
    h_lora = self.dropout(x) @ self.A.detach().T @ self.B.T
    return self.base(x) + self.scaling * h_lora


def dropout_on_both_paths(self, x):
    x = self.dropout(x)
    return self.base(x) + self.scaling * (x @ self.A.T @ self.B.T)


def delta_weight_without_scaling(self):
    return self.B @ self.A


MLP = (mlp, MLP_TARGETS)
FORWARD_MUTANTS = [no_scaling, rslora_scaling_always, update_subtracted]


@pytest.mark.parametrize("mutant", FORWARD_MUTANTS, ids=lambda f: f.__name__)
def test_the_forward_comparison_fails_on_a_broken_forward(monkeypatch, mutant):
    monkeypatch.setattr(LoRALinear, "forward", mutant)
    with pytest.raises(AssertionError):
        check_forward(*MLP, torch.float64)


@pytest.mark.parametrize(
    "mutant", [*FORWARD_MUTANTS, A_frozen], ids=lambda f: f.__name__
)
def test_the_gradient_comparison_fails_on_a_broken_forward(monkeypatch, mutant):
    monkeypatch.setattr(LoRALinear, "forward", mutant)
    with pytest.raises(AssertionError):  # A_frozen: A.grad is None, not a tensor
        check_gradients(*MLP, torch.float64)


def test_the_dropout_comparison_fails_when_dropout_reaches_W0(monkeypatch):
    monkeypatch.setattr(LoRALinear, "forward", dropout_on_both_paths)
    with pytest.raises(AssertionError):
        check_dropout(*MLP)


def test_the_merge_comparison_fails_on_a_merge_without_scaling(monkeypatch):
    monkeypatch.setattr(LoRALinear, "delta_weight", delta_weight_without_scaling)
    with pytest.raises(AssertionError):
        check_merge(*MLP, torch.float64)
