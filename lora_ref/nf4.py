"""4-bit NormalFloat (NF4): blockwise quantization of a weight to 16 levels.

Implements Dettmers et al., "QLoRA: Efficient Finetuning of Quantized LLMs"
(arXiv 2305.14314): the NF4 data type (section 3, equation 4, appendix E),
blockwise absmax scaling and double quantization (section 3). Taught in the
chapter "QLoRA and NF4" (docs/qlora.md). The counterpart is bitsandbytes 0.50.2,
`bitsandbytes.functional.quantize_4bit` / `dequantize_4bit` with
`quant_type="nf4"` (CPU kernels in `backends/default/ops.py` and
`backends/cpu/ops.py`), which this module matches bit for bit: packed bytes,
absmax constants and dequantized values. PEFT's QLoRA layer wraps a
`bnb.nn.Linear4bit` whose weight is stored this way.
"""

from dataclasses import dataclass

import torch

# The 16 NF4 levels as bitsandbytes publishes them (`get_4bit_type("nf4")`),
# also listed in QLoRA appendix E; `normal_float_levels()` derives them.
NF4_CODE = torch.tensor(
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
     -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
     0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
     0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
     0.7229568362236023, 1.0],
    dtype=torch.float32,
)  # fmt: skip
# bitsandbytes' FP4 (1 sign, 2 exponent, 1 mantissa bit: 0, 0.0625, 2, 3, 4, 6,
# 8, 12, divided by 12) and symmetric int4 (k / 7), sorted: for comparisons.
FP4_LEVELS = torch.tensor([0, 0.0625, 2, 3, 4, 6, 8, 12]) / 12
FP4_LEVELS = torch.cat([-FP4_LEVELS.flip(0)[:-1], FP4_LEVELS])  # 15 values
INT4_LEVELS = torch.arange(-7, 8, dtype=torch.float32) / 7  # 15 values
BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # what bitsandbytes takes
FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def normal_float_levels(
    offset: float = 0.9677083, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Derive the 16 NF4 levels from quantiles of N(0, 1).

    Asymmetric halves (QLoRA section 3): 8 positive quantiles at probabilities
    evenly spaced from `offset` down to 0.5 (excluded), 7 negative ones, and an
    exact 0; then divide by the largest so the levels span [-1, 1]. With
    dtype=float32 this is bitsandbytes' `create_normal_map` step by step (float32
    probabilities, float64 quantiles, float32 normalisation) and equals
    `NF4_CODE` exactly; dtype=float64 does every step in float64.

    Args:
        offset: the outermost probability; Φ⁻¹(offset) becomes the level 1.
        dtype: float32 (bitsandbytes' arithmetic) or float64.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if not 0.5 < offset < 1.0:
        raise ValueError(f"offset is a probability in (0.5, 1), got {offset!r}")
    pos = torch.linspace(offset, 0.5, 9, dtype=dtype)[:-1]  # 8 probabilities
    neg = torch.linspace(offset, 0.5, 8, dtype=dtype)[:-1]  # 7 probabilities
    q_pos = torch.special.ndtri(pos.double())  # Φ⁻¹, the normal quantile
    q_neg = -torch.special.ndtri(neg.double())
    v = torch.cat([q_pos, q_neg, torch.zeros(1, dtype=torch.float64)]).to(dtype)
    v = v.sort().values
    return v / v.max()


def dynamic_map() -> torch.Tensor:
    """bitsandbytes' signed 8-bit dynamic map (`create_dynamic_map()`), 256 values.

    Double quantization stores the absmax constants with it. For exponent
    i = 0..6 it holds 2^i fractions, the midpoints of an even grid on
    [0.1, 1], times 10^(i - 6), with both signs; plus 0 and 1 (Dettmers 2015,
    arXiv 1511.04561).
    """
    data = []
    for i in range(7):
        bounds = torch.linspace(0.1, 1, 2**i + 1, dtype=torch.float32)
        means = (bounds[:-1] + bounds[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    return torch.tensor(sorted([*data, 0.0, 1.0]), dtype=torch.float32)


@dataclass
class NF4State:
    """What `dequantize_nf4` needs besides the packed bytes (bitsandbytes'
    `QuantState`). With double quantization `absmax` holds 8-bit codes into
    `dynamic_map()`, scaled per 256 constants by `absmax2`, plus `offset`."""

    shape: torch.Size
    dtype: torch.dtype
    blocksize: int
    absmax: torch.Tensor  # (blocks,) float32, or uint8 codes with double quant
    absmax2: torch.Tensor | None = None  # (ceil(blocks / 256),) float32
    offset: torch.Tensor | None = None  # scalar float32: mean of the absmax


def check_weight(W: torch.Tensor, blocksize: int) -> None:
    """Raise `ValueError` unless W can be quantized in blocks of `blocksize`."""
    if not isinstance(W, torch.Tensor) or W.dtype not in FLOATS:
        dtype = getattr(W, "dtype", type(W).__name__)
        raise ValueError(
            f"W must be a float32, float16 or bfloat16 tensor (as in bitsandbytes), "
            f"got {dtype}"
        )
    if W.numel() == 0:
        raise ValueError("W is empty: there is nothing to quantize")
    if not torch.isfinite(W).all():
        raise ValueError("W has inf or NaN entries: absmax scaling needs finite values")
    if isinstance(blocksize, bool) or blocksize not in BLOCKSIZES:
        raise ValueError(
            f"blocksize must be a power of two from 32 to 4096 (bitsandbytes' "
            f"kernels), got {blocksize!r}"
        )


def blockwise_absmax(
    x: torch.Tensor, blocksize: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split x (flattened) into blocks; return x / absmax per block and the absmax.

    The last block may be partial and gets its own absmax. Same float32
    operations as bitsandbytes' CPU code: multiply by 1 / absmax in full
    blocks, divide in the partial one, clamp to [-1, 1].
    """
    x = x.reshape(-1).float()
    n = x.numel()
    full = n - n % blocksize
    blocks = x[:full].reshape(-1, blocksize)  # (n // blocksize, blocksize)
    absmax = blocks.abs().max(dim=-1)[0]
    inv = 1.0 / absmax.clamp(min=1e-38).view(-1, 1)  # an all-zero block stays 0
    scaled = torch.clamp(blocks * inv, -1, 1).reshape(-1)
    if full < n:
        am = x[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(x[full:] / am, -1, 1)])
    return scaled, absmax


def nearest_level(scaled: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Index of the nearest of the sorted `levels`: bucketize on the midpoints."""
    midpoints = (levels[:-1] + levels[1:]) / 2
    return torch.bucketize(scaled, midpoints, out_int32=True).to(torch.uint8)


def dynamic_lut() -> torch.Tensor:
    """bitsandbytes' CPU lookup table for `dynamic_map()`: 65,536 evenly spaced
    points of [-1, 1], each mapped to its nearest code (csrc/cpu_ops.cpp,
    `build_quantize_lut`)."""
    code = dynamic_map()
    midpoints = 0.5 * (code[:-1] + code[1:])
    grid = -1.0 + (2.0 * torch.arange(65536, dtype=torch.float32)) / 65535
    return torch.searchsorted(midpoints, grid).to(torch.uint8)


def quantize_blockwise_8bit(
    x: torch.Tensor, blocksize: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """8-bit codes of x in `dynamic_map()` and one float32 absmax per block.

    As bitsandbytes' CPU kernel (`quantize_cpu_impl`) does it: x * (1 / absmax)
    is rounded onto the 65,536-point grid of `dynamic_lut()` and looked up, so
    a value very close to a midpoint between two codes can get the farther
    one (about 0.15% of values); an all-zero block gets code 0.
    """
    x = x.reshape(-1).float()
    n = x.numel()
    blocks = torch.nn.functional.pad(x, (0, -n % blocksize)).view(-1, blocksize)
    absmax = blocks.abs().max(dim=-1)[0]  # (blocks,)
    zero = (absmax == 0).view(-1, 1)
    v = torch.where(zero, 0.0, blocks * (1.0 / absmax).view(-1, 1)).clamp(-1, 1)
    grid_index = ((v + 1.0) * 0.5 * 65535 + 0.5).long()  # truncation, as in C
    codes = torch.where(zero, 0, dynamic_lut()[grid_index])
    return codes.reshape(-1)[:n].to(torch.uint8), absmax


def quantize_nf4(
    W: torch.Tensor, blocksize: int = 64, double_quant: bool = False
) -> tuple[torch.Tensor, NF4State]:
    """Quantize W to NF4: absmax per block, nearest level, two codes per byte.

    Args:
        W: float32, float16 or bfloat16 tensor of any shape (flattened in
            row-major order; its size need not be a multiple of the block).
        blocksize: weights per absmax constant (64 in QLoRA).
        double_quant: quantize the absmax constants again, to 8 bits in blocks
            of 256 after subtracting their mean (QLoRA section 3).

    Returns:
        packed: uint8 of shape (ceil(W.numel() / 2), 1); the first weight of each
            pair in the high nibble.
        state: the `NF4State` that `dequantize_nf4` needs.
    """
    check_weight(W, blocksize)
    scaled, absmax = blockwise_absmax(W.detach(), blocksize)  # a frozen copy
    if scaled.numel() % 2:  # an odd count: pad with 0 (the code of level 0)
        scaled = torch.nn.functional.pad(scaled, (0, 1))
    q = nearest_level(scaled, NF4_CODE)  # (n,) codes 0..15
    packed = ((q[::2] << 4) | q[1::2]).unsqueeze(1)  # (n / 2, 1)
    state = NF4State(W.shape, W.dtype, blocksize, absmax)
    if double_quant:
        state.offset = absmax.mean()
        state.absmax, state.absmax2 = quantize_blockwise_8bit(absmax - state.offset)
    return packed, state


def dequantize_absmax(state: NF4State) -> torch.Tensor:
    """The float32 absmax constants (undoing double quantization if used)."""
    if state.absmax2 is None:
        return state.absmax
    codes = dynamic_map()[state.absmax.long()]  # (blocks,)
    n, dq = codes.numel(), 256
    scale = state.absmax2.repeat_interleave(dq)[:n]  # one constant per 256
    return codes * scale + state.offset


def dequantize_nf4(packed: torch.Tensor, state: NF4State) -> torch.Tensor:
    """Rebuild W from its NF4 codes: NF4_CODE[code] * absmax of its block.

    Returns a tensor of `state.shape` in `state.dtype`, computed in float32 and
    rounded once, as bitsandbytes does.
    """
    n = state.shape.numel()
    codes = torch.empty(2 * packed.numel(), dtype=torch.long)
    codes[0::2] = (packed.reshape(-1) >> 4).long()  # high nibble first
    codes[1::2] = (packed.reshape(-1) & 0xF).long()
    values = NF4_CODE[codes[:n]]  # (n,) levels in [-1, 1]
    scale = dequantize_absmax(state).repeat_interleave(state.blocksize)[:n]
    return (values * scale).reshape(state.shape).to(state.dtype)


def quantize_dequantize(
    W: torch.Tensor, levels: torch.Tensor, blocksize: int = 64
) -> torch.Tensor:
    """Round W to the nearest of sorted `levels` after blockwise absmax scaling.

    Any 4-bit format with an absmax per block (NF4_CODE, FP4_LEVELS,
    INT4_LEVELS) in one call; returns float32 of W's shape.
    """
    check_weight(W, blocksize)
    scaled, absmax = blockwise_absmax(W, blocksize)
    values = levels[nearest_level(scaled, levels).long()]
    n = W.numel()
    return (values * absmax.repeat_interleave(blocksize)[:n]).reshape(W.shape)


def bits_per_parameter(
    blocksize: int = 64, double_quant: bool = False, dq_blocksize: int = 256
) -> float:
    """Storage per weight in bits: 4 + 32 / blocksize, or with double quantization
    4 + 8 / blocksize + 32 / (blocksize * dq_blocksize) (QLoRA section 3)."""
    if blocksize not in BLOCKSIZES or dq_blocksize <= 0:
        raise ValueError(
            f"blocksize must be one of {BLOCKSIZES} and dq_blocksize positive, "
            f"got {blocksize!r}, {dq_blocksize!r}"
        )
    if double_quant:
        return 4 + 8 / blocksize + 32 / (blocksize * dq_blocksize)
    return 4 + 32 / blocksize
