"""The tutorial's fine-tune with the base model in 4-bit NF4 (QLoRA), on the CPU.

    .venv/bin/python -m snippets.qlora.train_qlora               # the full run
    .venv/bin/python -m snippets.qlora.train_qlora --max-steps 2 --heldout 2 \\
        --out /tmp/q.csv                                          # tests' version

Loads the tutorial's base model (snippets/tutorial/assets/base) twice: in
float32, and in 4-bit NF4 with double quantization through transformers'
`BitsAndBytesConfig` (compute dtype float32, device_map="cpu"); trains the
tutorial's LoRA (r = 16, alpha = 32, all seven projections) on each with the
tutorial's data, template, Trainer settings and seed; and evaluates the four
models (both bases, both fine-tunes) on the held-out records with the
tutorial's metrics. Writes one CSV row per model (default
docs/assets/data/qlora_tutorial.csv), read by docs/qlora.md.

The tutorial is a notebook (docs/notebooks/finetune_causal_lm.py) that runs top
to bottom and cannot be imported, so its template, tokenization, collation and
evaluation are repeated here, unchanged.
"""

import argparse
import csv
import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "snippets" / "tutorial" / "assets"
OUT = ROOT / "docs" / "assets" / "data" / "qlora_tutorial.csv"

# --8<-- [start:load]
import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, BitsAndBytesConfig


def load_base(path, in_4bit: bool):
    """The base model in float32, or in NF4 + double quantization (QLoRA)."""
    if not in_4bit:
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    bnb_config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",  # 4-bit NormalFloat
        bnb_4bit_use_double_quant=True,  # quantize the absmax constants too
        bnb_4bit_compute_dtype=torch.float32,  # a GPU would use bfloat16
    )
    model = AutoModelForCausalLM.from_pretrained(
        path, quantization_config=bnb_config, device_map="cpu"
    )
    for module in model.modules():
        # in eval mode on AVX512-BF16 CPUs bitsandbytes would switch to a
        # bfloat16 kernel; keep float32 so every CPU gives the same numbers
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    # casts norms to fp32, enables input gradients and gradient checkpointing
    return prepare_model_for_kbit_training(model)


def add_lora(model):
    """The tutorial's LoraConfig: r = 16, alpha = 32, all seven projections."""
    config = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                        "gate_proj", "up_proj", "down_proj"],
    )  # fmt: skip
    torch.manual_seed(0)  # A is initialised randomly (B starts at zero)
    return get_peft_model(model, config)


# --8<-- [end:load]


# --8<-- [start:data]
import json
from pathlib import Path

import torch

TEMPLATE = (
    "### Instruction:\n{instruction}\n\n"
    "### Input: {input}\n\n### Response:"
)  # fmt: skip
TEMPLATE_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def build_prompt(record: dict) -> str:
    """The prompt for one record: all the model sees before its answer."""
    if record.get("input"):
        return TEMPLATE.format(**record)
    return TEMPLATE_NO_INPUT.format(**record)


def tokenize(tokenizer, record: dict, max_length: int = 96) -> dict:
    """input_ids = prompt + " " + answer + eos; labels = -100 on the prompt."""
    prompt_ids = tokenizer(build_prompt(record))["input_ids"]
    answer_ids = tokenizer(" " + record["output"])["input_ids"]
    answer_ids = answer_ids + [tokenizer.eos_token_id]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def collate(features: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of tokenized examples into a batch of tensors."""
    width = max(len(f["input_ids"]) for f in features)
    batch = {"input_ids": [], "attention_mask": [], "labels": []}
    for f in features:
        pad = width - len(f["input_ids"])
        batch["input_ids"].append(f["input_ids"] + [pad_id] * pad)
        batch["attention_mask"].append([1] * len(f["input_ids"]) + [0] * pad)
        batch["labels"].append(f["labels"] + [-100] * pad)
    return {k: torch.tensor(v) for k, v in batch.items()}


# --8<-- [end:data]


# --8<-- [start:train]
from transformers import Trainer, TrainingArguments


def train(model, tokenizer, records: list[dict], output_dir, max_steps=-1):
    """The tutorial's Trainer run: AdamW, lr 5e-3, 12 epochs, batches of 16."""
    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=16,
        num_train_epochs=12, max_steps=max_steps, learning_rate=5e-3,
        warmup_steps=20, lr_scheduler_type="linear", logging_steps=5,
        save_strategy="no", report_to="none", use_cpu=True, seed=0,
        remove_unused_columns=False, disable_tqdm=True,
    )  # fmt: skip
    features = [tokenize(tokenizer, r) for r in records]
    trainer = Trainer(
        model=model, args=args, train_dataset=features,
        data_collator=lambda f: collate(f, tokenizer.pad_token_id),
    )  # fmt: skip
    return trainer.train()


# --8<-- [end:train]


# --8<-- [start:evaluate]
import difflib
import statistics
import time

import torch


def normalise(text: str) -> str:
    return " ".join(text.split())


def answer(model, tokenizer, record: dict, max_new_tokens: int = 24) -> tuple:
    """Greedy answer to one record, its length in tokens, the seconds taken."""
    enc = tokenizer(build_prompt(record), return_tensors="pt")
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id)]
    return tokenizer.decode(new).strip(), len(new), seconds


def evaluate(model, tokenizer, records: list[dict]) -> dict[str, float]:
    """The tutorial's metrics: exact-match success rate, similarity, ..."""
    model.eval()
    hits, sims, times, lens = [], [], [], []
    for r in records:
        text, n_tokens, seconds = answer(model, tokenizer, r)
        ref = normalise(r["output"])
        hits.append(normalise(text) == ref)
        matcher = difflib.SequenceMatcher(None, normalise(text), ref)
        sims.append(matcher.ratio())
        times.append(seconds)
        lens.append(n_tokens)
    return {
        "success rate": statistics.mean(hits),
        "mean similarity": statistics.mean(sims),
        "mean generation time (ms)": 1000 * statistics.mean(times),
        "mean output length (tokens)": statistics.mean(lens),
    }


# --8<-- [end:evaluate]


def run(max_steps: int, n_heldout: int | None, workdir: Path) -> list[dict]:
    """Evaluate both bases, fine-tune each, evaluate again, then deploy the
    QLoRA adapter two ways (merged into the 4-bit base; merged into the
    original float32 base) and evaluate those; one row per model."""
    import transformers
    from peft import PeftModel
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()  # no progress noise
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(1)  # as the tutorial: fixed, so reruns agree
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "base")
    train_data = read_jsonl(ASSETS / "data" / "train.jsonl")
    heldout = read_jsonl(ASSETS / "data" / "heldout.jsonl")[:n_heldout]
    rows = []

    def measure(name: str, model, **extra) -> None:
        size = {"weights (MB)": model.get_memory_footprint() / 1e6}
        rows.append({"model": name} | size | evaluate(model, tokenizer, heldout))
        rows[-1] |= extra
        print(rows[-1], flush=True)

    for in_4bit, name in ((False, "float32"), (True, "NF4 + double quant")):
        model = load_base(ASSETS / "base", in_4bit)
        measure(f"base ({name})", model)
        peft_model = add_lora(model)
        start = time.perf_counter()
        result = train(peft_model, tokenizer, train_data, workdir / name, max_steps)
        seconds = time.perf_counter() - start
        method = "QLoRA" if in_4bit else "LoRA"
        measure(f"base ({name}) + {method}", peft_model, steps=result.global_step,
                **{"training loss": result.training_loss,
                   "training time (s)": seconds})  # fmt: skip
    # deploying the QLoRA adapter: merged into its 4-bit base (dequantize,
    # add ΔW, requantize), or merged into the original float32 weights
    peft_model.save_pretrained(workdir / "qlora-adapter")
    measure("QLoRA merged into the NF4 base", peft_model.merge_and_unload())
    full = load_base(ASSETS / "base", in_4bit=False)
    full = PeftModel.from_pretrained(full, workdir / "qlora-adapter")
    measure("QLoRA merged into the float32 base", full.merge_and_unload())
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    """Write to a temporary file first, then move it over `path`."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", newline="", delete=False,
                                     dir=path.parent, suffix=".tmp") as f:  # fmt: skip
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 6) if isinstance(v, float) else v
                             for k, v in row.items()})  # fmt: skip
    shutil.move(f.name, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="CSV to write")
    parser.add_argument("--max-steps", type=int, default=-1,
                        help="stop each fine-tune after this many steps "
                             "(default: the tutorial's 12 epochs)")  # fmt: skip
    parser.add_argument(
        "--heldout",
        type=int,
        default=None,
        help="evaluate on the first N held-out records only",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as workdir:
        rows = run(args.max_steps, args.heldout, Path(workdir))
    write_csv(rows, args.out)


if __name__ == "__main__":
    main()
