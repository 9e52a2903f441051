"""Read and write LoRA adapters in PEFT's on-disk format.

PEFT (peft 0.21.2, `utils/save_and_load.py::get_peft_model_state_dict`,
`docs/source/developer_guides/checkpoint.md`) saves a directory with
`adapter_config.json` and `adapter_model.safetensors`. Tensor keys drop the
adapter name and keep the `base_model.model.` prefix:
`base_model.model.<module>.lora_A.weight` with shape (r, k) and
`base_model.model.<module>.lora_B.weight` with shape (d, r): the same
orientation as `LoRALinear.A` and `.B`, so no transpose is needed.

Taught in "LoRA from scratch" (docs/lora-from-scratch.md). Adapters are read
from safetensors only: a pickled `adapter_model.bin` can run code when loaded,
so it is refused.
"""

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lora_ref.inject import install_lora, lora_layers, mark_only_lora_trainable
from lora_ref.lora import check_lora_args

PREFIX = "base_model.model."
CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<factor>[AB])\.weight$")
# config options that change what the saved tensors mean; lora_ref has none of them
UNSUPPORTED = {
    "use_dora": False,
    "fan_in_fan_out": False,
    "lora_bias": False,
    "modules_to_save": None,
    "layer_replication": None,
    "target_parameters": None,
    "trainable_token_indices": None,
}


def save_peft_adapter(
    model: nn.Module, directory: str | Path, base_model_name_or_path: str | None = None
) -> Path:
    """Write the model's LoRA layers as a PEFT adapter directory.

    `peft.PeftModel.from_pretrained(base, directory)` then rebuilds the same
    layers, with identical outputs. Layers whose r or alpha differ from the
    first layer's are written as PEFT's `rank_pattern` / `alpha_pattern`.

    Args:
        model: a model with `LoRALinear` layers (see `apply_lora`).
        directory: where to write; created if missing.
        base_model_name_or_path: recorded in the config, as PEFT does.

    Returns:
        The directory.

    Raises:
        ValueError: the model has no LoRA layer, or its layers mix dropout or
            rsLoRA settings (PEFT stores one value of each per adapter).
    """
    layers = lora_layers(model)
    if not layers:
        raise ValueError(
            "the model has no LoRALinear layer, so there is no adapter to save"
        )
    first = next(iter(layers.values()))
    for name, layer in layers.items():
        if (layer.dropout_p, layer.use_rslora) != (first.dropout_p, first.use_rslora):
            raise ValueError(
                f"layer {name!r} has dropout={layer.dropout_p}, use_rslora="
                f"{layer.use_rslora}, but the first layer has "
                f"dropout={first.dropout_p}, "
                f"use_rslora={first.use_rslora}; a PEFT adapter stores one of each"
            )
    config = {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": base_model_name_or_path,
        "r": first.r,
        "lora_alpha": first.alpha,
        "lora_dropout": first.dropout_p,
        "use_rslora": first.use_rslora,
        "target_modules": sorted(layers),
        "rank_pattern": {n: m.r for n, m in layers.items() if m.r != first.r},
        "alpha_pattern": {
            n: m.alpha for n, m in layers.items() if m.alpha != first.alpha
        },
        "bias": "none",
        "fan_in_fan_out": False,
        "init_lora_weights": True,
        "use_dora": False,
        "inference_mode": True,
    }
    tensors = {}
    for name, layer in layers.items():
        if layer.merged:
            raise ValueError(f"layer {name!r} is merged; unmerge() it before saving")
        tensors[f"{PREFIX}{name}.lora_A.weight"] = layer.A.detach().contiguous()
        tensors[f"{PREFIX}{name}.lora_B.weight"] = layer.B.detach().contiguous()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    save_file(tensors, directory / WEIGHTS_NAME)
    return directory


def pattern_value(patterns: dict[str, float], name: str, default: float) -> float:
    """PEFT's `get_pattern_key`: the first key matching a suffix of `name`."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return value
    return default


def read_adapter(
    directory: str | Path,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The adapter's config and tensors, checked to be a plain PEFT LoRA.

    Raises:
        ValueError: missing files, a pickle-only adapter, or options lora_ref
            cannot reproduce (DoRA, fan_in_fan_out, modules_to_save, ...).
    """
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not weights_path.is_file():
        if (directory / "adapter_model.bin").is_file():
            raise ValueError(
                f"{directory} holds only adapter_model.bin, a pickle file that can run "
                "code when loaded; lora_ref reads safetensors only (re-save it with "
                "save_pretrained(..., safe_serialization=True))"
            )
        raise ValueError(f"{weights_path} does not exist")
    if not config_path.is_file():
        raise ValueError(f"{config_path} does not exist")
    config = json.loads(config_path.read_text())
    if config.get("peft_type") != "LORA":
        raise ValueError(
            f"{config_path}: peft_type is {config.get('peft_type')!r}, not 'LORA'"
        )
    for option, plain in UNSUPPORTED.items():
        if config.get(option, plain) not in (plain, [], {}):
            raise ValueError(
                f"{config_path}: {option}={config[option]!r} is not supported by "
                "lora_ref, which reads plain LoRA adapters only"
            )
    return config, load_file(weights_path)


def load_peft_adapter(
    model: nn.Module, directory: str | Path, is_trainable: bool = False
) -> nn.Module:
    """Install a PEFT-saved LoRA adapter into a plain model as `LoRALinear` layers.

    Every check runs before the model is touched: on any `ValueError` the
    model is left exactly as it was.

    Args:
        model: the base model the adapter was trained on (no LoRA layers yet).
        directory: a directory written by PEFT's `save_pretrained` (or by
            `save_peft_adapter`).
        is_trainable: leave A and B trainable. False, the default, freezes
            them, as `PeftModel.from_pretrained(..., is_trainable=False)` does.

    Returns:
        The model, with the adapter's layers installed.

    Raises:
        ValueError: the adapter is not a plain safetensors LoRA, names a module
            the model lacks or that is not an `nn.Linear`, or has a shape that
            does not fit the module (the message names module and shapes).
    """
    config, tensors = read_adapter(directory)
    factors: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        m = KEY.match(key)
        if m is None:
            raise ValueError(
                f"unexpected tensor {key!r} in the adapter: not a LoRA A or B"
            )
        factors.setdefault(m["module"], {})[m["factor"]] = tensor
    plan = []
    for name, pair in factors.items():
        if set(pair) != {"A", "B"}:
            raise ValueError(
                f"module {name!r} has lora_{set(pair).pop()} but not both A and B"
            )
        try:
            base = model.get_submodule(name)
        except AttributeError:
            raise ValueError(
                f"the adapter adapts {name!r}, which this model does not have: "
                "was it trained on another base model?"
            ) from None
        if not isinstance(base, nn.Linear):
            raise ValueError(f"{name!r} is a {type(base).__name__}, not an nn.Linear")
        A, B = pair["A"], pair["B"]
        d, k = base.weight.shape
        r = A.shape[0]
        if A.shape != (r, k) or B.shape != (d, r):
            raise ValueError(
                f"adapter shapes do not fit {name!r}: its weight is (d, k) = {(d, k)}, "
                f"so A must be (r, {k}) and B ({d}, r), but the adapter has "
                f"A {tuple(A.shape)} and B {tuple(B.shape)}"
            )
        want_r = pattern_value(config.get("rank_pattern") or {}, name, config["r"])
        if r != want_r:
            raise ValueError(
                f"{name!r}: the config says r={want_r}, the tensors have r={r}"
            )
        alpha = pattern_value(
            config.get("alpha_pattern") or {}, name, config["lora_alpha"]
        )
        dropout = config.get("lora_dropout", 0.0)
        # the same check LoRALinear makes, run here for every layer before the
        # first one is installed, so a bad adapter leaves the model untouched
        check_lora_args(r, alpha, dropout)
        plan.append((name, A, B, alpha, dropout))
    if not plan:
        raise ValueError(f"{directory}: the adapter holds no LoRA tensors")
    use_rslora = bool(config.get("use_rslora", False))
    for name, A, B, alpha, dropout in plan:
        layer = install_lora(model, name, A.shape[0], alpha, dropout, use_rslora)
        with torch.no_grad():
            layer.A.copy_(A)  # copy_ casts to the base weight's dtype
            layer.B.copy_(B)
    mark_only_lora_trainable(model)
    if not is_trainable:
        model.requires_grad_(False)
    return model
