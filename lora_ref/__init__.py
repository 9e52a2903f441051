"""lora_ref: the PEFT Handbook's reference LoRA, numerically identical to PEFT.

One concept per module: `lora` (the layer), `inject` (putting layers into a
model and merging them out), `peft_io` (PEFT's adapter format), `counts`
(exact parameter counts of decoders), `budget` (fine-tuning memory and
storage), `spectra` (singular-value energy, Eckart–Young error and subspace
similarity of updates), `toy` (tiny models for
examples and tests). LoRA variants: `dora` (DoRA), `pissa` (PiSSA init and
its conversion to LoRA), `lora_plus` (LoRA+ optimizer groups).
"""

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
from lora_ref.dora import DoRALinear, apply_dora
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
from lora_ref.lora_plus import create_loraplus_optimizer, loraplus_param_groups
from lora_ref.peft_io import load_peft_adapter, save_peft_adapter
from lora_ref.pissa import apply_pissa, pissa_init, pissa_to_lora
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
    "DoRALinear",
    "LoRALinear",
    "MemoryBreakdown",
    "ModelShape",
    "TinyMLP",
    "adapter_bytes",
    "apply_dora",
    "apply_lora",
    "apply_pissa",
    "best_rank_r",
    "check_lora_args",
    "count_parameters",
    "count_params",
    "create_loraplus_optimizer",
    "eckart_young_error",
    "energy_captured",
    "finetune_memory",
    "find_targets",
    "gaussian_like",
    "load_peft_adapter",
    "lora_count",
    "lora_layers",
    "lora_params",
    "lora_scaling",
    "lora_state_dict",
    "loraplus_param_groups",
    "mark_only_lora_trainable",
    "merge_lora",
    "param_count",
    "pissa_init",
    "pissa_to_lora",
    "projection_norm",
    "save_peft_adapter",
    "storage_bytes",
    "subspace_similarity",
    "tiny_llama",
    "tiny_llama_config",
    "top_singular_vectors",
]
