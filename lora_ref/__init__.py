"""lora_ref: the PEFT Handbook's reference LoRA, numerically identical to PEFT.

One concept per module: `lora` (the layer), `inject` (putting layers into a
model and merging them out), `peft_io` (PEFT's adapter format), `counts`
(exact parameter counts of decoders), `budget` (fine-tuning memory and
storage), `spectra` (singular-value energy, Eckart–Young error and subspace
similarity of updates), `nf4` (4-bit NormalFloat quantization, bit for bit
bitsandbytes'), `qlora` (LoRA over an NF4 base), `toy` (tiny models for
examples and tests).
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
from lora_ref.nf4 import (
    NF4_CODE,
    NF4State,
    bits_per_parameter,
    dequantize_nf4,
    normal_float_levels,
    quantize_nf4,
)
from lora_ref.peft_io import load_peft_adapter, save_peft_adapter
from lora_ref.qlora import QLoRALinear
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
    "NF4_CODE",
    "SHAPES",
    "LoRALinear",
    "MemoryBreakdown",
    "ModelShape",
    "NF4State",
    "QLoRALinear",
    "TinyMLP",
    "adapter_bytes",
    "apply_lora",
    "best_rank_r",
    "bits_per_parameter",
    "check_lora_args",
    "count_parameters",
    "count_params",
    "dequantize_nf4",
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
    "normal_float_levels",
    "param_count",
    "projection_norm",
    "quantize_nf4",
    "save_peft_adapter",
    "storage_bytes",
    "subspace_similarity",
    "tiny_llama",
    "tiny_llama_config",
    "top_singular_vectors",
]
