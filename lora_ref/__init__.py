"""lora_ref: the PEFT Handbook's reference LoRA, numerically identical to PEFT.

The top level holds the LoRA vocabulary: the layer (`lora`), putting layers
into a model and merging them out (`inject`), PEFT's adapter format
(`peft_io`), many adapters on one base with a per-row choice in a
mixed batch (`multi_adapter`), counting a model's parameters
(`counts.parameter_counts`) and the tiny models of the examples and tests
(`toy`). Method modules (one concept per file) add their classes here too.

Analysis helpers are imported from their own modules only:
`lora_ref.counts` (parameter counts from a model's shape), `lora_ref.budget`
(fine-tuning memory and storage) and `lora_ref.spectra` (singular-value
energy, Eckart–Young error and subspace similarity of updates).
"""

from lora_ref.counts import parameter_counts
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
from lora_ref.multi_adapter import (
    MultiLoRALinear,
    adapter_index,
    load_peft_adapters,
    set_adapter_index,
)
from lora_ref.peft_io import load_peft_adapter, save_peft_adapter
from lora_ref.toy import TinyMLP, tiny_llama, tiny_llama_config

__all__ = [
    "LoRALinear",
    "MultiLoRALinear",
    "TinyMLP",
    "adapter_index",
    "apply_lora",
    "check_lora_args",
    "find_targets",
    "install_lora",
    "load_peft_adapter",
    "load_peft_adapters",
    "lora_layers",
    "lora_scaling",
    "lora_state_dict",
    "mark_only_lora_trainable",
    "merge_lora",
    "parameter_counts",
    "save_peft_adapter",
    "set_adapter_index",
    "tiny_llama",
    "tiny_llama_config",
]
