"""Chat with a base model plus a LoRA adapter: batch or interactive.

The demo of the tutorial (docs/notebooks/finetune_causal_lm.py). It builds
prompts with the tutorial's template (snippets/tutorial/template.py), so an
adapter trained there answers here. A prompt line is an instruction,
optionally followed by a tab and an input:
"Read this number aloud, one digit at a time.<TAB>2025".

    python -m snippets.chat --base DIR --adapter DIR --mode batch < prompts.txt
    python -m snippets.chat --base DIR --adapter DIR --mode batch --prompts FILE
    python -m snippets.chat --base DIR --adapter DIR --mode interactive

Batch mode prints one answer per prompt line. Interactive mode asks for a
prompt, answers, and repeats until an empty line, "quit" or end of input.
Both load local files only (HF_HUB_OFFLINE=1 unless set otherwise); `--base`
may name a hub model on a machine that is allowed to download it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from snippets.tutorial.template import build_prompt as template_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def build_prompt(line: str) -> str:
    """The model prompt for one line: "instruction" or "instruction<TAB>input"."""
    instruction, _, inp = line.partition("\t")
    instruction, inp = instruction.strip(), inp.strip()
    if not instruction:
        raise ValueError("empty prompt: a line needs an instruction")
    return template_prompt(instruction, inp)


def load(
    base: str, adapter: str | None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and model (base + adapter, merged for inference), in eval mode."""
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise ValueError(f"{adapter} has no adapter_config.json: not a PEFT adapter")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download unless asked to
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)  # small model: one thread is fastest and reproducible
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return tokenizer, model.eval()


def reply(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    line: str,
    max_new_tokens: int = 48,
) -> str:
    """The model's greedy answer to one prompt line, up to the end-of-sequence."""
    import torch

    enc = tokenizer(build_prompt(line), return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    new = out[0, enc["input_ids"].shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True).strip()


def run_batch(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    lines: Iterable[str],
    max_new_tokens: int = 48,
    out: TextIO | None = None,
) -> None:
    """Answer each non-empty line, one answer per line."""
    out = out or sys.stdout
    for line in lines:
        line = line.rstrip("\n")
        if line.strip():
            print(reply(tokenizer, model, line, max_new_tokens), file=out, flush=True)


def run_interactive(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    max_new_tokens: int = 48,
    inp: TextIO | None = None,
    out: TextIO | None = None,
) -> None:
    """A prompt loop: read a line, answer it, until an empty line or EOF."""
    inp, out = inp or sys.stdin, out or sys.stdout
    print("Type an instruction (add a tab and an input if it has one).", file=out)
    print("An empty line or 'quit' ends the session.", file=out)
    while True:
        print("> ", end="", file=out, flush=True)
        line = inp.readline()
        if not line or line.strip() in ("", "quit", "exit"):
            print("bye", file=out)
            return
        answer = reply(tokenizer, model, line.rstrip("\n"), max_new_tokens)
        print(answer, file=out, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="base model directory (or id)")
    parser.add_argument("--adapter", help="PEFT adapter directory (omit: base only)")
    parser.add_argument("--mode", choices=["batch", "interactive"], default="batch")
    parser.add_argument(
        "--prompts", type=Path, help="batch mode: file of prompt lines (default stdin)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    tokenizer, model = load(args.base, args.adapter)
    if args.mode == "interactive":
        run_interactive(tokenizer, model, args.max_new_tokens)
    elif args.prompts:
        with args.prompts.open(encoding="utf-8") as f:
            run_batch(tokenizer, model, f, args.max_new_tokens)
    else:
        run_batch(tokenizer, model, sys.stdin, args.max_new_tokens)


if __name__ == "__main__":
    main()
