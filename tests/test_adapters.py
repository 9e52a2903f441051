"""Bottleneck adapters (lora_ref.adapters): the claims of docs/adapters.md.

PEFT has no bottleneck adapter and AdapterHub's `adapters` pins transformers
4.x, so these are invariant and count tests against the papers: Houlsby et al.
2019 (arXiv 1902.00751, section 2.1: two adapters per layer, 2md + d + m
parameters each, near-identity init) and Pfeiffer et al. 2021 (arXiv
2005.00247: one adapter per layer, after the feed-forward sub-layer).
"""

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from lora_ref import (
    AdaptedSublayer,
    BottleneckAdapter,
    adapter_layers,
    adapter_params,
    apply_adapters,
    parameter_counts,
    tiny_llama,
)

BERT_FFN = r".*layer\.\d+\.output\.dense"


def test_adapter_count_formula_equals_the_module():
    for d_model, m in [(4096, 64), (768, 64), (64, 8)]:
        adapter = BottleneckAdapter(d_model, m)
        assert sum(p.numel() for p in adapter.parameters()) == adapter_params(
            d_model, m
        )
        assert adapter_params(d_model, m) == 2 * m * d_model + m + d_model


def test_adapter_is_near_identity_at_init_and_exactly_with_zero_std():
    torch.manual_seed(0)
    h = torch.randn(8, 256, dtype=torch.float64)
    adapter = BottleneckAdapter(256, 16).double()
    assert adapter.W_up.abs().max() <= 2e-2  # truncated at two standard deviations
    rel = (adapter(h) - h).norm() / h.norm()
    assert 0 < rel < 0.05
    exact = BottleneckAdapter(256, 16, init_std=0.0).double()
    assert torch.equal(exact(h), h)


def test_adapter_forward_is_the_residual_bottleneck_formula():
    torch.manual_seed(0)
    adapter = BottleneckAdapter(12, 3, activation="gelu", init_std=0.5).double()
    with torch.no_grad():
        adapter.b_down.normal_()
        adapter.b_up.normal_()
    h = torch.randn(5, 12, dtype=torch.float64)
    down = nn.Linear(12, 3).double()
    up = nn.Linear(3, 12).double()
    with torch.no_grad():
        down.weight.copy_(adapter.W_down)
        down.bias.copy_(adapter.b_down)
        up.weight.copy_(adapter.W_up)
        up.bias.copy_(adapter.b_up)
    expected = h + up(nn.functional.gelu(down(h)))
    torch.testing.assert_close(adapter(h), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("placement,per_layer", [("houlsby", 2), ("pfeiffer", 1)])
def test_houlsby_puts_two_adapters_per_layer_pfeiffer_one(placement, per_layer):
    model = apply_adapters(tiny_llama(), placement, bottleneck=8)
    config = model.config
    names = list(adapter_layers(model))
    assert len(names) == per_layer * config.num_hidden_layers
    after_ffn = [n for n in names if ".mlp.down_proj." in n]
    after_attention = [n for n in names if ".self_attn.o_proj." in n]
    assert len(after_ffn) == config.num_hidden_layers
    assert len(after_attention) == (per_layer - 1) * config.num_hidden_layers
    trainable, _ = parameter_counts(model)
    expected = per_layer * config.num_hidden_layers * adapter_params(64, 8)
    assert trainable == expected


def test_only_adapter_parameters_are_trainable():
    model = apply_adapters(tiny_llama(), "houlsby", bottleneck=8)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".adapter." in n for n in names)


def test_adapters_sit_after_the_projection_before_the_skip_connection():
    torch.manual_seed(0)
    base = nn.Linear(6, 4)
    layer = AdaptedSublayer(base, BottleneckAdapter(4, 2, init_std=0.3))
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), layer.adapter(base(x)))


def test_model_with_adapters_starts_close_to_the_base_model():
    base = tiny_llama(seed=0, dtype=torch.float64)
    ids = torch.randint(0, 128, (2, 9), generator=torch.Generator().manual_seed(0))
    before = base(input_ids=ids).logits
    torch.manual_seed(0)
    exact = apply_adapters(tiny_llama(seed=0, dtype=torch.float64), init_std=0.0)
    torch.testing.assert_close(exact(input_ids=ids).logits, before, rtol=0, atol=0)
    near = apply_adapters(tiny_llama(seed=0, dtype=torch.float64))
    after = near(input_ids=ids).logits
    assert 0 < (after - before).norm() / before.norm() < 0.05


def test_bert_placement_with_a_regex_for_the_feed_forward_output():
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    )
    model = apply_adapters(
        BertModel(config),
        "houlsby",
        bottleneck=4,
        attention_output=["attention.output.dense"],
        ffn_output=BERT_FFN,
    )
    names = sorted(adapter_layers(model))
    assert len(names) == 4
    assert sum(".attention.output.dense." in n for n in names) == 2


def test_invalid_adapter_arguments_raise():
    with pytest.raises(ValueError, match="bottleneck must be a positive integer"):
        BottleneckAdapter(16, 0)
    with pytest.raises(ValueError, match="activation must be one of"):
        BottleneckAdapter(16, 4, activation="tanh")
    with pytest.raises(ValueError, match="placement must be one of"):
        apply_adapters(tiny_llama(), "parallel")
