"""How many parameters a decoder has, and how many LoRA trains, computed exactly.

Taught in "Why PEFT" (docs/why-peft.md). Counts come from models built on the
`meta` device (shapes only: no memory, no download) and, for LoRA, from PEFT's
`get_peft_model` (its `get_nb_trainable_parameters`, peft 0.21.2) and
`lora_ref.apply_lora`, which must agree. `param_count` and `lora_count` give the
same numbers from the shapes alone; tests/test_budget.py proves they are equal.
`lora_ref.budget` turns these counts into bytes.
"""

from dataclasses import dataclass, fields

import torch

LINEAR_NAMES = tuple("q_proj k_proj v_proj o_proj gate_proj up_proj down_proj".split())


def check_positive(**sizes: int) -> None:
    """Raise `ValueError` unless every keyword argument is a positive integer."""
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
        check_positive(
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
    check_positive(r=r)
    names = LINEAR_NAMES if target_modules == "all-linear" else tuple(target_modules)
    shapes = linear_shapes(shape)
    unknown = sorted(set(names) - set(shapes))
    if unknown or not names:
        raise ValueError(
            f"target_modules must be names from {LINEAR_NAMES} or "
            f"'all-linear', got {target_modules!r}"
        )
    return shape.layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in set(names))
