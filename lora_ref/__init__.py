"""lora_ref: the PEFT Handbook's reference LoRA, numerically identical to PEFT.

One concept per module: `lora` (the layer), `inject` (putting layers into a
model and merging them out), `peft_io` (PEFT's adapter format), `counts`
(exact parameter counts of decoders), `budget` (fine-tuning memory and
storage), `spectra` (singular-value energy, Eckart–Young error and subspace
similarity of updates), `toy` (tiny models for
examples and tests).
"""

from lora_ref.adapters import (
    AdaptedSublayer,
    BottleneckAdapter,
    adapter_params,
    adapters,
    apply_adapters,
    mark_only_adapters_trainable,
)
from lora_ref.bitfit import bias_names, mark_only_biases_trainable
from lora_ref.budget import (
    MemoryBreakdown,
    adapter_bytes,
    finetune_memory,
    storage_bytes,
)
from lora_ref.counts import (
    SHAPES,
    ModelShape,
    count_params,
    lora_count,
    lora_params,
    param_count,
)
from lora_ref.ia3 import (
    IA3Linear,
    apply_ia3,
    ia3_layers,
    mark_only_ia3_trainable,
    merge_ia3,
)
from lora_ref.inject import (
    apply_lora,
    count_parameters,
    find_targets,
    lora_layers,
    lora_state_dict,
    mark_only_lora_trainable,
    merge_lora,
)
from lora_ref.lora import LoRALinear, check_lora_args, lora_scaling
from lora_ref.p_tuning import PromptEncoder
from lora_ref.peft_io import load_peft_adapter, save_peft_adapter
from lora_ref.prefix_tuning import (
    PrefixTuning,
    attend_with_prefix,
    extend_attention_mask,
)
from lora_ref.prompt_tuning import (
    SoftPrompt,
    pad_labels,
    prepend_virtual_tokens,
    repeat_to_length,
)
from lora_ref.spectra import (
    best_rank_r,
    eckart_young_error,
    energy_captured,
    gaussian_like,
    projection_norm,
    subspace_similarity,
    top_singular_vectors,
)
from lora_ref.toy import TinyMLP, tiny_llama, tiny_llama_config

__all__ = [
    "SHAPES",
    "AdaptedSublayer",
    "BottleneckAdapter",
    "IA3Linear",
    "LoRALinear",
    "MemoryBreakdown",
    "ModelShape",
    "PrefixTuning",
    "PromptEncoder",
    "SoftPrompt",
    "TinyMLP",
    "adapter_bytes",
    "adapter_params",
    "adapters",
    "apply_adapters",
    "apply_ia3",
    "apply_lora",
    "attend_with_prefix",
    "best_rank_r",
    "bias_names",
    "check_lora_args",
    "count_parameters",
    "count_params",
    "eckart_young_error",
    "energy_captured",
    "extend_attention_mask",
    "finetune_memory",
    "find_targets",
    "gaussian_like",
    "ia3_layers",
    "load_peft_adapter",
    "lora_count",
    "lora_layers",
    "lora_params",
    "lora_scaling",
    "lora_state_dict",
    "mark_only_adapters_trainable",
    "mark_only_biases_trainable",
    "mark_only_ia3_trainable",
    "mark_only_lora_trainable",
    "merge_ia3",
    "merge_lora",
    "pad_labels",
    "param_count",
    "prepend_virtual_tokens",
    "projection_norm",
    "repeat_to_length",
    "save_peft_adapter",
    "storage_bytes",
    "subspace_similarity",
    "tiny_llama",
    "tiny_llama_config",
    "top_singular_vectors",
]
