"""DyLoRA (lora_ref.dylora): the invariant the chapter teaches, tested.

PEFT 0.21.2 has no DyLoRA, so there is no ours-vs-PEFT test here. Instead:
after one training run with sampled ranks, truncating at ANY r <= r_max gives
exactly a rank-r LoRA adapter (lora_ref.LoRALinear, itself equal to PEFT's
LoRA, tests/test_vs_peft_lora.py) with the first r rows of A, the first r
columns of B and the scaling alpha / r.
"""

import copy

import pytest
import torch
from torch import nn

from lora_ref import (
    DyLoRALinear,
    LoRALinear,
    TinyMLP,
    apply_dylora,
    parameter_counts,
    sample_rank,
    truncate_dylora,
)


def trained_mlp(frozen=False, steps=30):
    """A TinyMLP with DyLoRA (r_max = 6) on both layers after a short run."""
    torch.manual_seed(0)
    model = TinyMLP(k=16, hidden=32, d=4).double()
    layers = apply_dylora(model, ["lin0", "lin1"], r_max=6, alpha=4, frozen=frozen)
    X = torch.randn(64, 16, dtype=torch.float64)
    Y = torch.randn(64, 4, dtype=torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        sample_rank(layers, g)
        loss = (model(X) - Y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), layers, X


@pytest.mark.parametrize("frozen", [False, True], ids=["all-ranks", "frozen"])
@pytest.mark.parametrize("r", [1, 2, 3, 4, 5, 6])
def test_dylora_truncated_at_any_rank_is_a_rank_r_lora(r, frozen):
    model, layers, X = trained_mlp(frozen)
    for layer in layers.values():
        assert layer.B[:, :r].abs().max() > 0  # trained, not the B = 0 init
        layer.set_rank(r)
    by_truncation = model(X)
    loras = copy.deepcopy(model)
    for name, layer in layers.items():
        lora = LoRALinear(copy.deepcopy(layer.base), r=r, alpha=4)
        with torch.no_grad():
            lora.A.copy_(layer.A[:r])
            lora.B.copy_(layer.B[:, :r])
        assert lora.scaling == layer.scaling == 4 / r
        loras.set_submodule(name, lora)
        torch.testing.assert_close(
            layer.truncated(r).delta_weight(), lora.delta_weight(), rtol=0, atol=0
        )
    torch.testing.assert_close(loras(X), by_truncation, rtol=0, atol=1e-12)


def test_dylora_at_rank_r_uses_only_the_first_r_components():
    torch.manual_seed(0)
    layer = DyLoRALinear(nn.Linear(8, 5), r_max=4)
    with torch.no_grad():
        layer.B.normal_()
    layer.set_rank(2)
    layer(torch.randn(3, 8)).sum().backward()
    assert layer.A.grad[:2].abs().min() > 0 and torch.all(layer.A.grad[2:] == 0)
    assert torch.all(layer.B.grad[:, 2:] == 0)


def test_dylora_frozen_mode_trains_only_the_r_th_component():
    torch.manual_seed(0)
    layer = DyLoRALinear(nn.Linear(8, 5), r_max=4, frozen=True)
    with torch.no_grad():
        layer.B.normal_()
    layer.set_rank(3)
    layer(torch.randn(3, 8)).sum().backward()
    rows_with_grad = (layer.A.grad.abs().sum(1) > 0).tolist()
    assert rows_with_grad == [False, False, True, False]
    assert (layer.B.grad.abs().sum(0) > 0).tolist() == [False, False, True, False]


def test_dylora_update_is_zero_at_init_and_trains_r_max_times_d_plus_k():
    torch.manual_seed(0)
    model = TinyMLP(k=16, hidden=32, d=4)
    reference = copy.deepcopy(model)
    apply_dylora(model, ["lin0", "lin1"], r_max=8)
    x = torch.randn(5, 16)
    torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    trainable, _ = parameter_counts(model)
    assert trainable == 8 * (16 + 32) + 8 * (32 + 4)  # a rank-8 LoRA's count


def test_dylora_samples_every_rank_in_range_uniformly():
    layers = apply_dylora(TinyMLP(), ["lin0", "lin1"], r_max=6, r_min=2)
    g = torch.Generator().manual_seed(0)
    draws = [sample_rank(layers, g) for _ in range(2500)]
    counts = [draws.count(r) for r in range(1, 8)]
    assert counts[0] == 0 and counts[6] == 0  # never below r_min or above r_max
    assert all(400 < c < 600 for c in counts[1:6])  # 500 expected each
    assert {layer.r for layer in layers.values()} == {draws[-1]}  # one r per step


def test_dylora_rejects_ranks_out_of_range():
    layer = DyLoRALinear(nn.Linear(4, 4), r_max=4)
    with pytest.raises(ValueError, match=r"r must be an integer in \[1, 4\]"):
        layer.set_rank(5)
    with pytest.raises(ValueError, match=r"r must be an integer in \[1, 4\]"):
        layer.truncated(0)
    with pytest.raises(ValueError, match="need 1 <= r_min <= r_max"):
        DyLoRALinear(nn.Linear(4, 4), r_max=4, r_min=5)


def test_truncate_dylora_gives_a_lora_model_that_peft_loads(tmp_path):
    from peft import PeftModel

    from lora_ref import save_peft_adapter

    model, layers, X = trained_mlp()
    torch.manual_seed(0)
    base = TinyMLP(k=16, hidden=32, d=4).double()  # the same seed: same W0
    for layer in layers.values():
        layer.set_rank(3)
    expected = model(X)
    truncate_dylora(model, 3)
    assert isinstance(model.lin0, LoRALinear) and model.lin0.r == 3
    save_peft_adapter(model, tmp_path)
    theirs = PeftModel.from_pretrained(base, tmp_path)
    torch.testing.assert_close(theirs(X), expected, rtol=0, atol=1e-12)


def test_truncate_dylora_rejects_a_model_without_dylora():
    with pytest.raises(ValueError, match="no DyLoRALinear layer"):
        truncate_dylora(TinyMLP(), 2)
