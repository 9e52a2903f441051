"""LoRA+: train B with a larger learning rate than A, η_B = κ η_A.

Implements Hayou, Ghosh and Yu, "LoRA+: Efficient Low Rank Adaptation of Large
Models" (arXiv 2402.12354), whose λ = η_B / η_A we write κ (λ is weight decay on
this site). Taught in the chapter "LoRA+" (docs/lora-plus.md). The PEFT
counterpart is `peft.optimizers.create_loraplus_optimizer`
(`optimizers/loraplus.py`, peft 0.21.2): the groups built here hold the same
parameters, in the same order, with the same learning rates and weight decay.

The rule, as PEFT applies it: B, and every other trainable 1-D tensor (biases,
DoRA's magnitude m), gets lr * ratio; everything else (A) gets lr. Of the
fast group, biases and LayerNorm parameters get no weight decay. lora_ref has
no embedding LoRA, so PEFT's (empty) embedding group has no counterpart.
"""

import math

import torch
from torch import nn


def loraplus_param_groups(
    model: nn.Module, lr: float, ratio: float, weight_decay: float = 0.0
) -> list[dict]:
    """Optimizer parameter groups for LoRA+: [A group, B group, B without decay].

    Args:
        model: a model with LoRA (or DoRA) layers; only trainable tensors count.
        lr: η_A, the learning rate of A.
        ratio: κ = η_B / η_A; the paper and PEFT's docs use ratios well above 1.
        weight_decay: weight decay of the A group and the B group (PEFT's
            `loraplus_weight_decay`, default 0).

    Raises:
        ValueError: lr or ratio not positive and finite.
    """
    for name, value in (("lr", lr), ("ratio", ratio)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    no_decay = {
        f"{module_name}.{p_name}".lstrip(".")
        for module_name, module in model.named_modules()
        if isinstance(module, nn.LayerNorm)
        for p_name, _ in module.named_parameters()
    }
    slow, fast, fast_no_decay = [], [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.rsplit(".", 1)[-1] == "B" or param.ndim == 1:
            if "bias" in name or name in no_decay:
                fast_no_decay.append(param)
            else:
                fast.append(param)
        else:
            slow.append(param)
    return [
        {"params": slow, "lr": lr, "weight_decay": weight_decay},
        {"params": fast, "lr": lr * ratio, "weight_decay": weight_decay},
        {"params": fast_no_decay, "lr": lr * ratio, "weight_decay": 0.0},
    ]


def create_loraplus_optimizer(
    model: nn.Module,
    optimizer_cls: type[torch.optim.Optimizer] = torch.optim.AdamW,
    *,
    lr: float,
    ratio: float,
    weight_decay: float = 0.0,
    **kwargs: object,
) -> torch.optim.Optimizer:
    """`optimizer_cls` over `loraplus_param_groups(model, lr, ratio, weight_decay)`.

    Args:
        model: a model with LoRA (or DoRA) layers.
        optimizer_cls: the optimizer class, AdamW by default.
        lr: η_A.
        ratio: κ = η_B / η_A.
        weight_decay: as in `loraplus_param_groups`.
        **kwargs: passed on to the optimizer (betas, eps, ...).
    """
    groups = loraplus_param_groups(model, lr, ratio, weight_decay)
    return optimizer_cls([g for g in groups if g["params"]], lr=lr, **kwargs)
