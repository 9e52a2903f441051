"""Invariants of lora_ref's LoRA layer, each named after the claim it proves."""

import math

import pytest
import torch
from torch import nn

from lora_ref import (
    LoRALinear,
    TinyMLP,
    apply_lora,
    install_lora,
    lora_state_dict,
    mark_only_lora_trainable,
    merge_lora,
    parameter_counts,
)


def make_layer(d: int = 6, k: int = 5, r: int = 2, **kwargs) -> LoRALinear:
    torch.manual_seed(0)
    return LoRALinear(nn.Linear(k, d, dtype=torch.float64), r=r, **kwargs)


def randomize_B(layer: LoRALinear) -> None:
    with torch.no_grad():
        layer.B.normal_()


def test_shapes_follow_the_paper_A_is_r_by_k_and_B_is_d_by_r():
    layer = make_layer(d=6, k=5, r=2)
    assert layer.W0.shape == (6, 5)
    assert layer.A.shape == (2, 5)
    assert layer.B.shape == (6, 2)
    assert layer.delta_weight().shape == (6, 5)


def test_delta_w_is_zero_and_output_unchanged_at_init():
    layer = make_layer()
    x = torch.randn(3, 5, dtype=torch.float64)
    assert torch.count_nonzero(layer.delta_weight()) == 0
    assert torch.equal(layer(x), layer.base(x))


def test_A_init_is_kaiming_uniform_with_bound_one_over_sqrt_k():
    torch.manual_seed(0)
    k = 768
    layer = LoRALinear(nn.Linear(k, 64), r=8)
    bound = 1 / math.sqrt(k)
    assert layer.A.abs().max() <= bound
    assert layer.A.abs().max() > 0.95 * bound  # uniform fills the interval
    assert torch.count_nonzero(layer.B) == 0


def test_scaling_is_alpha_over_r_or_alpha_over_sqrt_r_with_rslora():
    assert make_layer(r=8, alpha=16).scaling == 2.0
    assert make_layer(r=64, alpha=16).scaling == 0.25
    assert make_layer(r=16, alpha=16, use_rslora=True).scaling == 4.0


def test_forward_equals_base_plus_scaled_BAx():
    layer = make_layer(alpha=3)
    randomize_B(layer)
    x = torch.randn(4, 5, dtype=torch.float64)
    expected = (
        x @ layer.W0.T + layer.base.bias + layer.scaling * x @ (layer.B @ layer.A).T
    )
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_factors_take_the_base_weight_dtype_and_device():
    layer = LoRALinear(nn.Linear(4, 3, dtype=torch.bfloat16), r=2)
    assert layer.A.dtype == layer.B.dtype == torch.bfloat16
    assert layer.A.device == layer.W0.device


def test_only_A_and_B_receive_gradients():
    layer = make_layer()
    randomize_B(layer)
    layer(torch.randn(4, 5, dtype=torch.float64)).sum().backward()
    assert layer.A.grad is not None and layer.B.grad is not None
    assert layer.base.weight.grad is None and layer.base.bias.grad is None
    assert not layer.base.weight.requires_grad


def test_merged_output_equals_unmerged_output():
    layer = make_layer()
    randomize_B(layer)
    x = torch.randn(4, 5, dtype=torch.float64)
    before = layer(x)
    layer.merge()
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-12)


def test_merging_twice_does_not_add_delta_w_twice():
    layer = make_layer()
    randomize_B(layer)
    W0 = layer.W0.clone()
    layer.merge()
    once = layer.base.weight.clone()
    torch.testing.assert_close(once, W0 + layer.delta_weight(), rtol=0, atol=1e-12)
    layer.merge()
    assert torch.equal(layer.base.weight, once)


def test_unmerge_restores_W0():
    layer = make_layer()
    randomize_B(layer)
    W0 = layer.W0.clone()
    layer.merge()
    assert not torch.allclose(layer.base.weight, W0)
    layer.unmerge()
    torch.testing.assert_close(layer.W0, W0, rtol=0, atol=1e-12)
    layer.unmerge()  # a second unmerge is a no-op
    torch.testing.assert_close(layer.W0, W0, rtol=0, atol=1e-12)


def test_W0_is_never_the_merged_weight_it_raises_while_merged():
    layer = make_layer()
    randomize_B(layer)
    layer.merge()
    with pytest.raises(
        RuntimeError, match=r"merged: its stored weight is the merged weight, not W0"
    ):
        layer.W0  # noqa: B018
    assert "merged=True" in repr(layer)  # the repr still works while merged
    layer.unmerge()
    assert layer.W0 is layer.base.weight


def test_dropout_acts_on_the_lora_branch_only():
    layer = make_layer(dropout=0.5).train()
    randomize_B(layer)  # B != 0, or the branch would add nothing to drop
    x = torch.randn(8, 5, dtype=torch.float64)
    torch.manual_seed(7)
    out = layer(x)
    torch.manual_seed(7)
    kept = torch.nn.functional.dropout(x, 0.5, training=True)  # the same mask
    # W0 sees the undropped x; only the LoRA branch sees the dropped one
    expected = layer.base(x) + layer.scaling * kept @ (layer.B @ layer.A).T
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    # dropping W0's input too would give another output, and so would no dropout
    on_both = layer.base(kept) + layer.scaling * kept @ (layer.B @ layer.A).T
    assert not torch.allclose(out, on_both)
    assert not torch.allclose(out, layer.eval()(x))


def test_trainable_count_is_r_times_d_plus_k_per_adapted_layer():
    model = apply_lora(TinyMLP(k=16, hidden=32, d=4), ["lin0", "lin1"], r=3)
    trainable, total = parameter_counts(model)
    assert trainable == 3 * (32 + 16) + 3 * (4 + 32)
    assert total == trainable + sum(p.numel() for p in TinyMLP(16, 32, 4).parameters())


def test_apply_lora_freezes_everything_but_A_and_B():
    model = apply_lora(TinyMLP(), ["lin0"], r=2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"lin0.A", "lin0.B"}
    assert set(lora_state_dict(model)) == {"lin0.A", "lin0.B"}


def test_target_list_matches_exact_names_and_dotted_suffixes_only():
    model = nn.ModuleDict(
        {
            "q_proj": nn.Linear(2, 2),
            "blk": nn.ModuleDict({"q_proj": nn.Linear(2, 2)}),
            "xq_proj": nn.Linear(2, 2),
        }
    )
    apply_lora(model, ["q_proj"], r=1)
    assert isinstance(model["q_proj"], LoRALinear)
    assert isinstance(model["blk"]["q_proj"], LoRALinear)
    assert isinstance(
        model["xq_proj"], nn.Linear
    )  # "xq_proj" does not end with ".q_proj"


def test_target_string_is_a_full_match_regex():
    model = apply_lora(TinyMLP(), r"lin\d", r=1)
    assert isinstance(model.lin0, LoRALinear) and isinstance(model.lin1, LoRALinear)


def test_merge_lora_gives_back_plain_linears_with_the_same_outputs():
    torch.manual_seed(0)
    model = apply_lora(TinyMLP().double(), ["lin0", "lin1"], r=2)
    for layer in (model.lin0, model.lin1):
        randomize_B(layer)
    x = torch.randn(5, 16, dtype=torch.float64)
    before = model(x)
    merged = merge_lora(model)
    assert type(merged.lin0) is nn.Linear and type(merged.lin1) is nn.Linear
    torch.testing.assert_close(merged(x), before, rtol=0, atol=1e-12)


def test_mark_only_lora_trainable_refreezes_a_model():
    model = apply_lora(TinyMLP(), ["lin1"], r=2)
    model.requires_grad_(True)
    mark_only_lora_trainable(model)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "lin1.A",
        "lin1.B",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"r": 0}, "r must be a positive integer"),
        ({"r": -2}, "r must be a positive integer"),
        ({"r": 2.5}, "r must be a positive integer"),
        ({"alpha": 0}, "alpha must be positive"),
        ({"alpha": -1.0}, "alpha must be positive"),
        ({"alpha": float("nan")}, "alpha must be positive"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\)"),
    ],
)
def test_invalid_arguments_raise_value_error_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoRALinear(nn.Linear(4, 4), **kwargs)
    with pytest.raises(ValueError, match=message):
        apply_lora(TinyMLP(), ["lin0"], **kwargs)


def test_a_base_that_is_not_linear_raises_value_error():
    with pytest.raises(ValueError, match="wraps an nn.Linear, got Conv1d"):
        LoRALinear(nn.Conv1d(2, 2, 1))


def test_targets_that_match_nothing_raise_value_error_listing_linear_names():
    model = TinyMLP()
    with pytest.raises(
        ValueError, match=r"matched no module .* named \['lin0', 'lin1'\]"
    ):
        apply_lora(model, ["q_proj"])
    assert isinstance(model.lin0, nn.Linear)  # untouched


def test_a_target_that_is_not_linear_raises_value_error():
    with pytest.raises(ValueError, match="'relu' is a ReLU, not an nn.Linear"):
        apply_lora(TinyMLP(), ["relu"])


def test_empty_target_list_raises_value_error():
    with pytest.raises(ValueError, match="non-empty"):
        apply_lora(TinyMLP(), [])


def test_new_lora_layers_keep_the_train_or_eval_mode_of_the_layer_they_replace():
    evaluating = apply_lora(TinyMLP().eval(), ["lin0"], r=2, dropout=0.5)
    assert not evaluating.lin0.training and not evaluating.lin0.dropout.training
    training = apply_lora(TinyMLP().train(), ["lin0"], r=2, dropout=0.5)
    assert training.lin0.training and training.lin0.dropout.training


def test_install_lora_wraps_one_layer_in_place_and_returns_it():
    model = TinyMLP().eval()
    base = model.lin1
    layer = install_lora(model, "lin1", r=3, alpha=6, dropout=0.1)
    assert model.lin1 is layer and layer.base is base
    assert (layer.r, layer.scaling, layer.dropout_p) == (3, 2.0, 0.1)
    assert not layer.training  # keeps the eval mode of the layer it replaces
    assert isinstance(model.lin0, nn.Linear)  # the other layer is untouched


def test_invalid_arguments_leave_the_model_untouched():
    model = TinyMLP()
    with pytest.raises(ValueError, match="r must be a positive integer"):
        apply_lora(model, ["lin0", "lin1"], r=0)
    assert type(model.lin0) is nn.Linear and type(model.lin1) is nn.Linear
    assert all(p.requires_grad for p in model.parameters())
