"""lora_ref.budget: byte formulas, bad input (the counts: tests/test_counts.py).

Also reruns the page's predicted-vs-measured check on a reduced setting: one
real AdamW step of a small Llama on CPU, full fine-tuning and LoRA.
"""

import pytest
import torch

from lora_ref.budget import (
    activation_bytes,
    adapter_bytes,
    finetune_memory,
    nf4_bytes,
    storage_bytes,
)
from lora_ref.counts import (
    SHAPES,
    ModelShape,
    lora_trainable_params,
    nf4_params,
    total_params,
)

TINY = ModelShape(
    vocab=10, hidden=8, intermediate=12, layers=2, heads=2, kv_heads=1, head_dim=4
)
QV = ["q_proj", "v_proj"]


def test_full_finetuning_costs_16_bytes_per_parameter_in_fp32_and_mixed_precision():
    n = total_params(TINY)
    for precision in ("fp32", "mixed"):
        m = finetune_memory(TINY, "full", precision, batch=1, seq_len=1)
        assert m.weights + m.gradients + m.optimizer == 16 * n
    mixed = finetune_memory(TINY, "full", "mixed", 1, 1)
    assert (mixed.weights, mixed.gradients, mixed.optimizer) == (2 * n, 2 * n, 12 * n)


def test_lora_memory_is_a_frozen_16_bit_base_plus_16_bytes_per_adapter_parameter():
    n, t = total_params(TINY), lora_trainable_params(TINY, QV, 2)
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
    n, q, t = total_params(TINY), nf4_params(TINY), lora_trainable_params(TINY, QV, 8)
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
    t = lora_trainable_params(SHAPES["LLaMA-7B"], QV, 8)
    assert adapter_bytes(t) == 4 * t and adapter_bytes(t, 2) == 2 * t
    n = total_params(SHAPES["LLaMA-7B"])
    full, shared = storage_bytes(n, t, tasks=10)
    assert full == 10 * 2 * n and shared == 2 * n + 10 * 4 * t


def test_adapter_bytes_equal_the_tensor_bytes_peft_saves(tmp_path):
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file

    from lora_ref import parameter_counts, tiny_llama

    model = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=QV))
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "adapter_model.safetensors")
    tensor_bytes = sum(t.numel() * t.element_size() for t in saved.values())
    assert tensor_bytes == adapter_bytes(parameter_counts(model).trainable)


def test_zero_stages_give_the_papers_per_device_model_states_for_full_finetuning():
    # ZeRO section 5, mixed-precision Adam (K = 12), Psi parameters, N_d devices
    psi, n_d, K = total_params(SHAPES["LLaMA-7B"]), 8, 12

    def states(stage: int) -> int:
        m = finetune_memory(
            SHAPES["LLaMA-7B"], "full", "mixed", 1, 1, devices=n_d, zero_stage=stage
        )
        return m.weights + m.gradients + m.optimizer

    assert states(0) == (2 + 2 + K) * psi
    assert states(1) == pytest.approx(4 * psi + K * psi / n_d, abs=1)
    assert states(2) == pytest.approx(2 * psi + (2 + K) * psi / n_d, abs=2)
    assert states(3) == pytest.approx((2 + 2 + K) * psi / n_d, abs=3)
    assert states(1) > states(2) > states(3)


def test_sharding_does_not_change_activations_or_a_single_device():
    one = finetune_memory(TINY, "lora", "bf16", 2, 8)
    for stage in (0, 1, 2, 3):
        assert finetune_memory(TINY, "lora", "bf16", 2, 8, zero_stage=stage) == one
        sharded = finetune_memory(
            TINY, "lora", "bf16", 2, 8, devices=4, zero_stage=stage
        )
        assert sharded.activations == one.activations
    replicated = finetune_memory(TINY, "full", "fp32", 2, 8, devices=4, zero_stage=0)
    assert replicated == finetune_memory(TINY, "full", "fp32", 2, 8)


def test_zero_3_shards_the_frozen_base_and_the_adapter_states_of_lora():
    n, t = total_params(TINY), lora_trainable_params(TINY, QV, 2)
    for stage, (w, g, o) in {
        1: (2 * n + 4 * t, 4 * t, -(-8 * t // 3)),
        2: (2 * n + 4 * t, -(-4 * t // 3), -(-8 * t // 3)),
        3: (-(-(2 * n + 4 * t) // 3), -(-4 * t // 3), -(-8 * t // 3)),
    }.items():
        m = finetune_memory(
            TINY, "lora", "bf16", 1, 1, r=2, devices=3, zero_stage=stage
        )
        assert (m.weights, m.gradients, m.optimizer) == (w, g, o)


def test_llama_7b_full_finetuning_at_zero_3_on_8_devices_is_16_bytes_over_8():
    psi = total_params(SHAPES["LLaMA-7B"])
    m = finetune_memory(
        SHAPES["LLaMA-7B"], "full", "mixed", 1, 2048, True, devices=8, zero_stage=3
    )
    # each state rounds up on its own: 2, 2 and 12 bytes per parameter over 8
    assert (m.weights, m.gradients, m.optimizer) == (
        -(-2 * psi // 8),
        -(-2 * psi // 8),
        -(-12 * psi // 8),
    )
    assert round((m.weights + m.gradients + m.optimizer) / 1e9, 2) == 13.48


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"devices": 0}, "devices must be a positive integer"),
        ({"devices": 2.0}, "devices must be a positive integer"),
        ({"zero_stage": 4}, "zero_stage must be one of"),
        ({"zero_stage": -1}, "zero_stage must be one of"),
        ({"zero_stage": True}, "zero_stage must be one of"),
        ({"zero_stage": "3"}, "zero_stage must be one of"),
    ],
)
def test_invalid_devices_and_zero_stage_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        finetune_memory(TINY, "full", "mixed", 1, 1, **kwargs)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: finetune_memory(TINY, "prefix", "fp32", 1, 1), "method must be"),
        (lambda: finetune_memory(TINY, "full", "bf16", 1, 1), "precision for 'full'"),
        (lambda: finetune_memory(TINY, "qlora", "bf16", 1, 1), "precision for 'qlo"),
        (lambda: finetune_memory(TINY, "lora", "bf16", 0, 1), "batch must be"),
        (lambda: finetune_memory(TINY, "lora", "bf16", 1, -5), "seq_len must be"),
        (lambda: finetune_memory(TINY, "lora", "bf16", 1, 1, r=0), "r must be"),
        (
            lambda: finetune_memory(TINY, "lora", "bf16", 1, 1, target_modules=["x"]),
            "target_modules must be names",
        ),
        (lambda: adapter_bytes(0), "n_trainable must be"),
        (lambda: adapter_bytes(10, dtype_bytes=True), "dtype_bytes must be"),
        (lambda: storage_bytes(10, 1, tasks=0), "tasks must be"),
    ],
)
def test_invalid_sizes_methods_and_precisions_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
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


@pytest.mark.slow  # a real AdamW step, profiled
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
