"""lora_ref.qlora.QLoRALinear against PEFT's LoRA on a `bnb.nn.Linear4bit`
(peft 0.21.2, bitsandbytes 0.50.2), float32 compute, and the claims of
docs/qlora.md about merging into a 4-bit base."""

import warnings

import pytest
import torch
from torch import nn

bnb = pytest.importorskip("bitsandbytes")
from peft import LoraConfig, get_peft_model  # noqa: E402

from lora_ref.nf4 import dequantize_nf4, quantize_nf4  # noqa: E402
from lora_ref.qlora import QLoRALinear  # noqa: E402

d, k, r = 96, 128, 4


class OneLayer(nn.Module):
    is_loaded_in_4bit = True  # what transformers sets; PEFT then picks Linear4bit

    def __init__(self, lin0: nn.Module) -> None:
        super().__init__()
        self.lin0 = lin0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin0(x)


def make_pair(double_quant: bool, seed: int = 0):
    """The same 4-bit layer with the same non-zero A and B, ours and PEFT's."""
    torch.manual_seed(seed)
    base = nn.Linear(k, d)
    lin4 = bnb.nn.Linear4bit(
        k, d, compute_dtype=torch.float32, compress_statistics=double_quant,
        quant_type="nf4",
    )  # fmt: skip
    lin4.weight = bnb.nn.Params4bit(
        base.weight.detach().clone(), requires_grad=False, quant_type="nf4",
        blocksize=64, compress_statistics=double_quant,
    )  # fmt: skip
    lin4.bias = nn.Parameter(base.bias.detach().clone(), requires_grad=False)
    lin4 = lin4.to("cpu")  # quantizes
    config = LoraConfig(
        r=r, lora_alpha=8, target_modules=["lin0"], init_lora_weights=False
    )
    theirs = get_peft_model(OneLayer(lin4), config)
    layer = theirs.base_model.model.lin0
    assert type(layer).__name__ == "Linear4bit"  # peft.tuners.lora.bnb
    ours = QLoRALinear(base, r=r, alpha=8, double_quant=double_quant)
    with torch.no_grad():
        ours.A.copy_(layer.lora_A["default"].weight)
        ours.B.copy_(layer.lora_B["default"].weight)
    return ours, theirs, layer


@pytest.mark.parametrize("double_quant", [False, True], ids=["plain", "dq"])
def test_qlora_matches_peft_forward_and_gradients(double_quant):
    ours, theirs, layer = make_pair(double_quant)
    assert layer.lora_B["default"].weight.abs().sum() > 0  # not a vacuous B = 0
    x = torch.randn(5, 7, k)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    torch.testing.assert_close(y_ours, y_theirs)
    grad = torch.randn_like(y_ours)
    y_ours.backward(grad)
    y_theirs.backward(grad)
    torch.testing.assert_close(ours.A.grad, layer.lora_A["default"].weight.grad)
    torch.testing.assert_close(ours.B.grad, layer.lora_B["default"].weight.grad)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad)


@pytest.mark.parametrize("double_quant", [False, True], ids=["plain", "dq"])
def test_qlora_matches_peft_merge_into_4bit(double_quant):
    ours, theirs, layer = make_pair(double_quant, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PEFT warns about rounding
        layer.merge()
    ours.merge()
    weight = layer.base_layer.weight
    assert torch.equal(ours.W0_packed, weight.data)  # the same requantized bytes
    theirs_W = bnb.functional.dequantize_4bit(weight.data, weight.quant_state)
    assert torch.equal(ours.dequantized_weight(), theirs_W)
    x = torch.randn(3, k)
    torch.testing.assert_close(ours(x), theirs(x))


def test_base_path_equals_a_linear_with_the_dequantized_weight():
    torch.manual_seed(2)
    base = nn.Linear(k, d)
    layer = QLoRALinear(base, r=r)
    x = torch.randn(4, k)
    W0 = dequantize_nf4(*quantize_nf4(base.weight.detach()))
    # B = 0 at init, so the layer is exactly its 4-bit base
    assert torch.equal(layer(x), nn.functional.linear(x, W0, base.bias))


def test_only_A_and_B_are_trainable():
    layer = QLoRALinear(nn.Linear(k, d), r=r)
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"A", "B"}
    assert layer.W0_packed.dtype == torch.uint8 and not layer.W0_packed.requires_grad


def test_merging_into_4bit_rounds_and_merging_twice_does_nothing():
    torch.manual_seed(3)
    base = nn.Linear(k, d)
    layer = QLoRALinear(base, r=r)
    with torch.no_grad():
        layer.B.normal_(0, 0.05)
    x = torch.randn(6, k)
    unmerged = layer(x)
    W_exact = layer.W0 + layer.delta_weight()  # what a 32-bit merge would hold
    layer.merge()
    once = layer.dequantized_weight().clone()
    layer.merge()
    assert torch.equal(layer.dequantized_weight(), once)  # ΔW was not added twice
    merged = layer(x)
    assert not torch.equal(merged, unmerged)  # requantizing rounds W0 + ΔW ...
    err = (once - W_exact).abs().max()  # ... by at most half an NF4 gap per block
    assert 0 < err <= W_exact.abs().max() * 0.139


def test_qlora_linear_rejects_bad_arguments():
    with pytest.raises(ValueError, match="wraps an nn.Linear"):
        QLoRALinear(nn.Conv1d(4, 4, 1))
    with pytest.raises(ValueError, match="r must be a positive integer"):
        QLoRALinear(nn.Linear(k, d), r=0)
    with pytest.raises(ValueError, match="power of two"):
        QLoRALinear(nn.Linear(k, d), blocksize=100)
