"""The tutorial's fine-tuning recipe as functions, for the measurement scripts.

The notebook (docs/notebooks/finetune_causal_lm.py) teaches these steps one
cell at a time with the `transformers` `Trainer`; the scripts that measure
variations of it (data_quality.py) need the same recipe in a loop they can
change. Same settings as the notebook: LoRA r = 16, lora_alpha = 32, dropout
0.05 on all seven linear layers of each block; AdamW at 5e-3 with 20 warmup
steps and linear decay; batch 16; greedy decoding of at most 24 new tokens.
A plain PyTorch loop, so its numbers are close to, not equal to, the
notebook's.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from snippets.tutorial.template import ANSWER_PREFIX, build_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ASSETS = Path(__file__).resolve().parent / "assets"
BASE = ASSETS / "base"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
Prompt = Callable[[str, str], str]


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def load_base(
    base: Path = BASE,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tutorial's tokenizer and base model, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    return tokenizer, AutoModelForCausalLM.from_pretrained(base).eval()


def tokenize(
    tokenizer: PreTrainedTokenizerBase,
    record: dict[str, str],
    max_length: int = 96,
    mask_prompt: bool = True,
    eos: bool = True,
    prompt: Prompt = build_prompt,
) -> dict[str, list[int]]:
    """input_ids = prompt + " " + answer (+ eos); labels -100 on the prompt."""
    prompt_ids = tokenizer(prompt(record["instruction"], record["input"]))["input_ids"]
    answer_ids = tokenizer(ANSWER_PREFIX + record["output"])["input_ids"]
    if eos:
        answer_ids = answer_ids + [tokenizer.eos_token_id]
    prompt_labels = [-100] * len(prompt_ids) if mask_prompt else prompt_ids
    return {
        "input_ids": (prompt_ids + answer_ids)[:max_length],
        "labels": (prompt_labels + answer_ids)[:max_length],
    }


def collate(
    features: list[dict[str, list[int]]], pad_id: int
) -> dict[str, torch.Tensor]:
    """Right-pad to the longest example: pad id, attention 0, label -100."""
    width = max(len(f["input_ids"]) for f in features)
    ids, mask, labels = [], [], []
    for f in features:
        pad = width - len(f["input_ids"])
        ids.append(f["input_ids"] + [pad_id] * pad)
        mask.append([1] * len(f["input_ids"]) + [0] * pad)
        labels.append(f["labels"] + [-100] * pad)
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "labels": torch.tensor(labels),
    }


def train(
    model: PreTrainedModel,
    features: list[dict[str, list[int]]],
    pad_id: int,
    steps: int = 300,
    batch_size: int = 16,
    lr: float = 5e-3,
    warmup: int = 20,
    seed: int = 0,
) -> tuple[PreTrainedModel, dict[str, float]]:
    """LoRA-train `model` for `steps` steps; returns the PEFT model and stats."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=TARGETS,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config).train()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)

    def factor(step: int) -> float:  # linear warmup, then linear decay to 0
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / (steps - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []
    tokens, losses = 0, []
    for _ in range(steps):
        if len(order) < batch_size:  # reshuffle once per epoch
            order += torch.randperm(len(features), generator=gen).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        batch = collate([features[i] for i in idx], pad_id)
        tokens += batch["input_ids"].numel()
        loss = peft_model(**batch).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
    peft_model.eval()
    return peft_model, {
        "padded_tokens": tokens,
        "final_loss": statistics.mean(losses[-10:]),
    }


def answer(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    record: dict[str, str],
    max_new_tokens: int = 24,
) -> tuple[str, int, bool]:
    """Greedy answer, its length in tokens, and whether it ended with eos."""
    enc = tokenizer(
        build_prompt(record["instruction"], record["input"]), return_tensors="pt"
    )
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    stopped = tokenizer.eos_token_id in new
    if stopped:
        new = new[: new.index(tokenizer.eos_token_id)]
    return tokenizer.decode(new).strip(), len(new), stopped


def evaluate(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    records: list[dict[str, str]],
) -> dict[str, float]:
    """Exact-match success rate, mean answer length, share that stopped."""
    hits, lengths, stops = [], [], []
    for r in records:
        text, n, stopped = answer(tokenizer, model, r)
        hits.append(" ".join(text.split()) == " ".join(r["output"].split()))
        lengths.append(n)
        stops.append(stopped)
    return {
        "success_rate": statistics.mean(hits),
        "mean_output_tokens": statistics.mean(lengths),
        "stopped_share": statistics.mean(stops),
    }
