"""How many parameters, and how many bytes, fine-tuning a decoder needs.

Taught in "Why PEFT" (docs/why-peft.md), whose calculator
(docs/javascripts/memory-calculator.js) repeats `finetune_memory` byte for byte.
Counts come from models built on the `meta` device and, for LoRA, from PEFT's
`get_peft_model` (its `get_nb_trainable_parameters`, peft 0.21.2) and
`lora_ref.apply_lora`, which must agree. Bytes follow ZeRO (Rajbhandari et al.
2020, arXiv 1910.02054, section 3.1: 16 bytes per parameter for mixed-precision
Adam), Korthikanti et al. 2022 (arXiv 2205.05198, section 4.1, eq. 1:
activations) and QLoRA (Dettmers et al. 2023, arXiv 2305.14314, section 3: NF4
and double quantization). All byte arithmetic is in integers.
"""

from dataclasses import dataclass, fields

import torch

LINEAR_NAMES = tuple("q_proj k_proj v_proj o_proj gate_proj up_proj down_proj".split())
PRECISIONS = {
    "full": ("fp32", "mixed"),  # fp32 AdamW; 16-bit weights + fp32 master copy
    "lora": ("bf16", "fp16", "fp32"),  # dtype of the frozen base
    "qlora": ("nf4", "nf4-dq"),  # NF4 base without / with double quantization
}


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class ModelShape:
    """Sizes of a Llama-style decoder (SwiGLU MLP, RMSNorm, grouped-query attention).

    Args:
        vocab: vocabulary size V.
        hidden: model width h.
        intermediate: MLP width.
        layers: number of decoder layers L.
        heads: attention heads a.
        kv_heads: key/value heads (= heads without grouped-query attention).
        head_dim: width of one head (usually hidden // heads).
        qkv_bias: q, k and v projections have a bias (Qwen2).
        tied: the output layer shares the input embedding's weight.
    """

    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    qkv_bias: bool = False
    tied: bool = False

    def __post_init__(self) -> None:
        _check_positive(
            **{f.name: getattr(self, f.name) for f in fields(self) if f.type is int}
        )
        if self.heads % self.kv_heads:
            raise ValueError(
                f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})"
            )

    @classmethod
    def from_config(cls, config) -> "ModelShape":
        """Read the sizes from a transformers `LlamaConfig` or `Qwen2Config`."""
        if config.model_type not in ("llama", "qwen2"):
            raise ValueError(f"only Llama and Qwen2 shapes, got {config.model_type!r}")
        if getattr(config, "mlp_bias", False) or getattr(config, "attention_bias", 0):
            raise ValueError("biases on o_proj or the MLP are not modelled")
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(
            vocab=config.vocab_size,
            hidden=config.hidden_size,
            intermediate=config.intermediate_size,
            layers=config.num_hidden_layers,
            heads=heads,
            kv_heads=config.num_key_value_heads or heads,
            head_dim=head_dim,
            qkv_bias=config.model_type == "qwen2",
            tied=bool(config.tie_word_embeddings),
        )

    def to_config(self):
        """The transformers config with these sizes (Qwen2Config when qkv_bias)."""
        from transformers import LlamaConfig, Qwen2Config

        cls = Qwen2Config if self.qkv_bias else LlamaConfig
        return cls(
            vocab_size=self.vocab,
            hidden_size=self.hidden,
            intermediate_size=self.intermediate,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads,
            head_dim=self.head_dim,
            tie_word_embeddings=self.tied,
        )


# Published shapes: LLaMA paper (Touvron et al. 2023, arXiv 2302.13971, table 2;
# MLP width 2/3 * 4h rounded up to a multiple of 256), Llama 2 (arXiv 2307.09288,
# section 2.2: grouped-query attention, 8 KV heads at 70B) and Qwen2.5-0.5B's
# config.json on the Hugging Face hub.
SHAPES = {
    "LLaMA-7B": ModelShape(32000, 4096, 11008, 32, 32, 32, 128),
    "LLaMA-13B": ModelShape(32000, 5120, 13824, 40, 40, 40, 128),
    "LLaMA-33B": ModelShape(32000, 6656, 17920, 60, 52, 52, 128),
    "LLaMA-65B": ModelShape(32000, 8192, 22016, 80, 64, 64, 128),
    "Llama-2-70B": ModelShape(32000, 8192, 28672, 80, 64, 8, 128),
    "Qwen2.5-0.5B": ModelShape(
        151936, 896, 4864, 24, 14, 2, 64, qkv_bias=True, tied=True
    ),
}


def count_params(config) -> int:
    """Exact parameter count of `AutoModelForCausalLM.from_config(config)`.

    The model is built on the meta device: shapes only, no memory, no download.
    """
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _target_list(model: torch.nn.Module, target_modules: str | list[str]) -> list[str]:
    """PEFT's "all-linear" spelled out: every nn.Linear except the output layer."""
    if target_modules != "all-linear":
        return list(target_modules)
    head = model.get_output_embeddings()
    return sorted(
        {
            n.rsplit(".", 1)[-1]
            for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and m is not head
        }
    )


def lora_params(config, target_modules: str | list[str], r: int) -> int:
    """Exact trainable LoRA count, from PEFT and from `lora_ref` on meta models.

    Raises:
        RuntimeError: PEFT and `lora_ref.apply_lora` disagree.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from lora_ref.inject import apply_lora

    with torch.device("meta"):  # LoRA factors are created on meta too
        theirs = get_peft_model(
            AutoModelForCausalLM.from_config(config),
            LoraConfig(r=r, target_modules=target_modules),
        )
        ours = AutoModelForCausalLM.from_config(config)
        apply_lora(ours, _target_list(ours, target_modules), r=r)
    peft_count = theirs.get_nb_trainable_parameters()[0]
    ours_count = sum(p.numel() for p in ours.parameters() if p.requires_grad)
    if peft_count != ours_count:
        raise RuntimeError(f"PEFT counts {peft_count}, lora_ref counts {ours_count}")
    return ours_count


def linear_shapes(shape: ModelShape) -> dict[str, tuple[int, int]]:
    """(k, d) = (in_features, out_features) of each projection in one layer."""
    h, q, kv, i = (
        shape.hidden,
        shape.heads * shape.head_dim,
        shape.kv_heads * shape.head_dim,
        shape.intermediate,
    )
    return {
        "q_proj": (h, q),
        "k_proj": (h, kv),
        "v_proj": (h, kv),
        "o_proj": (q, h),
        "gate_proj": (h, i),
        "up_proj": (h, i),
        "down_proj": (i, h),
    }


def param_count(shape: ModelShape) -> int:
    """Total parameters from the shape alone (tests check it equals `count_params`)."""
    linear = sum(k * d for k, d in linear_shapes(shape).values())
    bias = (shape.heads + 2 * shape.kv_heads) * shape.head_dim if shape.qkv_bias else 0
    per_layer = linear + bias + 2 * shape.hidden  # two RMSNorm weights
    embeddings = shape.vocab * shape.hidden * (1 if shape.tied else 2)
    return embeddings + shape.layers * per_layer + shape.hidden  # + final norm


def quantized_count(shape: ModelShape) -> int:
    """Parameters QLoRA stores in NF4: the weights of every projection in every layer.

    Embeddings, the output layer, norms and biases stay in 16 bits, as in
    transformers' bitsandbytes integration (lm_head is skipped).
    """
    return shape.layers * sum(k * d for k, d in linear_shapes(shape).values())


def lora_count(shape: ModelShape, target_modules: str | list[str], r: int) -> int:
    """Trainable LoRA parameters from the shape: r (k + d) per adapted projection."""
    _check_positive(r=r)
    names = LINEAR_NAMES if target_modules == "all-linear" else tuple(target_modules)
    shapes = linear_shapes(shape)
    unknown = sorted(set(names) - set(shapes))
    if unknown or not names:
        raise ValueError(
            f"target_modules must be names from {LINEAR_NAMES} or "
            f"'all-linear', got {target_modules!r}"
        )
    return shape.layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in set(names))


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes of training state, by kind; `total` is their sum."""

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
    target_modules: str | list[str] = ("q_proj", "v_proj"),
    adam_bytes: int = 8,
    master_bytes: int = 4,
    adapter_dtype_bytes: int = 4,
    sbh: int = 34,
    as2: int = 5,
    logits_bytes: int = 4,
) -> MemoryBreakdown:
    """Bytes to fine-tune `shape` with AdamW: weights, grads, optimizer, activations.

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

    Raises:
        ValueError: unknown method or precision, or a non-positive size.
    """
    _check_positive(batch=batch, seq_len=seq_len, r=r)
    if method not in PRECISIONS:
        raise ValueError(f"method must be one of {sorted(PRECISIONS)}, got {method!r}")
    if precision not in PRECISIONS[method]:
        raise ValueError(
            f"precision for {method!r} must be one of "
            f"{PRECISIONS[method]}, got {precision!r}"
        )
    n = param_count(shape)
    if method == "full":
        w = 4 if precision == "fp32" else 2
        weights, grads = w * n, w * n
        optimizer = (adam_bytes + (master_bytes if precision == "mixed" else 0)) * n
        element = w
    else:
        t = lora_count(shape, target_modules, r)
        if method == "lora":
            element = 4 if precision == "fp32" else 2
            base = element * n
        else:
            q = quantized_count(shape)
            base = nf4_bytes(q, precision == "nf4-dq") + 2 * (n - q)
            element = 2
        a = adapter_dtype_bytes
        weights, grads, optimizer = base + a * t, a * t, adam_bytes * t
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
    _check_positive(n_params=n_params, n_trainable=n_trainable, tasks=tasks)
    adapter = adapter_bytes(n_trainable, adapter_dtype_bytes)
    return tasks * weight_bytes * n_params, weight_bytes * n_params + tasks * adapter


def adapter_bytes(n_trainable: int, dtype_bytes: int = 4) -> int:
    """Bytes of one saved adapter's tensors (file headers not counted)."""
    _check_positive(n_trainable=n_trainable, dtype_bytes=dtype_bytes)
    return n_trainable * dtype_bytes
