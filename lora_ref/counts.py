"""How many parameters a model has, and how many of them LoRA trains.

Taught in "Why PEFT" (docs/why-peft.md). Two kinds of count, named after what
they take:

- from a model: `parameter_counts(model)` gives (trainable, total), as PEFT's
  `PeftModel.get_nb_trainable_parameters` (peft 0.21.2) does;
- from a `ModelShape` alone (no model built): `total_params`,
  `lora_trainable_params` (r (d + k) per adapted projection, LoRA eq. 3) and
  `nf4_params` (the weights QLoRA quantizes). tests/test_counts.py proves they
  equal the counts of transformers models built on the `meta` device, with
  PEFT's and `lora_ref.apply_lora`'s LoRA on top.

`lora_ref.budget` turns these counts into bytes. Nothing here imports
transformers: `ModelShape.from_config` only reads a config's attributes.
"""

from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from torch import nn

LINEAR_NAMES = tuple("q_proj k_proj v_proj o_proj gate_proj up_proj down_proj".split())


def check_positive(**sizes: int) -> None:
    """Raise `ValueError` unless every keyword argument is a positive integer."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class ParameterCounts(NamedTuple):
    """(trainable, total) parameter counts of a model."""

    trainable: int
    total: int


def parameter_counts(model: nn.Module) -> ParameterCounts:
    """(trainable, total) parameters, as PEFT's `get_nb_trainable_parameters`.

    Unpacks like a tuple: `trainable, total = parameter_counts(model)`. Works
    on models built on the `meta` device (shapes only).
    """
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return ParameterCounts(trainable, total)


@dataclass(frozen=True)
class ModelShape:
    """Sizes of a Llama-style decoder (SwiGLU MLP, RMSNorm, grouped-query attention).

    Args:
        vocab: vocabulary size n_vocab.
        hidden: model width d_model.
        intermediate: MLP width.
        layers: number of decoder layers n_layers.
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
    def from_config(cls, config: Any) -> "ModelShape":
        """Read the sizes from a transformers `LlamaConfig` or `Qwen2Config`.

        Only the config's attributes are read, so this needs no transformers
        import.

        Raises:
            ValueError: another architecture, or biases this shape cannot model.
        """
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

    def config_kwargs(self) -> dict[str, Any]:
        """These sizes as transformers config arguments, `model_type` included.

        Build the config with `transformers.AutoConfig.for_model(**kwargs)`: a
        `Qwen2Config` when `qkv_bias`, else a `LlamaConfig`. Returning plain
        arguments keeps transformers out of `lora_ref`.
        """
        return {
            "model_type": "qwen2" if self.qkv_bias else "llama",
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "tie_word_embeddings": self.tied,
        }


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


def total_params(shape: ModelShape) -> int:
    """All parameters of the model, from the shape alone.

    Embeddings (twice unless tied), per layer the seven projections, the
    q/k/v biases (Qwen2) and two RMSNorm weights, and the final norm.
    """
    linear = sum(k * d for k, d in linear_shapes(shape).values())
    bias = (shape.heads + 2 * shape.kv_heads) * shape.head_dim if shape.qkv_bias else 0
    per_layer = linear + bias + 2 * shape.hidden  # two RMSNorm weights
    embeddings = shape.vocab * shape.hidden * (1 if shape.tied else 2)
    return embeddings + shape.layers * per_layer + shape.hidden  # + final norm


def nf4_params(shape: ModelShape) -> int:
    """Parameters QLoRA stores in NF4: the weights of every projection in every layer.

    Embeddings, the output layer, norms and biases stay in 16 bits, as in
    transformers' bitsandbytes integration (lm_head is skipped).
    """
    return shape.layers * sum(k * d for k, d in linear_shapes(shape).values())


def lora_trainable_params(
    shape: ModelShape, target_modules: str | list[str] | tuple[str, ...], r: int
) -> int:
    """Trainable LoRA parameters from the shape: r (k + d) per adapted projection.

    Args:
        shape: the model's sizes.
        target_modules: projection names from `LINEAR_NAMES`, or "all-linear"
            (PEFT's: every projection, not the output layer).
        r: the rank of every update.

    Raises:
        ValueError: a non-positive r, or an unknown or empty target list.
    """
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
