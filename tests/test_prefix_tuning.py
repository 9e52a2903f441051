"""Prefix tuning / P-tuning v2 and P-tuning (lora_ref.prefix_tuning, p_tuning):
the claims of docs/prefix-tuning.md, and equality with PEFT's
PrefixTuningConfig (with and without prefix_projection) and
PromptEncoderConfig (MLP and LSTM)."""

import copy

import pytest
import torch
from peft import PrefixTuningConfig, PromptEncoderConfig, get_peft_model
from transformers import DynamicCache

from lora_ref import (
    PrefixTuning,
    PromptEncoder,
    attend_with_prefix,
    extend_attention_mask,
    tiny_llama,
)

N_VIRTUAL = 3
F64 = {"rtol": 0, "atol": 1e-10}
DTYPES = [
    pytest.param(torch.float64, F64, id="float64"),
    pytest.param(torch.float32, {}, id="float32"),
]


def batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 128, (2, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # left padding on the second sequence
    return ids, mask


def prefix_logits(model, prefix, ids, mask):
    cache = DynamicCache(prefix.key_values(ids.shape[0]), config=model.config)
    full_mask = extend_attention_mask(mask, prefix.n_virtual)
    return model(input_ids=ids, attention_mask=full_mask, past_key_values=cache).logits


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("projection", [False, True], ids=["table", "projection"])
def test_prefix_tuning_matches_peft_logits_and_gradients(projection, dtype, tol):
    base = tiny_llama(seed=0, dtype=dtype)  # 2 layers, 2 KV heads of width 16
    config = PrefixTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=N_VIRTUAL,
        prefix_projection=projection,
        encoder_hidden_size=24,
    )
    torch.manual_seed(1)
    theirs = get_peft_model(copy.deepcopy(base), config).to(dtype)
    encoder = theirs.prompt_encoder["default"]
    ours = PrefixTuning(2, N_VIRTUAL, 2, 16, 24 if projection else None, dtype=dtype)
    theirs_params = [p for p in encoder.parameters() if p.requires_grad]
    ours_params = list(ours.parameters())
    assert [p.shape for p in ours_params] == [p.shape for p in theirs_params]
    with torch.no_grad():
        for mine, peft_param in zip(ours_params, theirs_params, strict=True):
            mine.copy_(peft_param)
    ids, mask = batch()
    out_ours = prefix_logits(base, ours, ids, mask)
    out_theirs = theirs(input_ids=ids, attention_mask=mask).logits
    assert out_ours.shape == (2, 7, 128)  # no logits for the prefix positions
    torch.testing.assert_close(out_ours, out_theirs, **tol)
    out_ours.square().mean().backward()
    out_theirs.square().mean().backward()
    for mine, peft_param in zip(ours_params, theirs_params, strict=True):
        assert mine.grad.abs().sum() > 0
        torch.testing.assert_close(mine.grad, peft_param.grad, **tol)


def test_a_prefix_holding_real_tokens_cache_reproduces_the_full_sequence():
    """The prefix is exactly a KV cache: fill it with the keys and values of
    three real tokens and the model continues as if it had read them."""
    model = tiny_llama(seed=0, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 128, (1, 10), generator=g)
    head, tail = ids[:, :N_VIRTUAL], ids[:, N_VIRTUAL:]
    cache = model(input_ids=head, use_cache=True).past_key_values
    prefix = PrefixTuning(2, N_VIRTUAL, 2, 16, dtype=torch.float64)
    columns = []
    for i in range(2):
        for t in (cache.layers[i].keys, cache.layers[i].values):  # (1, a, p, hd)
            columns.append(t[0].permute(1, 0, 2).reshape(N_VIRTUAL, -1))
    with torch.no_grad():
        prefix.prefix.copy_(torch.cat(columns, dim=1))
    mask = torch.ones_like(tail)
    torch.testing.assert_close(
        prefix_logits(model, prefix, tail, mask),
        model(input_ids=ids).logits[:, N_VIRTUAL:],
        **F64,
    )


def test_attend_with_prefix_equals_causal_attention_over_the_longer_sequence():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 9, 8, dtype=torch.float64).unbind(0)
    full = torch.nn.functional.scaled_dot_product_attention(
        q[None], k[None], v[None], is_causal=True
    )[0]
    tail = attend_with_prefix(q[4:], k[4:], v[4:], k[:4], v[:4])
    torch.testing.assert_close(tail, full[4:], **F64)


def test_every_token_attends_to_every_prefix_position():
    mask = torch.tensor([[0, 1, 1]])
    assert extend_attention_mask(mask, 2).tolist() == [[1, 1, 0, 1, 1]]


def test_prefix_table_count_is_n_virtual_times_2_layers_times_d_kv():
    ours = PrefixTuning(32, 20, 32, 128)
    assert ours.prefix.numel() == 20 * 2 * 32 * 4096 == 5_242_880


def test_key_values_have_the_kv_cache_layout():
    prefix = PrefixTuning(2, N_VIRTUAL, 2, 16)
    kv = prefix.key_values(5)
    assert len(kv) == 2
    assert all(t.shape == (5, 2, N_VIRTUAL, 16) for pair in kv for t in pair)
    # block 2i of the table's columns is layer i's keys, block 2i + 1 its values
    torch.testing.assert_close(kv[1][0][0, 0, 0], prefix.prefix[0, 64:80])


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kind", ["MLP", "LSTM"])
def test_p_tuning_matches_peft_logits_and_gradients(kind, dtype, tol):
    base = tiny_llama(seed=0, dtype=dtype)
    config = PromptEncoderConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=N_VIRTUAL,
        encoder_hidden_size=24,
        encoder_reparameterization_type=kind,
    )
    torch.manual_seed(1)
    theirs = get_peft_model(copy.deepcopy(base), config).to(dtype)
    encoder = theirs.prompt_encoder["default"]
    ours = PromptEncoder(N_VIRTUAL, 64, hidden=24, kind=kind.lower()).to(dtype)
    theirs_params = [p for p in encoder.parameters() if p.requires_grad]
    ours_params = list(ours.parameters())
    assert [p.shape for p in ours_params] == [p.shape for p in theirs_params]
    with torch.no_grad():
        for mine, peft_param in zip(ours_params, theirs_params, strict=True):
            mine.copy_(peft_param)
    ids, mask = batch()
    embeds, full_mask = ours(base.get_input_embeddings()(ids), mask)
    out_ours = base(inputs_embeds=embeds, attention_mask=full_mask).logits
    out_theirs = theirs(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(out_ours, out_theirs, **tol)
    out_ours.square().mean().backward()
    out_theirs.square().mean().backward()
    for mine, peft_param in zip(ours_params, theirs_params, strict=True):
        assert mine.grad.abs().sum() > 0
        torch.testing.assert_close(mine.grad, peft_param.grad, **tol)


def test_invalid_prefix_and_encoder_arguments_raise():
    with pytest.raises(ValueError, match="head_dim must be a positive integer"):
        PrefixTuning(2, 3, 2, 0)
    with pytest.raises(ValueError, match="kind must be 'mlp' or 'lstm'"):
        PromptEncoder(3, 8, kind="gru")
