"""Train one LoRA adapter per task on the tutorial's base model, and evaluate.

For "Many adapters, one base" (docs/many-adapters.md). The tutorial's data
(snippets/tutorial/assets/data) has four tasks; each adapter sees only its
own task's 100 training records. The adapters (PEFT's format) and an
evaluation of every adapter on every task's held-out records are written to
snippets/many_adapters/assets/ (committed):

    .venv/bin/python -m snippets.many_adapters.train_adapters [--out DIR]

Everything is built in a temporary directory and moved into place only when
all adapters are trained, so a failed run leaves the committed files alone.
About a minute on one CPU core.
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = Path(__file__).resolve().parent
TUTORIAL = HERE.parent / "tutorial" / "assets"
BASE = TUTORIAL / "base"
DATA = TUTORIAL / "data"
ADAPTERS = HERE / "assets"
# adapter name -> the tutorial's task name
TASKS = {
    "zh": "digits_to_zh",
    "en": "digits_to_en",
    "from_zh": "zh_to_digits",
    "from_en": "en_to_digits",
}
# the tutorial notebook's template (docs/notebooks/finetune_causal_lm.py)
TEMPLATE = "### Instruction:\n{instruction}\n\n### Input: {input}\n\n### Response:"
CONFIG = {
    "r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "target_modules": "all-linear",
    "task_type": "CAUSAL_LM",
}
EPOCHS, BATCH, LR = 30, 10, 5e-3


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def records(split: str, task: str) -> list[dict]:
    """The tutorial's records of one task ("train" or "heldout")."""
    return [r for r in read_jsonl(DATA / f"{split}.jsonl") if r["task"] == task]


def prompt(record: dict) -> str:
    return TEMPLATE.format(**record)


def load_base() -> tuple:
    """The tutorial's tokenizer and base model, offline, in eval mode."""
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    model = AutoModelForCausalLM.from_pretrained(BASE).eval()
    return tokenizer, model


def batch_of(tokenizer, rows: list[dict]) -> dict[str, torch.Tensor]:
    """Prompt + " " + answer + eos, right-padded; loss on the answer only."""
    ids, labels = [], []
    for r in rows:
        p = tokenizer(prompt(r))["input_ids"]
        a = tokenizer(" " + r["output"])["input_ids"] + [tokenizer.eos_token_id]
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
        "attention_mask": torch.tensor(
            [[1] * len(x) + [0] * (width - len(x)) for x in ids]
        ),
        "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels]),
    }


def train_one(name: str, tokenizer, out: Path) -> float:
    """Train the adapter `name` on its task; save it under out/name."""
    torch.manual_seed(0)
    _, model = load_base()
    model = get_peft_model(model, LoraConfig(**CONFIG))
    rows = records("train", TASKS[name])
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=LR
    )
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(rows), generator=g).tolist()
        for i in range(0, len(rows), BATCH):
            loss = model(**batch_of(tokenizer, [rows[j] for j in order[i : i + BATCH]]))
            loss.loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.save_pretrained(out / name)
    (out / name / "README.md").unlink()  # PEFT's model-card template: no content
    config = json.loads((out / name / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "snippets/tutorial/assets/base"
    (out / name / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return loss.loss.item()


def answers(model, tokenizer, rows: list[dict], **kwargs) -> list[str]:
    """Greedy answers to a batch of records (left padding for generation)."""
    tokenizer.padding_side = "left"
    enc = tokenizer([prompt(r) for r in rows], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=24,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **kwargs,
        )
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :])
    return [" ".join(t.split("</s>")[0].replace("<pad>", "").split()) for t in texts]


def load_all(directory: Path = ADAPTERS, names: list[str] | None = None):
    """The base with the task adapters loaded (PEFT), in eval mode; first active.

    `PeftModel.from_pretrained` loads the base once and the first adapter,
    `load_adapter` each of the others.
    """
    from peft import PeftModel

    names = list(TASKS) if names is None else names
    _, base = load_base()
    model = PeftModel.from_pretrained(base, directory / names[0], adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(directory / name, adapter_name=name)
    return model.eval()


def evaluate(directory: Path) -> dict[str, dict[str, float]]:
    """Exact-match rate of every adapter on every task's held-out records."""
    tokenizer, _ = load_base()
    model = load_all(directory)
    table = {}
    for name in TASKS:
        model.set_adapter(name)
        table[name] = {}
        for task in TASKS.values():
            rows = records("heldout", task)
            got = answers(model, tokenizer, rows)
            hits = [
                a == " ".join(r["output"].split())
                for a, r in zip(got, rows, strict=True)
            ]
            table[name][task] = sum(hits) / len(hits)
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ADAPTERS, help=f"destination (default {ADAPTERS})"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tokenizer, _ = load_base()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "assets"
        start = time.perf_counter()
        losses = {name: train_one(name, tokenizer, work) for name in TASKS}
        table = evaluate(work)
        report = {
            "config": CONFIG,
            "epochs": EPOCHS,
            "batch": BATCH,
            "learning_rate": LR,
            "final_loss": {k: round(v, 4) for k, v in losses.items()},
            "heldout_exact_match": table,
        }
        (work / "results.json").write_text(json.dumps(report, indent=1) + "\n")
        print(json.dumps(report, indent=1))
        print(f"trained and evaluated in {time.perf_counter() - start:.0f} s")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.move(str(work), str(args.out))


if __name__ == "__main__":
    main()
