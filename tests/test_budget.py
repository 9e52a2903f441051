"""lora_ref.budget: exact counts (= PEFT on meta models), byte formulas, bad input.

Also reruns the page's predicted-vs-measured check on a reduced setting: one
real AdamW step of a small Llama on CPU, full fine-tuning and LoRA.
"""

import dataclasses
from pathlib import Path

import pytest
import torch

from lora_ref.budget import (
    SHAPES,
    ModelShape,
    activation_bytes,
    adapter_bytes,
    count_params,
    finetune_memory,
    lora_count,
    lora_params,
    nf4_bytes,
    param_count,
    quantized_count,
    storage_bytes,
)
from lora_ref.toy import tiny_llama_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelShape(
    vocab=10, hidden=8, intermediate=12, layers=2, heads=2, kv_heads=1, head_dim=4
)
QV = ["q_proj", "v_proj"]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_formula_equals_the_meta_model_parameter_count(name):
    shape = SHAPES[name]
    assert ModelShape.from_config(shape.to_config()) == shape
    assert param_count(shape) == count_params(shape.to_config())


def test_llama_7b_has_6_738_415_616_parameters_and_qv_r8_lora_trains_4_194_304():
    shape = SHAPES["LLaMA-7B"]
    assert (
        count_params(shape.to_config())
        == 32000 * 4096 * 2
        + 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096)
        + 4096
    )
    assert lora_params(shape.to_config(), QV, 8) == 32 * 2 * 8 * (4096 + 4096)


# LLaMA-13B/33B/65B differ from LLaMA-7B only in sizes; the page checks them too
@pytest.mark.parametrize("name", ["LLaMA-7B", "Llama-2-70B", "Qwen2.5-0.5B"])
def test_lora_count_from_shapes_equals_peft_and_lora_ref_on_meta(name):
    shape = SHAPES[name]
    assert lora_params(shape.to_config(), "all-linear", 16) == lora_count(
        shape, "all-linear", 16
    )


@pytest.mark.parametrize(
    "targets", [QV, ["k_proj", "o_proj", "down_proj"], "all-linear"]
)
@pytest.mark.parametrize("r", [1, 8, 64])
def test_lora_count_equals_peft_on_a_small_real_model(targets, r):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    config = tiny_llama_config()
    torch.manual_seed(0)
    model = get_peft_model(
        LlamaForCausalLM(config), LoraConfig(r=r, target_modules=targets)
    )
    trainable, total = model.get_nb_trainable_parameters()
    shape = ModelShape.from_config(config)
    assert trainable == lora_count(shape, targets, r) == lora_params(config, targets, r)
    assert total - trainable == param_count(shape)


def test_qwen_counts_include_qkv_biases_and_a_tied_output_layer():
    shape = SHAPES["Qwen2.5-0.5B"]
    untied = dataclasses.replace(shape, tied=False, qkv_bias=False)
    bias = shape.layers * (shape.heads + 2 * shape.kv_heads) * shape.head_dim
    assert param_count(untied) - param_count(shape) == shape.vocab * shape.hidden - bias


def test_full_finetuning_costs_16_bytes_per_parameter_in_fp32_and_mixed_precision():
    n = param_count(TINY)
    for precision in ("fp32", "mixed"):
        m = finetune_memory(TINY, "full", precision, batch=1, seq_len=1)
        assert m.weights + m.gradients + m.optimizer == 16 * n
    mixed = finetune_memory(TINY, "full", "mixed", 1, 1)
    assert (mixed.weights, mixed.gradients, mixed.optimizer) == (2 * n, 2 * n, 12 * n)


def test_lora_memory_is_a_frozen_16_bit_base_plus_16_bytes_per_adapter_parameter():
    n, t = param_count(TINY), lora_count(TINY, QV, 2)
    m = finetune_memory(TINY, "lora", "bf16", 1, 1, r=2)
    assert (m.weights, m.gradients, m.optimizer) == (2 * n + 4 * t, 4 * t, 8 * t)
    assert m.total == m.weights + m.gradients + m.optimizer + m.activations


def test_nf4_costs_4_5_bits_and_4_127_bits_with_double_quantization():
    n = 64 * 256 * 1000
    assert nf4_bytes(n, double_quant=False) * 8 == n * 4.5
    assert nf4_bytes(n, double_quant=True) * 8 == pytest.approx(n * 4.127, rel=1e-3)
    assert nf4_bytes(n, double_quant=True) * 8 == 4 * n + 8 * n // 64 + 32 * n // (
        64 * 256
    )
    assert nf4_bytes(1, double_quant=False) == 5  # 4 + 32 bits, rounded up to bytes


def test_qlora_stores_projection_weights_in_nf4_and_the_rest_in_16_bits():
    n, q, t = param_count(TINY), quantized_count(TINY), lora_count(TINY, QV, 8)
    m = finetune_memory(TINY, "qlora", "nf4", 1, 1)
    assert m.weights == nf4_bytes(q, False) + 2 * (n - q) + 4 * t


def test_activation_formula_matches_korthikanti_by_hand_for_a_tiny_case():
    s, b, h, a, L, V = 3, 2, 8, 2, 2, 10
    by_hand = L * (s * b * h * 34 + 5 * a * s * s * b) + s * b * V * 4  # eq. 1
    assert activation_bytes(TINY, b, s, checkpointing=False) == by_hand
    fp32 = activation_bytes(TINY, b, s, False, element_bytes=4)
    assert fp32 == 2 * L * (s * b * h * 34 + 5 * a * s * s * b) + s * b * V * 4
    one_layer = s * b * h * 34 + 5 * a * s * s * b
    ckpt = (
        L * 2 * s * b * h + one_layer + s * b * V * 4
    )  # inputs + one recomputed layer
    assert activation_bytes(TINY, b, s, checkpointing=True) == ckpt


def test_korthikanti_worked_number_is_about_0_956_gb_per_layer():
    gpt = ModelShape(
        vocab=1,
        hidden=4096,
        intermediate=1,
        layers=1,
        heads=32,
        kv_heads=32,
        head_dim=128,
    )
    per_layer = activation_bytes(gpt, 1, 2048, False, logits_bytes=0)
    assert per_layer / 1e9 == pytest.approx(0.956, abs=1e-3)


def test_adapter_and_storage_for_n_tasks():
    t = lora_count(SHAPES["LLaMA-7B"], QV, 8)
    assert adapter_bytes(t) == 4 * t and adapter_bytes(t, 2) == 2 * t
    n = param_count(SHAPES["LLaMA-7B"])
    full, shared = storage_bytes(n, t, tasks=10)
    assert full == 10 * 2 * n and shared == 2 * n + 10 * 4 * t


@pytest.mark.parametrize(
    "call",
    [
        lambda: finetune_memory(TINY, "prefix", "fp32", 1, 1),
        lambda: finetune_memory(TINY, "full", "bf16", 1, 1),
        lambda: finetune_memory(TINY, "qlora", "bf16", 1, 1),
        lambda: finetune_memory(TINY, "lora", "bf16", 0, 1),
        lambda: finetune_memory(TINY, "lora", "bf16", 1, -5),
        lambda: finetune_memory(TINY, "lora", "bf16", 1, 1, r=0),
        lambda: finetune_memory(TINY, "lora", "bf16", 1, 1, target_modules=["lm_head"]),
        lambda: dataclasses.replace(TINY, hidden=0),
        lambda: dataclasses.replace(TINY, kv_heads=3),
        lambda: ModelShape.from_config(__import__("transformers").BertConfig()),
        lambda: adapter_bytes(0),
        lambda: storage_bytes(10, 1, tasks=0),
    ],
)
def test_invalid_sizes_methods_and_precisions_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_peak_memory_measurement_sees_a_known_allocation():
    from snippets.measure_memory import peak_allocated

    def step():
        x = torch.empty(1_000_000)  # 4,000,000 bytes
        y = torch.empty(250_000)  # + 1,000,000
        del x
        z = torch.empty(500_000)  # peak stays 5,000,000
        return y, z

    assert peak_allocated(step) == 5_000_000


@pytest.mark.parametrize("method", ["full", "lora"])
def test_prediction_is_within_15_percent_of_a_measured_training_step(method):
    from snippets.measure_memory import SMALL, measure_step

    # a reduced setting of the page's table (b = 2, s = 64), to stay fast
    measured = measure_step(method, batch=2, seq_len=64, checkpointing=False)
    predicted = finetune_memory(SMALL, method, "fp32", 2, 64).total
    assert abs(predicted - measured) / measured < 0.15


def test_a_frozen_linear_layer_does_not_save_its_input_for_backward():
    """Why LoRA keeps fewer activations than Korthikanti's 34 sbh (page claim)."""
    x = torch.randn(100, 32, requires_grad=True)
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t
        return t

    for frozen in (False, True):
        saved.clear()
        layer = torch.nn.Linear(32, 32, bias=False).requires_grad_(not frozen)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            layer(x)
        input_saved = x.untyped_storage().data_ptr() in saved
        assert input_saved is not frozen
