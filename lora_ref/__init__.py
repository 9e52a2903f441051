"""lora_ref: the PEFT Handbook's reference implementations, equal to PEFT.

One concept per file. The top level holds the LoRA vocabulary: the layer
(`lora`), putting layers into a model and merging them out (`inject`), PEFT's
adapter format (`peft_io`), counting a model's parameters
(`counts.parameter_counts`) and the tiny models of the examples and tests
(`toy`); and each method's classes and functions: many adapters in one mixed
batch (`multi_adapter`), QLoRA and NF4 (`qlora`, `nf4`), DoRA (`dora`), PiSSA
(`pissa`), LoRA+ (`lora_plus`), VeRA (`vera`), AdaLoRA (`adalora`), DyLoRA
(`dylora`), IA³ (`ia3`), prompt tuning (`prompt_tuning`), prefix tuning
(`prefix_tuning`), P-tuning (`p_tuning`), bottleneck adapters (`adapters`),
BitFit (`bitfit`).

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
from lora_ref.adapters import (
    AdaptedSublayer,
    BottleneckAdapter,
    adapter_layers,
    adapter_params,
    apply_adapters,
    mark_only_adapters_trainable,
)
from lora_ref.bitfit import bias_names, mark_only_biases_trainable
from lora_ref.counts import parameter_counts
from lora_ref.dora import DoRALinear, apply_dora
from lora_ref.dylora import DyLoRALinear, apply_dylora, sample_rank, truncate_dylora
from lora_ref.ia3 import (
    IA3Linear,
    apply_ia3,
    ia3_layers,
    mark_only_ia3_trainable,
    merge_ia3,
)
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
from lora_ref.lora_plus import create_loraplus_optimizer, loraplus_param_groups
from lora_ref.multi_adapter import (
    MultiLoRALinear,
    adapter_index,
    load_peft_adapters,
    set_adapter_index,
)
from lora_ref.nf4 import (
    NF4_CODE,
    NF4State,
    bits_per_parameter,
    dequantize_nf4,
    normal_float_levels,
    quantize_nf4,
)
from lora_ref.p_tuning import PromptEncoder
from lora_ref.peft_io import load_peft_adapter, save_peft_adapter
from lora_ref.pissa import apply_pissa, pissa_init, pissa_to_lora
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
from lora_ref.qlora import QLoRALinear
from lora_ref.toy import TinyMLP, tiny_llama, tiny_llama_config
from lora_ref.vera import VeRALinear, apply_vera, vera_projections

__all__ = [
    "AdaLoRALinear",
    "AdaptedSublayer",
    "BottleneckAdapter",
    "DoRALinear",
    "DyLoRALinear",
    "IA3Linear",
    "LoRALinear",
    "MultiLoRALinear",
    "NF4State",
    "NF4_CODE",
    "PrefixTuning",
    "PromptEncoder",
    "QLoRALinear",
    "RankAllocator",
    "SoftPrompt",
    "TinyMLP",
    "VeRALinear",
    "adapter_index",
    "adapter_layers",
    "adapter_params",
    "apply_adalora",
    "apply_adapters",
    "apply_dora",
    "apply_dylora",
    "apply_ia3",
    "apply_lora",
    "apply_pissa",
    "apply_vera",
    "attend_with_prefix",
    "bias_names",
    "bits_per_parameter",
    "check_lora_args",
    "create_loraplus_optimizer",
    "dequantize_nf4",
    "extend_attention_mask",
    "find_targets",
    "ia3_layers",
    "install_lora",
    "load_peft_adapter",
    "load_peft_adapters",
    "lora_layers",
    "lora_scaling",
    "lora_state_dict",
    "loraplus_param_groups",
    "mark_only_adapters_trainable",
    "mark_only_biases_trainable",
    "mark_only_ia3_trainable",
    "mark_only_lora_trainable",
    "merge_ia3",
    "merge_lora",
    "normal_float_levels",
    "orthogonal_regularizer",
    "pad_labels",
    "parameter_counts",
    "pissa_init",
    "pissa_to_lora",
    "prepend_virtual_tokens",
    "quantize_nf4",
    "repeat_to_length",
    "sample_rank",
    "save_peft_adapter",
    "set_adapter_index",
    "tiny_llama",
    "tiny_llama_config",
    "truncate_dylora",
    "vera_projections",
]
