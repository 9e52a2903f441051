"""Helpers shared by the blocks of docs/troubleshooting.md.

Every "Reproduce" and "Fix" block on that page imports what it needs from
here, so the two tabs of an item differ only in the line that breaks or
fixes it. Two models: `tiny_peft` wraps the tiny Llama of `lora_ref.toy`
(2 layers, d_model = 64, built from a config) with a PEFT LoRA adapter;
`tutorial_models` loads the tutorial's committed base model and adapter
(snippets/tutorial/assets/). Nothing is downloaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

import snippets
from lora_ref.toy import tiny_llama
from snippets.tutorial.template import build_prompt

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ASSETS = Path(snippets.__file__).resolve().parent / "tutorial" / "assets"
QV = ("q_proj", "v_proj")


def tiny_peft(
    r: int = 4,
    alpha: float = 8,
    targets: str | tuple[str, ...] | list[str] = QV,
    nonzero: bool = False,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    **config: object,
) -> PeftModel:
    """The tiny Llama with a LoRA adapter; `nonzero=True` makes B != 0.

    Extra keyword arguments go to `LoraConfig` (e.g. `use_rslora=True`).
    """
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    lora = LoraConfig(
        r=r,
        lora_alpha=alpha,
        # a string is a regular expression, a list holds name suffixes
        target_modules=targets if isinstance(targets, str) else list(targets),
        init_lora_weights=not nonzero,  # False: B random, a non-zero update
        **config,
    )
    return get_peft_model(tiny_llama(dtype=dtype), lora)


def saved_adapter(nonzero: bool = False) -> Path:
    """Save a tiny adapter (r = 4 on q, v) in a temporary folder."""
    folder = Path(tempfile.mkdtemp())
    tiny_peft(nonzero=nonzero).save_pretrained(folder)
    return folder


def token_ids(n: int = 2, s: int = 8, seed: int = 0) -> torch.Tensor:
    """A seeded (n, s) batch of token ids for the tiny model (128 tokens)."""
    return torch.randint(0, 128, (n, s), generator=torch.manual_seed(seed))


def final_loss(
    r: int, alpha: float, lr: float, rslora: bool = False, steps: int = 30
) -> float:
    """Loss after `steps` AdamW steps memorising 8 random sequences."""
    model = tiny_peft(
        r, alpha, ("q_proj", "v_proj", "up_proj"), use_rslora=rslora
    ).train()
    ids = token_ids(8, 16)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item()


def first_update_norm(r: int, alpha: float, rslora: bool = False) -> float:
    """‖ΔW‖ of layer 0's q_proj after one AdamW step (lr = 1e-3)."""
    model = tiny_peft(
        r, alpha, ("q_proj", "v_proj", "up_proj"), use_rslora=rslora
    ).train()
    ids = token_ids(8, 16)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    q = model.base_model.model.model.layers[0].self_attn.q_proj
    return q.get_delta_weight("default").norm().item()


def activation_bytes(
    model: torch.nn.Module, n: int, s: int, checkpointing: bool = False
) -> int:
    """Bytes saved for backward by one training step at batch n, length s.

    Counted with torch.autograd.graph.saved_tensors_hooks, parameters and
    tensors saved twice excluded.
    """
    model.train()
    if checkpointing:
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": True}
        )
    params = {p.data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            saved[t.data_ptr()] = t.numel() * t.element_size()
        return t

    ids = token_ids(n, s)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return sum(saved.values())


def tutorial_models(
    adapter: bool = True,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tutorial's tokenizer and model (base + its adapter, merged)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)  # small model: one thread, reproducible
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "base")
    model = AutoModelForCausalLM.from_pretrained(ASSETS / "base")
    if adapter:
        model = PeftModel.from_pretrained(model, ASSETS / "adapter")
        model = model.merge_and_unload()
    return tokenizer, model.eval()


def heldout(n: int) -> list[dict[str, str]]:
    """The first n held-out records of the tutorial."""
    import json

    path = ASSETS / "data" / "heldout.jsonl"
    lines = path.read_text("utf-8").splitlines()[:n]
    return [json.loads(line) for line in lines]


def generate(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    record: dict[str, str],
    max_new_tokens: int = 24,
    **decoding: object,
) -> tuple[str, int]:
    """The decoded answer (special tokens kept) and its length in tokens."""
    prompt = build_prompt(record["instruction"], record["input"])
    enc = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            **decoding,
        )
    new = out[0, enc["input_ids"].shape[1] :]
    return tokenizer.decode(new), len(new)


def success_rate(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    records: list[dict[str, str]],
    **decoding: object,
) -> float:
    """Share of exact answers (text before the first eos, spaces trimmed)."""
    hits = 0
    for r in records:
        text, _ = generate(tokenizer, model, r, **decoding)
        answer = text.split(tokenizer.eos_token)[0].strip()
        hits += answer == r["output"]
    return hits / len(records)
