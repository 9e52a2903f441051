"""LoRA+ (lora_ref.lora_plus): the same optimizer groups as PEFT's
`create_loraplus_optimizer`, and the same training steps."""

import copy
import re

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.optimizers import create_loraplus_optimizer as peft_loraplus
from torch import nn

from lora_ref import (
    DoRALinear,
    TinyMLP,
    apply_lora,
    create_loraplus_optimizer,
    lora_layers,
    loraplus_param_groups,
)

TARGETS = ["lin0", "lin1"]
PEFT_NAME = {
    r"lora_A\.default\.weight$": "A",
    r"lora_B\.default\.weight$": "B",
    r"lora_magnitude_vector\.default\.weight$": "m",
    r"base_layer\.bias$": "base.bias",
}


def ours_name(peft_name: str) -> str:
    """'base_model.model.lin0.lora_B.default.weight' -> 'lin0.B'."""
    name = peft_name.removeprefix("base_model.model.")
    for pattern, ours in PEFT_NAME.items():
        if re.search(pattern, name):
            return re.sub(pattern, ours, name)
    raise AssertionError(f"unexpected trainable PEFT parameter {peft_name}")


def make_pair(use_dora: bool):
    """PEFT's model (B != 0, biases of the targets trainable) and ours, same values."""
    torch.manual_seed(0)
    base = TinyMLP(k=16, hidden=32, d=4).double()
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=TARGETS,
        init_lora_weights=False,
        use_dora=use_dora,
        bias="lora_only",
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    ours = copy.deepcopy(base)
    if use_dora:
        for name in TARGETS:
            ours.set_submodule(name, DoRALinear(ours.get_submodule(name), r=4, alpha=8))
    else:
        apply_lora(ours, TARGETS, r=4, alpha=8)
    ours.requires_grad_(False)
    theirs_params = dict(theirs.named_parameters())
    with torch.no_grad():
        for name, param in theirs_params.items():
            if param.requires_grad:
                ours.get_parameter(ours_name(name)).copy_(param).requires_grad_(True)
    return ours, theirs


def group_names(groups, model, rename=lambda n: n):
    names = {id(p): rename(n) for n, p in model.named_parameters() if p.requires_grad}
    return [
        ([names[id(p)] for p in g["params"]], g["lr"], g["weight_decay"])
        for g in groups
        if g["params"]
    ]


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
def test_loraplus_matches_peft_param_groups(use_dora):
    ours, theirs = make_pair(use_dora)
    # PEFT's groups override the optimizer's weight_decay=0.1 with
    # loraplus_weight_decay (and 0 for biases): only the latter matters
    opt_theirs = peft_loraplus(
        theirs, torch.optim.AdamW, lr=1e-3, loraplus_lr_ratio=16,
        loraplus_weight_decay=0.05, weight_decay=0.1,
    )  # fmt: skip
    opt_ours = create_loraplus_optimizer(
        ours, torch.optim.AdamW, lr=1e-3, ratio=16, weight_decay=0.05
    )
    expected = group_names(opt_theirs.param_groups, theirs, ours_name)
    assert group_names(opt_ours.param_groups, ours) == expected
    (slow, lr_a, wd_a), (fast, lr_b, wd_b), (no_decay, _, wd_0) = expected
    assert all(n.endswith(".A") for n in slow)
    assert all(n.endswith((".B", ".m")) for n in fast) and len(fast) == 2 + 2 * use_dora
    assert no_decay == ["lin0.base.bias", "lin1.base.bias"]
    assert (lr_a, lr_b, wd_a, wd_b, wd_0) == (1e-3, 16e-3, 0.05, 0.05, 0.0)


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
def test_loraplus_matches_peft_training_steps(use_dora):
    ours, theirs = make_pair(use_dora)
    opt_theirs = peft_loraplus(theirs, torch.optim.AdamW, lr=1e-2, loraplus_lr_ratio=8)
    opt_ours = create_loraplus_optimizer(ours, lr=1e-2, ratio=8)
    x = torch.randn(8, 16, dtype=torch.float64)
    for _ in range(3):
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    for name, param in theirs.named_parameters():
        if param.requires_grad:
            torch.testing.assert_close(
                ours.get_parameter(ours_name(name)), param, rtol=0, atol=1e-10
            )


def test_loraplus_gives_B_ratio_times_the_learning_rate_of_A():
    model = apply_lora(TinyMLP(), TARGETS, r=4, alpha=8)
    slow, fast, fast_no_decay = loraplus_param_groups(model, lr=2e-4, ratio=16)
    layers = lora_layers(model).values()
    assert slow["params"] == [p for layer in layers for p in (layer.A,)]
    assert fast["params"] == [p for layer in layers for p in (layer.B,)]
    assert fast_no_decay["params"] == []
    assert (slow["lr"], fast["lr"]) == (2e-4, 16 * 2e-4)


def test_loraplus_with_ratio_one_is_plain_adamw():
    torch.manual_seed(0)
    model = apply_lora(TinyMLP(), TARGETS, r=4, alpha=8)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.B.normal_()
    plain = copy.deepcopy(model)
    opt_plus = create_loraplus_optimizer(model, lr=1e-2, ratio=1.0)
    trainable = [p for p in plain.parameters() if p.requires_grad]
    opt_plain = torch.optim.AdamW(trainable, lr=1e-2, weight_decay=0.0)
    x = torch.randn(8, 16)
    for m, opt in ((model, opt_plus), (plain, opt_plain)):
        for _ in range(2):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(model.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_loraplus_rejects_bad_arguments():
    model = apply_lora(TinyMLP(), TARGETS)
    with pytest.raises(ValueError, match="ratio must be positive"):
        loraplus_param_groups(model, lr=1e-3, ratio=0)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        loraplus_param_groups(model, lr="1e-3", ratio=16)
    with pytest.raises(ValueError, match="lr must be positive"):
        loraplus_param_groups(model, lr=float("nan"), ratio=16)


def test_loraplus_groups_layer_norm_parameters_without_decay():
    model = nn.Sequential()
    model.add_module("norm", nn.LayerNorm(16))
    model.add_module("proj", nn.Linear(16, 4))
    apply_lora(model, ["proj"], r=2)
    model.norm.requires_grad_(True)
    _, fast, fast_no_decay = loraplus_param_groups(model, lr=1e-3, ratio=4)
    assert fast_no_decay["params"] == [model.norm.weight, model.norm.bias]
    assert fast["params"] == [model.proj.B]


def test_loraplus_ratio_script_parses_arguments_first():
    from snippets import loraplus_ratio

    with pytest.raises(SystemExit) as exit_info:
        loraplus_ratio.main(["--help"])
    assert exit_info.value.code == 0


def test_loraplus_ratio_run_is_seeded_and_learns():
    from snippets.loraplus_ratio import run

    first, again = run(4, 1e-3, seed=0), run(4, 1e-3, seed=0)
    assert first == again
    assert 0 < first["relative_error"] < 1
