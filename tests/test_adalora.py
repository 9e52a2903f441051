"""AdaLoRA (lora_ref.adalora) against its formulas and PEFT 0.21.2's AdaLoraModel.

The PEFT comparison trains both models side by side for ten AdamW steps on a
tiny Llama, through warm-up, the cubic budget decrease (masking every step),
the final allocation and the frozen phase: same loss (with the orthogonal
regulariser), same gradients, same masks, same Λ after every step. PEFT's
random P, Λ, Q are replaced by known non-zero values (at PEFT's default
Λ = 0 the first comparisons would pass vacuously) and copied into ours.
"""

import copy

import pytest
import torch
from peft import AdaLoraConfig, get_peft_model
from torch import nn

from lora_ref import (
    AdaLoRALinear,
    RankAllocator,
    apply_adalora,
    orthogonal_regularizer,
    parameter_counts,
    tiny_llama,
)
from lora_ref.adalora import budget_schedule

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]  # 8 layers in tiny_llama
SCHEDULE = {"total_step": 10, "tinit": 2, "tfinal": 3, "deltaT": 1}
DTYPES = [
    pytest.param(torch.float64, id="float64"),
    pytest.param(torch.float32, id="float32"),
]


def tolerances(dtype):
    return {"rtol": 0, "atol": 1e-10} if dtype == torch.float64 else {}


def make_pair(dtype, init_r=4, target_r=2, alpha=8, orth_reg_weight=0.5):
    base = tiny_llama(seed=0, dtype=dtype).train()
    config = AdaLoraConfig(
        init_r=init_r,
        target_r=target_r,
        lora_alpha=alpha,
        target_modules=TARGETS,
        orth_reg_weight=orth_reg_weight,
        task_type="CAUSAL_LM",  # without it PeftModel skips AdaLoraModel.forward
        beta1=0.85,
        beta2=0.85,
        **SCHEDULE,
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    # on a non-float32 base PEFT 0.21.2 leaves `ranknum` trainable (see
    # test_peft_adalora_ranknum_is_trainable_on_non_float32_bases): freeze it,
    # as it is on a float32 base, so the optimizer cannot move the scaling
    for name, p in theirs.named_parameters():
        if ".ranknum." in name:
            p.requires_grad_(False)
    ours_model = copy.deepcopy(base)
    layers = apply_adalora(ours_model, TARGETS, r=init_r, alpha=alpha)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, layer in layers.items():
            peft_layer = theirs.base_model.model.get_submodule(name)
            P = peft_layer.lora_B["default"]
            E = peft_layer.lora_E["default"]
            Q = peft_layer.lora_A["default"]
            P.copy_(torch.randn_like(P) * 0.3)
            E.copy_(torch.randn_like(E) * 0.5)
            Q.copy_(torch.randn_like(Q) * 0.3)
            layer.P.copy_(P)
            layer.Lambda.copy_(E.view(-1))
            layer.Q.copy_(Q)
            assert layer.scaling == pytest.approx(
                peft_layer.scaling["default"]
                / (float(peft_layer.ranknum["default"]) + 1e-5),
                rel=1e-15,
            )
    return ours_model, layers, theirs


def batch():
    ids = torch.randint(0, 128, (4, 12), generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids, "labels": ids}


def peft_tensors(theirs, name):
    layer = theirs.base_model.model.get_submodule(name)
    return {
        "P": layer.lora_B["default"],
        "Lambda": layer.lora_E["default"].view(-1),
        "Q": layer.lora_A["default"],
    }


@pytest.mark.parametrize("dtype", DTYPES)
def test_adalora_matches_peft_over_steps_with_rank_reallocation(dtype):
    ours_model, layers, theirs = make_pair(dtype)
    allocator = RankAllocator(layers, target_r=2, **SCHEDULE)
    ours_opt = torch.optim.AdamW(
        [p for p in ours_model.parameters() if p.requires_grad]
    )
    theirs_opt = torch.optim.AdamW([p for p in theirs.parameters() if p.requires_grad])
    tol = tolerances(dtype)
    data = batch()
    budgets = []
    for step in range(SCHEDULE["total_step"]):
        ours_loss = ours_model(**data).loss + 0.5 * orthogonal_regularizer(layers)
        theirs_loss = theirs(**data).loss  # PEFT adds the regulariser itself
        # transformers returns the LM loss in float32 even for a float64 model,
        # and PEFT adds the regulariser in place: compare at float32 precision
        torch.testing.assert_close(ours_loss.to(theirs_loss.dtype), theirs_loss)
        ours_loss.backward()
        theirs_loss.backward()
        for name, layer in layers.items():
            for factor, tensor in peft_tensors(theirs, name).items():
                ours_grad = getattr(layer, factor).grad
                theirs_grad = (
                    tensor.grad
                    if factor != "Lambda"
                    else (
                        theirs.base_model.model.get_submodule(name)
                        .lora_E["default"]
                        .grad.view(-1)
                    )
                )
                torch.testing.assert_close(ours_grad, theirs_grad, **tol)
        ours_opt.step()
        theirs_opt.step()
        budgets.append(allocator.update_and_allocate(step))
        theirs.base_model.update_and_allocate(step)
        ours_opt.zero_grad()
        theirs_opt.zero_grad()
        for name, layer in layers.items():
            theirs_now = peft_tensors(theirs, name)
            for factor in ("P", "Lambda", "Q"):
                torch.testing.assert_close(
                    getattr(layer, factor), theirs_now[factor], **tol
                )
        pattern = theirs.peft_config["default"].rank_pattern
        if pattern:
            for name in layers:
                assert (
                    allocator.rank_pattern[name].tolist()
                    == pattern[f"{name}.lora_E.default"]
                )
    # warm-up, the cubic fall from 32 to 16 triplets, then flat
    # (16 + 16 * 0.8**3 = 24.19 -> 24 at step 3, 0.6**3 -> 19, 0.4**3 -> 17, ...)
    assert budgets == [32, 32, 32, 24, 19, 17, 16, 16, 16, 16]
    ranks = [layer.rank() for layer in layers.values()]
    assert sum(ranks) == 16
    assert len(set(ranks)) > 1  # the budget really moved between layers
    merged = theirs.merge_and_unload()
    for name, layer in layers.items():
        layer.merge()
        torch.testing.assert_close(
            layer.base.weight, merged.get_submodule(name).weight, **tol
        )


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float32])
def test_peft_adalora_ranknum_is_trainable_on_non_float32_bases(dtype):
    # PEFT 0.21.2 quirk: moving the adapter to the base layer's dtype re-creates
    # `ranknum` as a trainable parameter, so an optimizer would change
    # γ = alpha / (ranknum + 1e-5); one extra trainable number per layer
    config = AdaLoraConfig(init_r=4, target_modules=["q_proj"], total_step=10)
    model = get_peft_model(tiny_llama(seed=0, dtype=dtype), config)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    n_ranknum = sum(".ranknum." in n for n in trainable)
    assert n_ranknum == (0 if dtype == torch.float32 else 2)


def test_adalora_budget_schedule_is_cubic():
    kwargs = {"init_budget": 120, "target_budget": 40, "tinit": 10, "tfinal": 10}
    got = [budget_schedule(t, total_step=110, **kwargs) for t in range(111)]
    assert got[:11] == [120] * 11 and got[100:] == [40] * 11
    for t in (11, 50, 99):
        expected = 40 + 80 * (1 - (t - 10) / 90) ** 3
        assert got[t] == int(expected)
    assert all(a >= b for a, b in zip(got, got[1:], strict=False))


def test_adalora_update_is_gamma_P_Lambda_Q():
    torch.manual_seed(0)
    layer = AdaLoRALinear(nn.Linear(6, 5, dtype=torch.float64), r=3, alpha=8)
    with torch.no_grad():
        layer.Lambda.normal_()
    by_hand = 8 / (3 + 1e-5) * layer.P @ torch.diag(layer.Lambda) @ layer.Q
    torch.testing.assert_close(layer.delta_weight(), by_hand, rtol=0, atol=1e-12)
    x = torch.randn(4, 6, dtype=torch.float64)
    torch.testing.assert_close(layer(x) - layer.base(x), x @ by_hand.T)


def test_adalora_update_is_zero_at_init_and_masked_triplets_drop_out():
    torch.manual_seed(0)
    layer = AdaLoRALinear(nn.Linear(6, 5), r=3)
    assert torch.all(layer.delta_weight() == 0) and layer.rank() == 0
    with torch.no_grad():
        layer.Lambda.copy_(torch.tensor([1.0, 0.0, 2.0]))
    assert layer.rank() == 2
    kept = layer.P[:, [0, 2]] @ torch.diag(torch.tensor([1.0, 2.0])) @ layer.Q[[0, 2]]
    torch.testing.assert_close(layer.delta_weight(), layer.scaling * kept)


def test_adalora_orthogonal_regularizer_vanishes_for_orthonormal_P_and_Q():
    torch.manual_seed(0)
    layer = AdaLoRALinear(nn.Linear(8, 6, dtype=torch.float64), r=3)
    with torch.no_grad():
        layer.P.copy_(torch.linalg.qr(torch.randn(6, 3, dtype=torch.float64))[0])
        layer.Q.copy_(torch.linalg.qr(torch.randn(8, 3, dtype=torch.float64))[0].T)
    assert orthogonal_regularizer({"l": layer}) < 1e-14
    with torch.no_grad():
        layer.P.mul_(2)  # PᵀP = 4I: ‖3I‖_F = 3√3, averaged with Q's 0
    assert orthogonal_regularizer({"l": layer}).item() == pytest.approx(1.5 * 3**0.5)


def test_adalora_trains_r_times_d_plus_k_plus_1_per_layer():
    model = tiny_llama(seed=0)
    apply_adalora(model, ["q_proj", "v_proj"], r=12)
    trainable, _ = parameter_counts(model)
    # per layer: q_proj 64 -> 64, v_proj 64 -> 32 (GQA), two layers
    assert trainable == 2 * (12 * (64 + 64 + 1) + 12 * (64 + 32 + 1))


def test_adalora_rejects_a_schedule_without_a_reallocation_phase():
    model = tiny_llama(seed=0)
    layers = apply_adalora(model, ["q_proj"], r=4)
    with pytest.raises(ValueError, match="no step would be left"):
        RankAllocator(layers, target_r=2, total_step=10, tinit=6, tfinal=4)


def test_adalora_rejects_bad_betas():
    layers = apply_adalora(tiny_llama(seed=0), ["q_proj"], r=4)
    with pytest.raises(ValueError, match="beta1 and beta2 must be in"):
        RankAllocator(layers, target_r=2, total_step=10, beta1=1.0)
