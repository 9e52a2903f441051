"""Pretrain the tutorial's small base model: a Llama-shaped causal LM, on CPU.

The model has the architecture of Llama / Qwen2 (RMSNorm, rotary positions,
SwiGLU MLP, grouped-query attention) at toy size, so PEFT and transformers
treat it exactly like a hub model: it is saved with `save_pretrained` and
loaded with `AutoModelForCausalLM.from_pretrained(dir)`.

It is trained for a few minutes, by next-token prediction, on the generated
corpus of `make_data.py`: short Chinese and English sentences in which numbers
are read aloud. It never sees the tutorial's instruction format.

Usage: python -m snippets.tutorial.pretrain_base --corpus CORPUS.txt \
    --tokenizer DIR --out DIR
(trains into a temporary folder and replaces OUT only when the model is saved).
"""

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from snippets.tutorial.files import replace_dir

SEQ_LEN, BATCH, STEPS, WARMUP, LR = 64, 32, 1200, 50, 3e-3


def base_config(vocab_size: int, pad_token_id: int, eos_token_id: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, as in Llama 3 and Qwen2
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        bos_token_id=None,
        eos_token_id=eos_token_id,
    )


def pretrain(
    lines: list[str], tokenizer_dir: Path, out_dir: Path, seed: int = 0
) -> None:
    """Train from scratch on `lines` (packed, eos-separated) and save to `out_dir`.

    `out_dir` is written directly: callers that replace a committed model pass
    a temporary folder (see `main`).
    """
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # fastest, and reproducible, on a shared machine
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids: list[int] = []
    for line_ids in tok(lines)["input_ids"]:
        ids += line_ids + [tok.eos_token_id]
    n_chunks = len(ids) // SEQ_LEN
    data = torch.tensor(ids[: n_chunks * SEQ_LEN]).view(n_chunks, SEQ_LEN)
    print(f"{len(ids):,} tokens, {n_chunks:,} sequences of {SEQ_LEN}")
    model = LlamaForCausalLM(base_config(len(tok), tok.pad_token_id, tok.eos_token_id))
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)

    def lr_at(step: int) -> float:  # linear warmup, then cosine decay to 10%
        if step < WARMUP:
            return (step + 1) / WARMUP
        t = (step - WARMUP) / (STEPS - WARMUP)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    start = time.perf_counter()
    for step in range(STEPS):
        batch = data[torch.randint(0, n_chunks, (BATCH,))]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 50 == 0 or step == STEPS - 1:
            seconds = time.perf_counter() - start
            print(f"step {step:4d}  loss {loss.item():.3f}  {seconds:.0f}s", flush=True)
    model.eval()
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)  # the model directory is self-contained


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="text, one per line")
    parser.add_argument(
        "--tokenizer", type=Path, required=True, help="tokenizer folder"
    )
    parser.add_argument("--out", type=Path, required=True, help="model folder")
    args = parser.parse_args(argv)
    corpus = args.corpus.read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        pretrain(corpus, args.tokenizer, Path(tmp) / "base")
        replace_dir(Path(tmp) / "base", args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
