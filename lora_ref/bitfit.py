"""BitFit: train only the bias terms of a pretrained model.

Implements Ben Zaken, Ravfogel and Goldberg, "BitFit: Simple
Parameter-efficient Fine-tuning for Transformer-based Masked Language-models"
(ACL 2022, arXiv 2106.10199), section 3: every weight stays frozen and only
the biases (those of the attention projections, the feed-forward layers and
the LayerNorms) are trained, with a task head on top. Taught in "BitFit"
(docs/bitfit.md). PEFT 0.21.2 has no BitFit method (`LoraConfig(bias="all")`
unfreezes the biases, but next to a LoRA adapter).

A model without biases (Llama and most recent decoders) has nothing to train.
"""

from torch import nn


def bias_names(model: nn.Module) -> list[str]:
    """Qualified names of every bias parameter (names ending in "bias")."""
    return [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[-1] == "bias"]


def mark_only_biases_trainable(
    model: nn.Module, also_train: tuple[str, ...] = ()
) -> nn.Module:
    """Freeze every parameter except the biases (and the modules in `also_train`).

    Args:
        model: any module tree; changed in place and returned.
        also_train: names or name suffixes of modules trained in full, e.g.
            ("classifier",) for a freshly initialised task head.

    Raises:
        ValueError: the model has no bias at all, so BitFit trains nothing
            (e.g. Llama, whose linear layers and RMSNorms have no bias).
    """
    names = bias_names(model)
    if not names:
        raise ValueError(
            f"{type(model).__name__} has no bias parameters: BitFit would train "
            "nothing (Llama-style decoders have no biases)"
        )
    model.requires_grad_(False)
    for name in names:
        model.get_parameter(name).requires_grad_(True)
    for name, module in model.named_modules():
        if any(name == t or name.endswith("." + t) for t in also_train):
            module.requires_grad_(True)
    return model
