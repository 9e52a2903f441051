"""lora_ref: the PEFT Handbook's reference implementations, equal to PEFT.

One concept per file. The top level holds the LoRA vocabulary: the layer
(`lora`), putting layers into a model and merging them out (`inject`), PEFT's
adapter format (`peft_io`), counting a model's parameters
(`counts.parameter_counts`) and the tiny models of the examples and tests
(`toy`); and each method's classes and functions: VeRA (`vera`), AdaLoRA
(`adalora`), DyLoRA (`dylora`).

Analysis helpers are imported from their own modules only:
`lora_ref.counts` (parameter counts from a model's shape), `lora_ref.budget`
(fine-tuning memory and storage) and `lora_ref.spectra` (singular-value
energy, Eckart–Young error and subspace similarity of updates).
"""

from lora_ref.adalora import (
    AdaLoRALinear,
    RankAllocator,
    apply_adalora,
    orthogonal_regularizer,
)
from lora_ref.counts import parameter_counts
from lora_ref.dylora import DyLoRALinear, apply_dylora, sample_rank, truncate_dylora
from lora_ref.inject import (
    apply_lora,
    find_targets,
    install_lora,
    lora_layers,
    lora_state_dict,
    mark_only_lora_trainable,
    merge_lora,
)
from lora_ref.lora import LoRALinear, check_lora_args, lora_scaling
from lora_ref.peft_io import load_peft_adapter, save_peft_adapter
from lora_ref.toy import TinyMLP, tiny_llama, tiny_llama_config
from lora_ref.vera import VeRALinear, apply_vera, vera_projections

__all__ = [
    "AdaLoRALinear",
    "DyLoRALinear",
    "LoRALinear",
    "RankAllocator",
    "TinyMLP",
    "VeRALinear",
    "apply_adalora",
    "apply_dylora",
    "apply_lora",
    "apply_vera",
    "check_lora_args",
    "find_targets",
    "install_lora",
    "load_peft_adapter",
    "lora_layers",
    "lora_scaling",
    "lora_state_dict",
    "mark_only_lora_trainable",
    "merge_lora",
    "orthogonal_regularizer",
    "parameter_counts",
    "sample_rank",
    "save_peft_adapter",
    "tiny_llama",
    "tiny_llama_config",
    "truncate_dylora",
    "vera_projections",
]
