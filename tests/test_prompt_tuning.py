"""Prompt tuning (lora_ref.prompt_tuning): the claims of docs/prompt-tuning.md,
and equality with PEFT's PromptTuningConfig (random and text initialisation)."""

import copy
from pathlib import Path

import pytest
import torch
from peft import PromptTuningConfig, get_peft_model
from transformers import AutoTokenizer, LlamaForCausalLM

import snippets
from lora_ref import SoftPrompt, pad_labels, repeat_to_length, tiny_llama

TUTORIAL_BASE = Path(snippets.__file__).parent / "tutorial" / "assets" / "base"
N_VIRTUAL = 4


def batch(vocab=128):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (2, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # left padding on the second sequence
    return ids, mask


def ours_logits(model, prompt, ids, mask):
    embeds, full_mask = prompt(model.get_input_embeddings()(ids), mask)
    return model(inputs_embeds=embeds, attention_mask=full_mask).logits


@pytest.mark.parametrize(
    "dtype,tol",
    [
        pytest.param(torch.float64, {"rtol": 0, "atol": 1e-10}, id="float64"),
        pytest.param(torch.float32, {}, id="float32"),
    ],
)
def test_prompt_tuning_matches_peft_logits_and_gradients(dtype, tol):
    base = tiny_llama(seed=0, dtype=dtype)
    config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=N_VIRTUAL)
    torch.manual_seed(1)
    theirs = get_peft_model(copy.deepcopy(base), config).to(dtype)
    peft_prompt = theirs.prompt_encoder["default"].embedding.weight
    prompt = SoftPrompt(N_VIRTUAL, 64, dtype=dtype)
    with torch.no_grad():
        prompt.soft_prompt.copy_(peft_prompt)  # the virtual-token embeddings
    ids, mask = batch()
    ours = ours_logits(base, prompt, ids, mask)
    out = theirs(input_ids=ids, attention_mask=mask).logits
    assert ours.shape == (2, N_VIRTUAL + 7, 128)
    torch.testing.assert_close(ours, out, **tol)
    ours.square().mean().backward()
    out.square().mean().backward()
    assert prompt.soft_prompt.grad.abs().sum() > 0
    torch.testing.assert_close(prompt.soft_prompt.grad, peft_prompt.grad, **tol)


def test_prompt_tuning_text_init_equals_peft_without_copying():
    base = LlamaForCausalLM.from_pretrained(TUTORIAL_BASE).double().eval()
    tokenizer = AutoTokenizer.from_pretrained(TUTORIAL_BASE)
    text = "Answer the question."
    config = PromptTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=20,
        prompt_tuning_init="TEXT",
        prompt_tuning_init_text=text,
        tokenizer_name_or_path=str(TUTORIAL_BASE),
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    token_ids = tokenizer(text)["input_ids"]
    assert len(token_ids) < 20  # so the ids are repeated, not only truncated
    prompt = SoftPrompt.from_token_ids(
        base.get_input_embeddings().weight, token_ids, 20
    )
    peft_prompt = theirs.prompt_encoder["default"].embedding.weight
    assert prompt.soft_prompt.dtype == peft_prompt.dtype == torch.float32
    torch.testing.assert_close(prompt.soft_prompt, peft_prompt, rtol=0, atol=0)
    ids, mask = batch(vocab=base.config.vocab_size)
    theirs.double()
    prompt.double()
    torch.testing.assert_close(
        ours_logits(base, prompt, ids, mask),
        theirs(input_ids=ids, attention_mask=mask).logits,
        rtol=0,
        atol=1e-10,
    )


def test_only_the_soft_prompt_is_trained():
    prompt = SoftPrompt(20, 4096, device="meta")
    assert [n for n, _ in prompt.named_parameters()] == ["soft_prompt"]
    assert prompt.soft_prompt.numel() == 20 * 4096


def test_text_ids_are_repeated_then_truncated_to_n_virtual():
    assert repeat_to_length([5, 6, 7], 7) == [5, 6, 7, 5, 6, 7, 5]
    assert repeat_to_length([5, 6, 7], 2) == [5, 6]


def test_virtual_positions_are_attended_and_ignored_by_the_loss():
    prompt = SoftPrompt(3, 8)
    embeds, mask = prompt(torch.zeros(2, 5, 8), torch.zeros(2, 5, dtype=torch.long))
    assert embeds.shape == (2, 8, 8)
    assert mask[:, :3].eq(1).all() and mask[:, 3:].eq(0).all()
    labels = pad_labels(torch.ones(2, 5, dtype=torch.long), 3)
    assert labels[:, :3].eq(-100).all() and labels[:, 3:].eq(1).all()


def test_n_virtual_must_be_positive():
    with pytest.raises(ValueError, match="must be a positive integer"):
        SoftPrompt(0, 8)
    with pytest.raises(ValueError, match="has no tokens"):
        repeat_to_length([], 4)


def test_peft_disable_adapter_fails_on_an_encoder_classifier_with_a_prompt():
    """The PEFT 0.21.2 bug the page warns about: `disable_adapter()` on a
    SEQ_CLS prompt-tuning model reads `prepare_inputs_for_generation`, which
    a classifier lacks (AttributeError), and its `finally` block then uses the
    unbound old value. If PEFT fixes it, this test fails: update the page."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    )
    model = get_peft_model(
        BertForSequenceClassification(config).eval(),
        PromptTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=3),
    )
    with pytest.raises(UnboundLocalError, match="old_prepare_inputs_for_generation"):
        with model.disable_adapter():
            pass
