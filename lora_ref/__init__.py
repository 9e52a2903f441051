"""lora_ref: the PEFT Handbook's reference LoRA, numerically identical to PEFT.

One concept per module: `lora` (the layer), `inject` (putting layers into a
model and merging them out), `peft_io` (PEFT's adapter format), `counts`
(exact parameter counts of decoders), `budget` (fine-tuning memory and
storage), `spectra` (singular-value energy, Eckart–Young error and subspace
similarity of updates), `toy` (tiny models for
examples and tests), and the LoRA variants `vera`, `adalora` and `dylora`.
"""

from lora_ref.adalora import (
    AdaLoRALinear,
    RankAllocator,
    apply_adalora,
    orthogonal_regularizer,
)
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
from lora_ref.dylora import (
    DyLoRALinear,
    apply_dylora,
    sample_rank,
    truncate_dylora,
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
from lora_ref.peft_io import load_peft_adapter, save_peft_adapter
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
from lora_ref.vera import VeRALinear, apply_vera, vera_projections

__all__ = [
    "SHAPES",
    "AdaLoRALinear",
    "DyLoRALinear",
    "LoRALinear",
    "MemoryBreakdown",
    "ModelShape",
    "RankAllocator",
    "TinyMLP",
    "VeRALinear",
    "adapter_bytes",
    "apply_adalora",
    "apply_dylora",
    "apply_lora",
    "apply_vera",
    "best_rank_r",
    "check_lora_args",
    "count_parameters",
    "count_params",
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
    "mark_only_lora_trainable",
    "merge_lora",
    "orthogonal_regularizer",
    "param_count",
    "projection_norm",
    "sample_rank",
    "save_peft_adapter",
    "storage_bytes",
    "subspace_similarity",
    "tiny_llama",
    "tiny_llama_config",
    "top_singular_vectors",
    "truncate_dylora",
    "vera_projections",
]
