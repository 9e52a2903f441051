"""BitFit (lora_ref.bitfit): the claims of docs/bitfit.md."""

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from lora_ref import (
    bias_names,
    mark_only_biases_trainable,
    parameter_counts,
    tiny_llama,
)


def tiny_bert():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_labels=3,
    )
    return BertForSequenceClassification(config)


def test_only_biases_are_trainable():
    model = mark_only_biases_trainable(tiny_bert())
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names == bias_names(model)
    assert all(n.endswith(".bias") for n in names)


def test_bert_bias_count_follows_the_layer_formula():
    model = mark_only_biases_trainable(tiny_bert())
    d, i, n_layers, n_labels = 32, 64, 2, 3
    # per layer: q, k, v, attention output, attention LayerNorm,
    # intermediate, output, output LayerNorm
    per_layer = 4 * d + d + i + d + d
    # + embedding LayerNorm + pooler + classifier
    expected = n_layers * per_layer + d + d + n_labels
    assert parameter_counts(model)[0] == expected


def test_the_task_head_can_be_trained_in_full():
    model = mark_only_biases_trainable(tiny_bert(), also_train=("classifier",))
    assert model.classifier.weight.requires_grad
    assert not model.bert.pooler.dense.weight.requires_grad


def test_only_biases_change_after_a_step():
    model = mark_only_biases_trainable(tiny_bert())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1
    )
    ids = torch.randint(0, 100, (4, 6), generator=torch.Generator().manual_seed(0))
    loss = model(input_ids=ids, labels=torch.tensor([0, 1, 2, 0])).loss
    loss.backward()
    optimizer.step()
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == name.endswith(".bias") or not changed, name
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())
    weights_unchanged = all(
        torch.equal(p, before[n])
        for n, p in model.named_parameters()
        if not n.endswith(".bias")
    )
    assert weights_unchanged


def test_llama_has_no_bias_so_bitfit_refuses():
    with pytest.raises(ValueError, match="has no bias parameters"):
        mark_only_biases_trainable(tiny_llama())
