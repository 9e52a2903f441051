"""lora_ref.counts: counts from shapes equal the counts of real (meta) models.

`count_params` and `lora_params` build transformers models on the `meta`
device (shapes only: no memory, no download) and put PEFT's LoRA and
`lora_ref.apply_lora` on them; the shape formulas must give the same numbers.
They live here, not in `lora_ref`, because they are the test: the library
itself needs neither transformers nor PEFT.
"""

import dataclasses

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

from lora_ref import TinyMLP, apply_lora, parameter_counts, tiny_llama_config
from lora_ref.counts import (
    LINEAR_NAMES,
    SHAPES,
    ModelShape,
    lora_trainable_params,
    nf4_params,
    total_params,
)

QV = ["q_proj", "v_proj"]


def config_of(shape: ModelShape) -> PretrainedConfig:
    return AutoConfig.for_model(**shape.config_kwargs())


def count_params(config: PretrainedConfig) -> int:
    """Parameters of `AutoModelForCausalLM.from_config(config)`, built on meta."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return parameter_counts(model).total


def lora_params(
    config: PretrainedConfig, target_modules: str | list[str], r: int
) -> int:
    """Trainable LoRA parameters on a meta model: PEFT's and lora_ref's, equal."""
    names = LINEAR_NAMES if target_modules == "all-linear" else target_modules
    with torch.device("meta"):  # LoRA factors are created on meta too
        theirs = get_peft_model(
            AutoModelForCausalLM.from_config(config),
            LoraConfig(r=r, target_modules=target_modules),
        )
        ours = apply_lora(AutoModelForCausalLM.from_config(config), list(names), r=r)
    peft_count = theirs.get_nb_trainable_parameters()[0]
    assert parameter_counts(ours).trainable == peft_count
    return peft_count


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_formula_equals_the_meta_model_parameter_count(name):
    shape = SHAPES[name]
    assert ModelShape.from_config(config_of(shape)) == shape
    assert total_params(shape) == count_params(config_of(shape))


def test_llama_7b_has_6_738_415_616_parameters_and_qv_r8_lora_trains_4_194_304():
    config = config_of(SHAPES["LLaMA-7B"])
    assert (
        count_params(config)
        == 32000 * 4096 * 2
        + 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096)
        + 4096
        == 6_738_415_616
    )
    assert lora_params(config, QV, 8) == 32 * 2 * 8 * (4096 + 4096) == 4_194_304


# LLaMA-13B/33B/65B differ from LLaMA-7B only in sizes; the page checks them too
@pytest.mark.slow  # PEFT and lora_ref on meta models up to 70B: seconds each
@pytest.mark.parametrize("name", ["LLaMA-7B", "Llama-2-70B", "Qwen2.5-0.5B"])
def test_lora_count_from_shapes_equals_peft_and_lora_ref_on_meta(name):
    shape = SHAPES[name]
    assert lora_params(config_of(shape), "all-linear", 16) == lora_trainable_params(
        shape, "all-linear", 16
    )


@pytest.mark.parametrize(
    "targets", [QV, ["k_proj", "o_proj", "down_proj"], "all-linear"]
)
@pytest.mark.parametrize("r", [1, 8, 64])
def test_lora_count_equals_peft_on_a_small_real_model(targets, r):
    config = tiny_llama_config()
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_config(config),
        LoraConfig(r=r, target_modules=targets),
    )
    trainable, total = model.get_nb_trainable_parameters()
    shape = ModelShape.from_config(config)
    assert trainable == lora_trainable_params(shape, targets, r)
    assert trainable == lora_params(config, targets, r)
    assert total - trainable == total_params(shape)


def test_qwen_counts_include_qkv_biases_and_a_tied_output_layer():
    shape = SHAPES["Qwen2.5-0.5B"]
    untied = dataclasses.replace(shape, tied=False, qkv_bias=False)
    bias = shape.layers * (shape.heads + 2 * shape.kv_heads) * shape.head_dim
    assert (
        total_params(untied) - total_params(shape) == shape.vocab * shape.hidden - bias
    )


def test_nf4_params_are_the_projection_weights_of_every_layer():
    config = tiny_llama_config()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    projections = sum(
        m.weight.numel()
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in LINEAR_NAMES
    )
    assert nf4_params(ModelShape.from_config(config)) == projections


def test_parameter_counts_are_trainable_and_total_and_unpack_as_a_pair():
    model = apply_lora(TinyMLP(k=16, hidden=32, d=4), ["lin0"], r=2)
    counts = parameter_counts(model)
    trainable, total = counts
    assert (counts.trainable, counts.total) == (trainable, total)
    assert trainable == 2 * (16 + 32)
    assert total == trainable + (16 * 32 + 32) + (32 * 4 + 4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lora_trainable_params(SHAPES["LLaMA-7B"], ["lm_head"], 8), "names"),
        (lambda: lora_trainable_params(SHAPES["LLaMA-7B"], [], 8), "names"),
        (lambda: lora_trainable_params(SHAPES["LLaMA-7B"], QV, 0), "r must be"),
        (lambda: dataclasses.replace(SHAPES["LLaMA-7B"], hidden=0), "hidden must"),
        (lambda: dataclasses.replace(SHAPES["LLaMA-7B"], kv_heads=3), "multiple of"),
        (
            lambda: ModelShape.from_config(AutoConfig.for_model("bert")),
            "only Llama and Qwen2",
        ),
        (
            lambda: ModelShape.from_config(tiny_llama_config(mlp_bias=True)),
            "not modelled",
        ),
    ],
)
def test_invalid_shapes_and_targets_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
