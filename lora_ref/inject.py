"""Put LoRA layers into a model, train only them, and merge them back out.

Taught in "LoRA from scratch" (docs/lora-from-scratch.md). PEFT counterparts
(peft 0.21.2): `get_peft_model` / `LoraModel._create_and_replace` for
`apply_lora` and `install_lora`, `BaseTuner._mark_only_adapters_as_trainable` for
`mark_only_lora_trainable`, and `LoraModel.merge_and_unload` for `merge_lora`.
`replace_layer` and `wrap_targets` install the layers of the other methods.

Target selection follows PEFT's `check_target_module_exists`: a list entry
matches a module whose qualified name equals it or ends with "." + entry; a
single string is matched against the whole name as a regular expression.
"""

import re
from collections.abc import Callable

import torch
from torch import nn

from lora_ref.lora import LoRALinear


def matches_target(
    name: str, target_modules: str | list[str] | tuple[str, ...]
) -> bool:
    """Does the module called `name` match `target_modules` (PEFT's rules)?

    Args:
        name: a qualified module name, e.g. "model.layers.0.self_attn.q_proj".
        target_modules: a regex for the whole name, or a list of names/suffixes.
    """
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return any(name == t or name.endswith("." + t) for t in target_modules)


def find_targets(
    model: nn.Module, target_modules: str | list[str] | tuple[str, ...]
) -> list[str]:
    """Qualified names of the modules that `target_modules` selects.

    Raises:
        ValueError: nothing matches, or a match is not an `nn.Linear`.
    """
    if not isinstance(target_modules, str | list | tuple) or not target_modules:
        raise ValueError(
            "target_modules must be a non-empty list of module names "
            f"(or a regex string), got {target_modules!r}"
        )
    names = [
        n for n, _ in model.named_modules() if n and matches_target(n, target_modules)
    ]
    if not names:
        linear = sorted(
            {
                n.rsplit(".", 1)[-1]
                for n, m in model.named_modules()
                if isinstance(m, nn.Linear)
            }
        )
        raise ValueError(
            f"target_modules={target_modules!r} matched no module of "
            f"{type(model).__name__}; its nn.Linear layers are named {linear}"
        )
    for n in names:
        module = model.get_submodule(n)
        if not isinstance(module, nn.Linear):
            raise ValueError(
                f"target module {n!r} is a {type(module).__name__}, not an nn.Linear; "
                "lora_ref adapts nn.Linear layers only"
            )
    return names


def install_lora(
    model: nn.Module,
    name: str,
    r: int = 8,
    alpha: float = 8,
    dropout: float = 0.0,
    use_rslora: bool = False,
) -> LoRALinear:
    """Replace the `nn.Linear` called `name` by a `LoRALinear` wrapping it.

    The one place a layer is installed: `apply_lora` and
    `lora_ref.peft_io.load_peft_adapter` both call it. `LoRALinear` checks
    the arguments (and that the module is an `nn.Linear`) before anything is
    changed. The new layer keeps the train/eval mode of the layer it
    replaces, so an eval-mode model stays in eval mode (its dropout off).

    Args:
        model: the model to change in place.
        name: the layer's qualified name, e.g. "model.layers.0.self_attn.q_proj".
        r: rank of the update.
        alpha: scaling numerator (scaling = alpha / r).
        dropout: dropout on the LoRA branch's input.
        use_rslora: scale by alpha / sqrt(r).

    Returns:
        The installed layer.

    Raises:
        ValueError: invalid r / alpha / dropout, or `name` is not an `nn.Linear`.
    """
    base = model.get_submodule(name)
    layer = LoRALinear(base, r=r, alpha=alpha, dropout=dropout, use_rslora=use_rslora)
    return replace_layer(model, name, layer)


def replace_layer(model: nn.Module, name: str, layer: nn.Module) -> nn.Module:
    """Put `layer` where the module called `name` is, in that module's mode.

    Every method of `lora_ref` installs its layers through this function
    (LoRA via `install_lora`, and DoRA, VeRA, AdaLoRA, DyLoRA, IA³, adapters): the new
    layer keeps the train/eval mode of the one it replaces, so an eval-mode
    model stays in eval mode (its dropout off).

    Args:
        model: the model to change in place.
        name: the qualified name of the module to replace.
        layer: the module to put there (usually wrapping the old one).

    Returns:
        `layer`.
    """
    layer.train(model.get_submodule(name).training)
    model.set_submodule(name, layer)
    return layer


def wrap_targets(
    model: nn.Module,
    target_modules: str | list[str] | tuple[str, ...],
    wrap: Callable[[nn.Linear], nn.Module],
) -> dict[str, nn.Module]:
    """Replace each targeted `nn.Linear` by `wrap(it)`, after freezing the model.

    The loop of `apply_dora`, `apply_vera`, `apply_adalora` and
    `apply_dylora`: targets are found (and checked) before anything changes,
    the whole model is frozen, and then each layer is built and installed
    with `replace_layer`, so only the parameters the new layers create train.

    Args:
        model: the model to change in place.
        target_modules: names or name suffixes (PEFT's list rules), or a regex.
        wrap: builds the new layer around the old one.

    Returns:
        The new layers by qualified name, in module order.

    Raises:
        ValueError: targets that match nothing or are not `nn.Linear`, or
            whatever `wrap` raises (on the first layer, before it is replaced).
    """
    names = find_targets(model, target_modules)
    model.requires_grad_(False)
    return {
        name: replace_layer(model, name, wrap(model.get_submodule(name)))
        for name in names
    }


def apply_lora(
    model: nn.Module,
    target_modules: str | list[str] | tuple[str, ...],
    r: int = 8,
    alpha: float = 8,
    dropout: float = 0.0,
    use_rslora: bool = False,
) -> nn.Module:
    """Wrap each targeted `nn.Linear` in a `LoRALinear` and freeze everything else.

    The model is changed in place and returned, like PEFT's `inject_adapter_in_model`.
    On a `ValueError` the model is left as it was: targets are checked first,
    and every layer gets the same arguments, so a bad r / alpha / dropout
    fails on the first layer, before it is touched.

    Args:
        model: any module tree.
        target_modules: names or name suffixes (PEFT's list rules), or a regex.
        r: rank of every update.
        alpha: scaling numerator (scaling = alpha / r).
        dropout: dropout on each LoRA branch's input.
        use_rslora: scale by alpha / sqrt(r).

    Raises:
        ValueError: invalid r / alpha / dropout, or targets that match nothing.
    """
    for name in find_targets(model, target_modules):
        install_lora(model, name, r, alpha, dropout, use_rslora)
    mark_only_lora_trainable(model)
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The model's `LoRALinear` layers by qualified name, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def mark_only_lora_trainable(model: nn.Module) -> nn.Module:
    """Freeze every parameter except the A and B of each `LoRALinear`."""
    model.requires_grad_(False)
    for layer in lora_layers(model).values():
        layer.A.requires_grad_(True)
        layer.B.requires_grad_(True)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA factors, e.g. {"lin0.A": ..., "lin0.B": ...}: the adapter."""
    return {
        f"{name}.{factor}": getattr(layer, factor).detach()
        for name, layer in lora_layers(model).items()
        for factor in ("A", "B")
    }


def merge_lora(model: nn.Module) -> nn.Module:
    """Merge every `LoRALinear` and put its plain `nn.Linear` back in its place.

    Like PEFT's `merge_and_unload`: afterwards the model has its original
    architecture, with W0 + ΔW in each adapted weight. Returns the model.
    """
    for name, layer in lora_layers(model).items():
        layer.merge()
        model.set_submodule(name, layer.base)
    return model
