"""How many bytes fine-tuning a decoder needs: weights, grads, optimizer, activations.

Taught in "Why PEFT" (docs/why-peft.md), whose calculator
(docs/javascripts/memory-calculator.js) repeats `finetune_memory` byte for byte.
Parameter counts come from `lora_ref.counts` (import them from there). Bytes
follow ZeRO (Rajbhandari et al. 2020, arXiv 1910.02054, section 3.1: 16 bytes
per parameter for mixed-precision Adam), Korthikanti et al. 2022 (arXiv
2205.05198, section 4.1, eq. 1: activations) and QLoRA (Dettmers et al. 2023,
arXiv 2305.14314, section 3: NF4 and double quantization). Sharding across
N_d data-parallel devices follows ZeRO section 5 (stages 1-3: optimizer state,
then gradients, then weights split N_d ways); it is taught in "Training beyond
one machine" (docs/distributed.md). All byte arithmetic is in integers.
"""

from dataclasses import dataclass

from lora_ref.counts import (
    ModelShape,
    check_positive,
    lora_trainable_params,
    nf4_params,
    total_params,
)

__all__ = [
    "PRECISIONS",
    "ZERO_STAGES",
    "MemoryBreakdown",
    "activation_bytes",
    "adapter_bytes",
    "finetune_memory",
    "nf4_bytes",
    "storage_bytes",
]

PRECISIONS = {
    "full": ("fp32", "mixed"),  # fp32 AdamW; 16-bit weights + fp32 master copy
    "lora": ("bf16", "fp16", "fp32"),  # dtype of the frozen base
    "qlora": ("nf4", "nf4-dq"),  # NF4 base without / with double quantization
}

# ZeRO section 5: what each stage splits across the N_d devices
# (0 = plain data parallelism, every device holds everything)
ZERO_STAGES = {
    0: (),
    1: ("optimizer",),
    2: ("optimizer", "gradients"),
    3: ("optimizer", "gradients", "weights"),
}


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes of training state, by kind, on one device; `total` is their sum."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    total: int


def nf4_bytes(n: int, double_quant: bool, block: int = 64, dq_block: int = 256) -> int:
    """Bytes of n weights in NF4: 4 bits each plus one absmax constant per block.

    QLoRA section 3: fp32 constants per block of 64 add 32/64 = 0.5 bit (4.5 bits
    per weight); double quantization stores them in 8 bits, with one fp32
    constant per 256 of them: 8/64 + 32/(64*256) = 0.127 bit (4.127 bits).
    """
    blocks = -(-n // block)  # ceil
    if double_quant:
        bits = 4 * n + 8 * blocks + 32 * -(-blocks // dq_block)
    else:
        bits = 4 * n + 32 * blocks
    return -(-bits // 8)


def activation_bytes(
    shape: ModelShape,
    batch: int,
    seq_len: int,
    checkpointing: bool,
    element_bytes: int = 2,
    sbh: int = 34,
    as2: int = 5,
    logits_bytes: int = 4,
) -> int:
    """Activations kept for the backward pass (an estimate, not a measurement).

    Korthikanti et al. 2022, section 4.1, eq. 1: one layer keeps
    s b h (sbh + as2 a s / h) bytes with 16-bit activations (GPT: sbh = 34,
    as2 = 5); we scale by element_bytes / 2. With full recomputation
    (checkpointing) each layer keeps only its input, 2 s b h bytes at 16 bits,
    plus one layer's full activations while it is recomputed. The logits add
    s b V logits_bytes (the fp32 log-softmax that the loss keeps). Llama's
    SwiGLU MLP and RMSNorm change the constants: pass your own.
    """
    s, b, h, a = seq_len, batch, shape.hidden, shape.heads
    layer = (sbh * s * b * h + as2 * a * s * s * b) * element_bytes // 2
    if checkpointing:
        kept = shape.layers * s * b * h * element_bytes + layer
    else:
        kept = shape.layers * layer
    return kept + s * b * shape.vocab * logits_bytes


def finetune_memory(
    shape: ModelShape,
    method: str,
    precision: str,
    batch: int,
    seq_len: int,
    checkpointing: bool = False,
    r: int = 8,
    target_modules: str | list[str] | tuple[str, ...] = ("q_proj", "v_proj"),
    adam_bytes: int = 8,
    master_bytes: int = 4,
    adapter_dtype_bytes: int = 4,
    sbh: int = 34,
    as2: int = 5,
    logits_bytes: int = 4,
    devices: int = 1,
    zero_stage: int = 0,
) -> MemoryBreakdown:
    """Bytes to fine-tune `shape` with AdamW: weights, grads, optimizer, activations.

    The bytes are per device. With `devices` N_d > 1 and a ZeRO stage, each
    device keeps 1/N_d of the sharded states (rounded up to whole bytes):
    stage 1 the optimizer state, stage 2 also the gradients, stage 3 also the
    weights (ZeRO section 5; FSDP's FULL_SHARD is stage 3). For full
    mixed-precision fine-tuning this is the paper's 4Ψ + KΨ/N_d,
    2Ψ + (2 + K)Ψ/N_d and (2 + 2 + K)Ψ/N_d with K = 12. With LoRA and QLoRA
    the same stages split the adapter's states and, at stage 3, the frozen
    base too. Activations are not sharded: `batch` is each device's batch.

    Args:
        shape: the model's sizes.
        method: "full", "lora" or "qlora".
        precision: for "full", "fp32" (4 B weights and grads) or "mixed" (2 B
            weights and grads plus a 4 B fp32 master copy, ZeRO section 3.1); for
            "lora", the frozen base's dtype "bf16", "fp16" or "fp32"; for
            "qlora", "nf4" or "nf4-dq" (bf16 compute).
        batch: sequences per step (b).
        seq_len: tokens per sequence (s).
        checkpointing: activation checkpointing (full recomputation) is on.
        r: LoRA rank ("lora" and "qlora").
        target_modules: projections LoRA adapts, or "all-linear".
        adam_bytes: AdamW state per trainable parameter (two fp32 moments).
        master_bytes: fp32 master copy per parameter in mixed precision.
        adapter_dtype_bytes: bytes per LoRA parameter; PEFT keeps them in fp32.
        sbh: bytes per s·b·h element of one layer's activations in 16 bit
            (34 in Korthikanti et al. 2022, eq. 1); see `activation_bytes`.
        as2: the coefficient of the attention-score term 5·a·s/h (eq. 1).
        logits_bytes: bytes per logit the loss keeps (fp32 logits: 4).
        devices: data-parallel devices N_d (1: a single device).
        zero_stage: 0 (every device holds a full replica), 1, 2 or 3.

    Raises:
        ValueError: unknown method, precision or ZeRO stage, or a non-positive
            size or device count.
    """
    check_positive(batch=batch, seq_len=seq_len, r=r, devices=devices)
    if isinstance(zero_stage, bool) or zero_stage not in ZERO_STAGES:
        raise ValueError(
            f"zero_stage must be one of {sorted(ZERO_STAGES)} (0 = replicated), "
            f"got {zero_stage!r}"
        )
    if method not in PRECISIONS:
        raise ValueError(f"method must be one of {sorted(PRECISIONS)}, got {method!r}")
    if precision not in PRECISIONS[method]:
        raise ValueError(
            f"precision for {method!r} must be one of "
            f"{PRECISIONS[method]}, got {precision!r}"
        )
    n = total_params(shape)
    if method == "full":
        w = 4 if precision == "fp32" else 2
        weights, grads = w * n, w * n
        optimizer = (adam_bytes + (master_bytes if precision == "mixed" else 0)) * n
        element = w
    else:
        t = lora_trainable_params(shape, target_modules, r)
        if method == "lora":
            element = 4 if precision == "fp32" else 2
            base = element * n
        else:
            q = nf4_params(shape)
            base = nf4_bytes(q, precision == "nf4-dq") + 2 * (n - q)
            element = 2
        a = adapter_dtype_bytes
        weights, grads, optimizer = base + a * t, a * t, adam_bytes * t
    # ZeRO section 5: a sharded state is split N_d ways, a device keeps its part
    sharded = ZERO_STAGES[zero_stage]
    if "weights" in sharded:
        weights = -(-weights // devices)  # ceil
    if "gradients" in sharded:
        grads = -(-grads // devices)
    if "optimizer" in sharded:
        optimizer = -(-optimizer // devices)
    acts = activation_bytes(
        shape, batch, seq_len, checkpointing, element, sbh, as2, logits_bytes
    )
    return MemoryBreakdown(
        weights, grads, optimizer, acts, weights + grads + optimizer + acts
    )


def storage_bytes(
    n_params: int,
    n_trainable: int,
    tasks: int,
    weight_bytes: int = 2,
    adapter_dtype_bytes: int = 4,
) -> tuple[int, int]:
    """Disk for `tasks` fine-tuned models: (N full copies, one base + N adapters).

    Args:
        n_params: parameters of the base model.
        n_trainable: parameters of one LoRA adapter.
        tasks: number of tasks N.
        weight_bytes: bytes per weight of a saved full model (2 for bf16/fp16).
        adapter_dtype_bytes: bytes per adapter parameter (4: PEFT saves fp32).
    """
    check_positive(n_params=n_params, n_trainable=n_trainable, tasks=tasks)
    adapter = adapter_bytes(n_trainable, adapter_dtype_bytes)
    return tasks * weight_bytes * n_params, weight_bytes * n_params + tasks * adapter


def adapter_bytes(n_trainable: int, dtype_bytes: int = 4) -> int:
    """Bytes of one saved adapter's tensors (file headers not counted)."""
    check_positive(n_trainable=n_trainable, dtype_bytes=dtype_bytes)
    return n_trainable * dtype_bytes
