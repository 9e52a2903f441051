"""Adapters round-trip through PEFT's on-disk format both ways; bad ones are refused."""

import copy
import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file

from lora_ref import (
    LoRALinear,
    TinyMLP,
    apply_lora,
    load_peft_adapter,
    lora_layers,
    save_peft_adapter,
    tiny_llama,
)

TARGETS = ["q_proj", "v_proj"]


def ids() -> torch.Tensor:
    return torch.randint(0, 128, (2, 9), generator=torch.Generator().manual_seed(0))


def trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """Give every LoRA layer a non-zero B, as after training."""
    torch.manual_seed(2)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.B.normal_()
    return model


def test_adapter_saved_by_lora_ref_loads_in_peft_with_identical_outputs(tmp_path):
    base = tiny_llama(dtype=torch.float64)
    ours = trained_like(apply_lora(copy.deepcopy(base), TARGETS, r=4, alpha=16))
    save_peft_adapter(ours, tmp_path, base_model_name_or_path="tiny-llama")
    theirs = PeftModel.from_pretrained(copy.deepcopy(base), tmp_path)
    x = ids()
    torch.testing.assert_close(
        theirs(input_ids=x).logits, ours(input_ids=x).logits, rtol=0, atol=1e-10
    )
    assert not torch.allclose(theirs(input_ids=x).logits, base(input_ids=x).logits)


def test_saved_files_use_peft_key_names_and_config(tmp_path):
    ours = trained_like(apply_lora(tiny_llama(), TARGETS, r=4, alpha=16))
    save_peft_adapter(ours, tmp_path)
    keys = set(load_file(tmp_path / "adapter_model.safetensors"))
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in keys
    assert "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight" in keys
    assert len(keys) == 2 * 2 * 2  # layers x targets x factors
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert (config["peft_type"], config["r"], config["lora_alpha"]) == ("LORA", 4, 16)


def saved_by_peft(
    base: torch.nn.Module, directory: Path, seed: int, **options: object
) -> PeftModel:
    """PEFT's LoRA (r = 4, alpha = 8, B != 0) on a copy of base, saved there."""
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=False, **options
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    theirs.save_pretrained(directory)
    return theirs


def test_adapter_saved_by_peft_loads_into_lora_ref_with_identical_outputs(tmp_path):
    base = tiny_llama(dtype=torch.float64)
    theirs = saved_by_peft(base, tmp_path, seed=3, use_rslora=True)
    ours = load_peft_adapter(copy.deepcopy(base), tmp_path)
    x = ids()
    torch.testing.assert_close(
        ours(input_ids=x).logits, theirs(input_ids=x).logits, rtol=0, atol=1e-10
    )
    assert len(lora_layers(ours)) == 4


def test_rank_and_alpha_patterns_round_trip_both_ways(tmp_path):
    base = tiny_llama(dtype=torch.float64)
    theirs = saved_by_peft(
        base,
        tmp_path / "peft",
        seed=4,
        rank_pattern={"layers.0.self_attn.q_proj": 2},
        alpha_pattern={"v_proj": 3},
    )
    ours = load_peft_adapter(copy.deepcopy(base), tmp_path / "peft")
    q0 = ours.get_submodule("model.layers.0.self_attn.q_proj")
    assert (q0.r, q0.alpha) == (2, 8)
    assert ours.get_submodule("model.layers.1.self_attn.v_proj").scaling == 3 / 4
    save_peft_adapter(ours, tmp_path / "ours")
    again = PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "ours")
    x = ids()
    torch.testing.assert_close(
        again(input_ids=x).logits, theirs(input_ids=x).logits, rtol=0, atol=1e-10
    )


def test_loaded_adapter_keeps_an_eval_model_in_eval_mode(tmp_path):
    model = apply_lora(tiny_llama(), TARGETS, r=2, dropout=0.5)
    save_peft_adapter(trained_like(model), tmp_path)
    loaded = load_peft_adapter(tiny_llama().eval(), tmp_path)
    assert len(lora_layers(loaded)) == 4  # the check below is not vacuous
    assert not any(m.training for m in loaded.modules())  # dropout off


def test_loaded_adapter_is_frozen_by_default_like_peft(tmp_path):
    save_peft_adapter(trained_like(apply_lora(tiny_llama(), TARGETS, r=2)), tmp_path)
    frozen = load_peft_adapter(tiny_llama(), tmp_path)
    assert len(lora_layers(frozen)) == 4  # the check below is not vacuous
    assert not any(p.requires_grad for p in frozen.parameters())
    trainable = load_peft_adapter(tiny_llama(), tmp_path, is_trainable=True)
    names = {
        n.rsplit(".", 1)[-1] for n, p in trainable.named_parameters() if p.requires_grad
    }
    assert names == {"A", "B"}


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_untouched(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    assert not lora_layers(model)
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_adapter_with_wrong_shapes_raises_value_error_and_leaves_the_model_untouched(
    tmp_path,
):
    save_peft_adapter(trained_like(apply_lora(tiny_llama(), TARGETS, r=2)), tmp_path)
    other = tiny_llama(hidden_size=32, intermediate_size=64)  # another base
    before = snapshot(other)
    with pytest.raises(
        ValueError,
        match=r"do not fit 'model.layers.0.self_attn.q_proj'.*"
        r"\(d, k\) = \(32, 32\).*A \(2, 64\)",
    ):
        load_peft_adapter(other, tmp_path)
    assert_untouched(other, before)


def test_adapter_for_a_module_the_model_lacks_raises_value_error(tmp_path):
    save_peft_adapter(trained_like(apply_lora(tiny_llama(), TARGETS, r=2)), tmp_path)
    shallow = tiny_llama(num_hidden_layers=1)
    before = snapshot(shallow)
    with pytest.raises(
        ValueError,
        match="'model.layers.1.self_attn.q_proj', which this model does not have",
    ):
        load_peft_adapter(shallow, tmp_path)
    assert_untouched(shallow, before)


def test_pickle_only_adapter_is_refused(tmp_path):
    (tmp_path / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "r": 2})
    )
    (tmp_path / "adapter_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="pickle file .* safetensors only"):
        load_peft_adapter(TinyMLP(), tmp_path)


def test_unsupported_adapter_options_are_refused(tmp_path):
    base = TinyMLP()
    config = LoraConfig(r=2, target_modules=["lin0"], use_dora=True)
    get_peft_model(copy.deepcopy(base), config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="use_dora=True is not supported"):
        load_peft_adapter(base, tmp_path)
    assert isinstance(base.lin0, torch.nn.Linear)


def test_non_lora_tensor_or_mismatched_rank_is_refused(tmp_path):
    save_peft_adapter(trained_like(apply_lora(TinyMLP(), ["lin0"], r=2)), tmp_path)
    tensors = load_file(tmp_path / "adapter_model.safetensors")
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    config["r"] = 3
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="the config says r=3, the tensors have r=2"):
        load_peft_adapter(TinyMLP(), tmp_path)
    tensors["base_model.model.lin0.weight"] = torch.zeros(1)
    save_file(tensors, tmp_path / "adapter_model.safetensors")
    with pytest.raises(
        ValueError, match="unexpected tensor 'base_model.model.lin0.weight'"
    ):
        load_peft_adapter(TinyMLP(), tmp_path)


def test_saving_a_model_without_lora_or_with_mixed_dropout_raises(tmp_path):
    with pytest.raises(ValueError, match="no LoRALinear layer"):
        save_peft_adapter(TinyMLP(), tmp_path)
    model = TinyMLP()
    model.lin0 = LoRALinear(model.lin0, r=2, dropout=0.1)
    model.lin1 = LoRALinear(model.lin1, r=2)
    with pytest.raises(ValueError, match="stores one of each"):
        save_peft_adapter(model, tmp_path)
