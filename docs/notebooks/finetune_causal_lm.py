# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Fine-tune a causal LM with LoRA
#
# In this notebook you fine-tune a causal language model with LoRA, end to end:
# data, prompt template, tokenization with masked labels, `LoraConfig`,
# training with the `transformers` `Trainer`, a loss curve, an evaluation of the
# base model against the fine-tuned one, saving and loading the adapter,
# merging it for deployment, and a small chat demo. It runs, here, with
# nothing downloaded.
#
# **Which model?** The code is exactly what you would run against a real hub
# model such as `Qwen/Qwen2.5-0.5B`: it loads the model with
# `AutoModelForCausalLM.from_pretrained` and the tokenizer with
# `AutoTokenizer.from_pretrained`. But this page was executed on a machine
# with two CPU cores and no network, so `from_pretrained` is pointed at a
# **small local base model** that this project built itself, once, with
# committed scripts (`snippets/tutorial/`):
#
# - a byte-level BPE tokenizer (at most 2,048 tokens) trained with the `tokenizers`
#   library on a generated Chinese and English corpus;
# - a Llama-shaped model (4 layers, d_model = 128, about 1 M parameters: the
#   architecture of Llama and Qwen2 at toy size), pretrained for a few minutes
#   on CPU on that corpus, in which numbers are read aloud in short sentences.
#
# So the model you start from already "knows" something: it has learned the
# two languages of the corpus and how digits are read. It has never seen an
# instruction or the prompt format below. LoRA then adapts it to a new task:
# following instructions to read a number digit by digit, in Chinese or
# English, or to write spoken digits back as a number. Every number on this
# page was printed by the run you see; nothing is typed in.
#
# The math behind each step is in the [LoRA from scratch](../../lora-from-scratch/)
# and [The math of LoRA](../../lora-math/) chapters; the symbols are in
# [Notation](../../notation/). When something goes wrong in your own run, see
# [Troubleshooting](../../troubleshooting/).

# %% [markdown]
# ## Setup
#
# Everything is seeded and the number of CPU threads is fixed, so a rerun
# gives the same losses and the same answers. `HF_HUB_OFFLINE=1` makes sure
# nothing is fetched from the hub.

# %%
import logging
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # load local files only, never download
os.environ["TOKENIZERS_PARALLELISM"] = "false"
# bitsandbytes (installed for the 4-bit path) logs a missing optional CPU kernel
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

import difflib
import json
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # no widgets here
# PEFT 0.21.2 calls a transformers property deprecated in 5.23; not our code
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")

import random
import statistics
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

torch.manual_seed(0)
random.seed(0)
torch.set_num_threads(1)  # fixed, so reruns give the same numbers
transformers.logging.set_verbosity_error()  # keep the page free of progress noise
transformers.logging.disable_progress_bar()

import snippets

# the committed assets, found from the `snippets` package
ASSETS = Path(
    os.environ.get(
        "TUTORIAL_ASSETS", Path(snippets.__file__).parent / "tutorial/assets"
    )
)
# where this run writes its logs and adapter
OUTPUT = Path(os.environ.get("TUTORIAL_OUTPUT", "finetune-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)
print("torch", torch.__version__, "| transformers", transformers.__version__)

# %% [markdown]
# ## The base model
#
# With a GPU and the hub you would write `MODEL_ID = "Qwen/Qwen2.5-0.5B"`.
# Here the same two calls load the small local base instead. Qwen2 and our
# model share the Llama layer names (`q_proj`, `k_proj`, `v_proj`, `o_proj`,
# `gate_proj`, `up_proj`, `down_proj`), so everything below carries over.

# %%
MODEL_ID = "Qwen/Qwen2.5-0.5B"  # with a GPU and the hub
BASE = ASSETS / "base"  # what this page runs: the small local base model

tokenizer = AutoTokenizer.from_pretrained(BASE)
model = AutoModelForCausalLM.from_pretrained(BASE)
model.eval()
config = model.config
n_params = sum(p.numel() for p in model.parameters())
print(
    f"{config.model_type}: {config.num_hidden_layers} layers, "
    f"d_model {config.hidden_size}, {n_params:,} parameters"
)
print(
    f"vocabulary: {len(tokenizer):,} tokens, eos={tokenizer.eos_token!r}, "
    f"pad={tokenizer.pad_token!r}"
)


# %% [markdown]
# What does the base model know? Give it the start of a sentence like those in
# its corpus and let it continue (greedy decoding: always the most likely next
# token).


# %%
def complete(model, text: str, max_new_tokens: int = 12) -> str:
    """Greedy continuation of `text`, decoded, without the prompt."""
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(
        out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True
    )


for text in ["The number 4071 is read", "数字 4071 读作"]:
    print(repr(text), "->", repr(complete(model, text)))

# %% [markdown]
# It continues both sentences the way its corpus does: a number, then its
# digits read out as words. The Chinese reading is right; the English one
# gets the last digit wrong (4071 read as "four zero seven nine"). So the base
# model has learned the *form* "digits, then their names", and only partly
# to copy each digit faithfully. The task below asks for the same knowledge
# in a new form (an instruction and an answer), the kind of gap instruction
# tuning closes, and it checks every digit.
#
# ## The data
#
# The dataset is Alpaca-style: each record has an `instruction`, an `input`
# and the expected `output` (plus a `task` name used only for statistics). It
# was generated by `snippets/tutorial/make_data.py` and is committed: 400
# training and 80 held-out records, four tasks in equal shares, and no number
# appears in both splits. Every answer is a function of the input, so it can
# be checked automatically.


# %%
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


train_data = read_jsonl(ASSETS / "data" / "train.jsonl")
heldout_data = read_jsonl(ASSETS / "data" / "heldout.jsonl")
print(json.dumps(train_data[0], ensure_ascii=False, indent=1))

# %%
tasks = sorted({r["task"] for r in train_data})
print(
    f"{'task':14} {'train':>5} {'held-out':>8} {'mean input':>10} {'mean output':>11}"
)
for task in tasks:
    rows = [r for r in train_data if r["task"] == task]
    n_held = sum(r["task"] == task for r in heldout_data)
    mean_in = statistics.mean(len(r["input"]) for r in rows)
    mean_out = statistics.mean(len(r["output"]) for r in rows)
    print(f"{task:14} {len(rows):5} {n_held:8} {mean_in:10.1f} {mean_out:11.1f}")
print("(input and output lengths in characters, training split)")

# %%
for r in train_data[:4]:
    print(f"{r['instruction']} | {r['input']} -> {r['output']}")

# %% [markdown]
# ## The prompt template
#
# The model sees one string per example: the instruction and input inside a
# fixed template, then a space and the answer, then the end-of-sequence
# token. At inference time you send everything up to `### Response:` and the
# model writes the rest. (Why the space, and why the input sits on the same
# line as `### Input:`, is explained under tokenization below.) Training,
# evaluation and the chat demo must use the same template, so it is written
# once, in `snippets/tutorial/template.py`, and imported here, by
# `snippets/chat.py` and by the build scripts (a test fails if a copy
# appears anywhere else).

# %%
from snippets.tutorial import template

print(template.TEMPLATE)
print("---")


def build_prompt(record: dict) -> str:
    """The prompt for one record: everything the model sees before its answer."""
    return template.build_prompt(record["instruction"], record.get("input", ""))


print(build_prompt(train_data[0]) + template.ANSWER_PREFIX + train_data[0]["output"])


# %% [markdown]
# ## Tokenization with masked labels
#
# A causal LM is trained to predict every next token. For instruction tuning
# you only want the loss on the answer: predicting the instruction back would
# teach the model to write instructions. So the labels are a copy of the
# input ids with the prompt part set to **-100**, the value PyTorch's
# `cross_entropy` (and therefore every `transformers` model) ignores. The
# model shifts labels by one position internally, so labels line up with
# input ids.


# %%
def tokenize(record: dict, max_length: int = 96) -> dict[str, list[int]]:
    """input_ids = prompt + " " + answer + eos; labels = -100 on the prompt."""
    prompt_ids = tokenizer(build_prompt(record))["input_ids"]
    answer = template.ANSWER_PREFIX + record["output"]  # a space: see below
    answer_ids = tokenizer(answer)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": input_ids, "labels": labels}


train_features = [tokenize(r) for r in train_data]
example = train_features[0]
for token_id, label in list(zip(example["input_ids"], example["labels"], strict=True))[
    -12:
]:
    print(f"{tokenizer.decode([token_id])!r:>10} {token_id:5d} {label:5d}")
lengths = [len(f["input_ids"]) for f in train_features]
print(
    f"sequence length: min {min(lengths)}, max {max(lengths)}, "
    f"mean {statistics.mean(lengths):.1f} tokens"
)

# %% [markdown]
# The last rows of the first example: the prompt tokens (up to the `:` after
# `Response`) carry label -100, the answer tokens and the final `</s>` carry
# their own ids. The prompt and the answer are tokenized separately and then
# joined, so the boundary is exact even where a tokenizer would merge
# characters across it.
#
# Why a space before the answer? A byte-level BPE tokenizer gives `five` at
# the start of a text and ` five` after a space **different token ids**:

# %%
for text in ["five two", " five two"]:
    ids = tokenizer(text)["input_ids"]
    print(f"{text!r:12}", [(tokenizer.decode([i]), i) for i in ids])

# %% [markdown]
# How often did the base model see each of them? Count the tokens of its
# pretraining corpus, which `make_data.py` regenerates exactly (seeded):

# %%
from collections import Counter

from snippets.tutorial.make_data import make_corpus

corpus_counts = Counter(i for ids in tokenizer(make_corpus())["input_ids"] for i in ids)
for word in ["five", " five", "Five"]:
    (token_id,) = tokenizer(word)["input_ids"]
    print(f"{word!r:8} token {token_id:3}: {corpus_counts[token_id]:6,} times")

# %% [markdown]
# In the corpus, English digit words follow a space ("is read five two
# ...") or open a sentence ("Five two ... is the number"), so ` five` is a
# well-trained token and `five` one the base model has never read: the
# tokenizer has it only because it was also trained on the fine-tuning
# records. As an output (the embedding is tied to the output layer) it has
# only learned that it never comes next. The LoRA configuration
# below adapts the linear layers only, not the embedding table, so it cannot
# give a rare token a better embedding. That is a property of this
# configuration, not of LoRA: PEFT can also put a LoRA update on the
# embedding (`target_modules=[..., "embed_tokens"]`), train chosen rows of
# it (`trainable_token_indices`), or train the whole table
# (`modules_to_save=["embed_tokens"]`), each at a cost in trainable
# parameters. Putting a space before the answer (and the input on the
# `### Input:` line, after a space) is free: the task then uses the tokens
# the base model already knows. A hub model trained on trillions of tokens
# rarely has such gaps, but when a fine-tune keeps getting one position
# wrong (often the first), look at how that position tokenizes.
#
# ## Padding and collation
#
# Examples have different lengths, so a batch is padded to its longest
# member: `input_ids` with the pad token, `attention_mask` with 0 (the model
# does not attend to padding) and `labels` with -100 (no loss on padding).
# Padding goes on the right for training.


# %%
def collate(features: list[dict]) -> dict[str, torch.Tensor]:
    """Right-pad a list of tokenized examples into a batch of tensors."""
    width = max(len(f["input_ids"]) for f in features)
    batch = {"input_ids": [], "attention_mask": [], "labels": []}
    for f in features:
        pad = width - len(f["input_ids"])
        batch["input_ids"].append(f["input_ids"] + [tokenizer.pad_token_id] * pad)
        batch["attention_mask"].append([1] * len(f["input_ids"]) + [0] * pad)
        batch["labels"].append(f["labels"] + [-100] * pad)
    return {k: torch.tensor(v) for k, v in batch.items()}


batch = collate(train_features[:4])
print({k: tuple(v.shape) for k, v in batch.items()})
print("masked label positions per row:", (batch["labels"] == -100).sum(1).tolist())

# %% [markdown]
# ## Evaluation, defined before training
#
# On the 80 held-out records, for a model, greedy-decode an answer (at most 24
# new tokens, stopping at `</s>`) and measure:
#
# - **success rate**: the share of answers that equal the reference exactly,
#   after normalising whitespace (leading and trailing spaces removed, runs of
#   spaces collapsed to one);
# - **mean similarity**: the mean over records of Python's
#   `difflib.SequenceMatcher(None, answer, reference).ratio()`, a
#   character-level similarity: twice the number of matching characters
#   divided by the total length of both strings, from 0 (nothing in common)
#   to 1 (identical);
# - **ms per generated token**: the wall-clock time of all `generate` calls
#   divided by the number of tokens they generated (`</s>` included: it
#   costs a step too), on this machine: the only measure that changes from
#   run to run. Per token, because models that answer at different lengths
#   would otherwise be compared on how much they say;
# - **mean output length**: the number of new tokens generated, `</s>`
#   excluded.
#
# The base model is measured now, before LoRA touches it.


# %%
def normalise(text: str) -> str:
    return " ".join(text.split())


def answer(
    model, record: dict, max_new_tokens: int = 24
) -> tuple[str, int, float, int]:
    """The answer to one record, its length, the seconds and the decoding steps."""
    enc = tokenizer(build_prompt(record), return_tensors="pt")
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    seconds = time.perf_counter() - start
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    steps = len(new)  # generated tokens, </s> included
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id)]
    return tokenizer.decode(new).strip(), len(new), seconds, steps


def evaluate(model, records: list[dict]) -> dict[str, float]:
    model.eval()
    hits, sims, lens, seconds, steps = [], [], [], 0.0, 0
    for r in records:
        text, n_tokens, call_seconds, call_steps = answer(model, r)
        hits.append(normalise(text) == normalise(r["output"]))
        sims.append(
            difflib.SequenceMatcher(
                None, normalise(text), normalise(r["output"])
            ).ratio()
        )
        seconds += call_seconds
        steps += call_steps
        lens.append(n_tokens)
    return {
        "success rate": statistics.mean(hits),
        "mean similarity": statistics.mean(sims),
        "ms per generated token": 1000 * seconds / steps,
        "mean output length (tokens)": statistics.mean(lens),
    }


base_scores = evaluate(model, heldout_data)
for r in heldout_data[:4]:
    print(f"{r['input']!r:28} -> {answer(model, r)[0]!r}")

# %% [markdown]
# The base model does not answer: it has never seen the template, so it
# continues the text as if it were one of its corpus sentences.
#
# ## The LoRA configuration
#
# `LoraConfig` says where the adapters go and how big they are:
#
# - `r`: the rank of each update ΔW = γBA, so A has r rows and B has r
#   columns. Trainable parameters per adapted layer are r·(d + k) for a
#   d × k weight. See [LoRA from scratch](../../lora-from-scratch/).
# - `lora_alpha` (α): the update is scaled by γ = α / r (the scaling derived
#   in [The math of LoRA](../../lora-math/)). With r = 16 and α = 32, γ = 2.
#   α = 2r is a community convention, neither the LoRA paper's choice nor
#   PEFT's default (α = 8). The paper picks α once and does not tune it,
#   since with Adam tuning α is roughly tuning the learning rate (Hu et al.
#   2021, section 4.1); we did the same: α fixed, learning rate chosen for
#   it. If you change r, keep α (γ then falls like 1/r, the measured update
#   like 1/√r) or use
#   rsLoRA (`use_rslora=True`, γ = α/√r); the
#   [Troubleshooting](../../troubleshooting/) page measures both.
# - `lora_dropout`: dropout applied to the input of the LoRA branch only; the
#   frozen path sees the undropped input.
# - `target_modules`: the names of the linear layers to adapt. A list entry
#   matches a module whose name ends with it. Here all seven linear layers of
#   every block (attention q, k, v, o and MLP gate, up, down): QLoRA
#   (Dettmers et al. 2023, section 4) found that LoRA on the query and value
#   projections only, the LoRA paper's choice, does not match full
#   fine-tuning, and that adapting all linear layers is needed to match it.
#   The choice is compared in
#   [Choosing rank, alpha and targets](../../choosing-rank/).
# - `task_type="CAUSAL_LM"` tells PEFT which model wrapper to build.
#
# `get_peft_model` freezes every base weight and inserts the LoRA layers (it
# modifies `model` in place and returns a wrapper around it).

# %%
lora_config = LoraConfig(
    r=16,
    lora_alpha=32,
    lora_dropout=0.05,
    target_modules=[
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ],
    task_type="CAUSAL_LM",
)
torch.manual_seed(0)  # A is initialised randomly (B starts at zero)
peft_model = get_peft_model(model, lora_config)
peft_model.print_trainable_parameters()
n_lora = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
print(f"adapter / base model: {n_lora:,} / {n_params:,} = {n_lora / n_params:.1%}")

# %% [markdown]
# "all params" counts the frozen base plus the adapters, so PEFT's share is
# of base + adapter; the second line divides by the base alone. Either way,
# an adapter of this size is **not parameter-efficient**: at d_model = 128,
# r = 16 is an eighth of the layer width, and r·(d + k) is a quarter of a
# 128 × 128 weight. The adapter grows with the width (r·(d + k)), the model
# with its square (d·k), so the share falls as models grow: on
# `Qwen/Qwen2.5-0.5B` (d_model = 896) the same configuration trains
# 8,798,208 parameters, 1.78% of its 494,032,768 (the table on
# [Why PEFT](../../why-peft/)). Everything this notebook does with the
# adapter (masking, training, saving, merging) is the same at that scale.
#
# ## Training
#
# The `transformers` `Trainer` runs the loop: AdamW, a learning rate that
# warms up linearly for the first 20 steps and then decays linearly to zero,
# and a log entry every 5 steps. A small callback appends each log entry to a
# local JSON-lines file, which is all the monitoring you need (no online
# tracker, no account). The learning rate is higher than you would use on a
# real model (1e-4 to 2e-4 is common there) because this model is tiny and
# the run is short.

# %%
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

LOG_FILE = OUTPUT / "train_log.jsonl"
LOG_FILE.unlink(missing_ok=True)


class JsonlLogger(TrainerCallback):
    """Append every Trainer log entry (loss, learning rate, ...) to LOG_FILE."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        with LOG_FILE.open("a") as f:
            f.write(json.dumps({"step": state.global_step, **(logs or {})}) + "\n")


args = TrainingArguments(
    output_dir=str(OUTPUT / "trainer"),
    per_device_train_batch_size=16,
    num_train_epochs=12,
    learning_rate=5e-3,
    warmup_steps=20,
    lr_scheduler_type="linear",
    logging_steps=5,
    save_strategy="no",
    report_to="none",
    use_cpu=True,
    seed=0,
    remove_unused_columns=False,  # our collate() builds the batch itself
    disable_tqdm=True,
)
trainer = Trainer(
    model=peft_model,
    args=args,
    train_dataset=train_features,
    data_collator=collate,
    callbacks=[JsonlLogger()],
)
trainer.remove_callback(PrinterCallback)  # the log file is enough; no print per log
start = time.perf_counter()
result = trainer.train()
train_seconds = time.perf_counter() - start
print(
    f"{result.global_step} steps, final training loss "
    f"{result.training_loss:.4f} (mean over the run)"
)

# %% [markdown]
# ## The loss curve
#
# Read back from the log file, as you would after a long run on another
# machine.

# %%
logs = [json.loads(line) for line in LOG_FILE.read_text().splitlines()]
steps = [e["step"] for e in logs if "loss" in e]
losses = [e["loss"] for e in logs if "loss" in e]
rates = [e["learning_rate"] for e in logs if "loss" in e]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
ax1.plot(steps, losses, marker=".")
ax1.set(
    xlabel="step",
    ylabel="training loss (nats per token)",
    title="Training loss (answer tokens only)",
)
ax2.plot(steps, rates, marker=".")
ax2.set(xlabel="step", ylabel="learning rate", title="Warmup, then linear decay")
fig.tight_layout()
plt.show()
print(
    f"loss at step {steps[0]}: {losses[0]:.3f}; at step {steps[-1]}: {losses[-1]:.3f}"
)

# %% [markdown]
# ## Base model versus fine-tuned model
#
# The same `evaluate` function, on the same held-out records.

# %%
import copy

tuned_scores = evaluate(peft_model, heldout_data)
# the same weights merged (W0 + γBA in one matrix): same answers, base cost
merged_scores = evaluate(copy.deepcopy(peft_model).merge_and_unload(), heldout_data)
TIMING = ("ms per generated token",)


def table(rows: dict[str, dict[str, float]]) -> str:
    """A Markdown table; timing columns are marked as machine-dependent."""
    names = list(next(iter(rows.values())))
    lines = ["| model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for model_name, scores in rows.items():
        cells = [
            f"{scores[n]:.1f}" if n in TIMING else f"{scores[n]:.3f}" for n in names
        ]
        lines.append(f"| {model_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


results = {
    "base": base_scores,
    "base + LoRA (unmerged)": tuned_scores,
    "base + LoRA (merged)": merged_scores,
}
(OUTPUT / "eval_results.json").write_text(json.dumps(results, indent=1))
assert tuned_scores["success rate"] > base_scores["success rate"]
t = {name: scores[TIMING[0]] for name, scores in results.items()}
print(
    f"time per token, relative to the base: unmerged "
    f"{t['base + LoRA (unmerged)'] / t['base']:.2f}x, "
    f"merged {t['base + LoRA (merged)'] / t['base']:.2f}x"
)

# %%
from IPython.display import Markdown

Markdown(table(results))

# %% [markdown]
# **How to read this table.**
#
# - The base model's 0.000 is trivial: it has never seen the template, so it
#   cannot answer in it at all (above, it continued the prompt as corpus
#   text). What the fine-tune taught is the format and the mapping together;
#   a fair baseline for the mapping alone would be the base model prompted
#   in its own corpus style ("The number 4071 is read"), which above read
#   4071 with one wrong digit.
# - The adapter is ~15% of an 873K-parameter model, so this is not a
#   demonstration of parameter efficiency (see the parameter counts above).
#   The lesson that carries to real models is the procedure and its checks:
#   masked labels, one template, an evaluation defined before training, and
#   a merged model that answers exactly like the unmerged one.
# - Time is per generated token, so a model that writes longer answers (the
#   base writes about twice as many tokens) is not charged for it. The
#   unmerged adapter runs two extra small matrix products, a dropout and a
#   scaling in each of the 28 adapted layers at every token: on a model this
#   narrow (d_model = 128) that adds a large share of the work and of the
#   operator calls. Merged, the model has exactly the base's shapes and
#   costs what the base costs; a difference between those two rows is
#   measurement noise on a shared machine. On a wide model the extra work
#   per layer is r·(d + k) multiply-adds against d·k, a small fraction, and
#   merging removes even that.
# %% [markdown]
# Per task, and a few answers side by side:

# %%
for task in tasks:
    rows = [r for r in heldout_data if r["task"] == task]
    ok = sum(
        normalise(answer(peft_model, r)[0]) == normalise(r["output"]) for r in rows
    )
    print(f"{task:14} {ok}/{len(rows)} correct")
for r in heldout_data[:4]:
    print(
        f"{r['input']!r:28} -> {answer(peft_model, r)[0]!r} (reference {r['output']!r})"
    )

# %% [markdown]
# ## Save the adapter
#
# `save_pretrained` on a PEFT model writes only the adapter: the LoRA matrices
# and the config, not the base model.

# %%
ADAPTER = OUTPUT / "adapter"
peft_model.save_pretrained(ADAPTER)
for path in sorted(ADAPTER.iterdir()):
    print(f"{path.name:28} {path.stat().st_size:>9,} bytes")
base_bytes = sum(f.stat().st_size for f in BASE.glob("*.safetensors"))
print(f"{'(base model weights':28} {base_bytes:>9,} bytes)")

# %% [markdown]
# ## Load it back: `is_trainable=False` is the default
#
# `PeftModel.from_pretrained(base, dir)` loads the adapter for **inference**:
# the LoRA weights come back frozen. That is what you want for serving, and a
# trap if you meant to resume training: the optimizer would get no trainable
# parameters (PEFT then trains nothing). Pass `is_trainable=True` to continue
# training.


# %%
def fresh_base():
    return AutoModelForCausalLM.from_pretrained(BASE).eval()


loaded = PeftModel.from_pretrained(fresh_base(), ADAPTER)
resumable = PeftModel.from_pretrained(fresh_base(), ADAPTER, is_trainable=True)
for name, m in [
    ("default (is_trainable=False)", loaded),
    ("is_trainable=True", resumable),
]:
    n_train = sum(p.numel() for p in m.parameters() if p.requires_grad)
    print(f"{name:30} trainable parameters: {n_train:,}")

# %% [markdown]
# The loaded adapter gives exactly the outputs of the model you trained:

# %%
probe = tokenizer(
    [build_prompt(r) for r in heldout_data[:8]], return_tensors="pt", padding=True
)
with torch.no_grad():
    logits_trained = peft_model(**probe).logits
    logits_loaded = loaded(**probe).logits
print(
    "max |trained - loaded| =",
    f"{(logits_trained - logits_loaded).abs().max().item():.2e}",
)

# %% [markdown]
# ## Merge for deployment
#
# `merge_and_unload()` adds each scaled update (lora_alpha / r)·BA into its
# base weight and **returns** a plain `transformers` model with no LoRA layers
# left, so inference costs exactly what the base costs. Use its return value.
# Merging changes only how the sum is computed, so the outputs agree up to
# float rounding.

# %%
merged = PeftModel.from_pretrained(fresh_base(), ADAPTER).merge_and_unload()
print(
    type(merged).__name__,
    "| LoRA layers left:",
    sum("lora" in n for n, _ in merged.named_modules()),
)
with torch.no_grad():
    logits_merged = merged(**probe).logits
merge_diff = (logits_merged - logits_loaded).abs().max().item()
print(f"max |merged - unmerged| = {merge_diff:.2e}")
same_answers = all(answer(merged, r)[0] == answer(loaded, r)[0] for r in heldout_data)
print("same greedy answers on all held-out records:", same_answers)
assert merge_diff < 1e-4 and same_answers

# %% [markdown]
# ## The same adapter in `lora_ref`
#
# The adapter directory is PEFT's format, so the handbook's own reference
# implementation can read it too: `load_peft_adapter` puts `LoRALinear` layers
# (see the [API reference](../../api/)) into a plain base model. The outputs
# agree with PEFT's.

# %%
from lora_ref.peft_io import load_peft_adapter

ours = load_peft_adapter(fresh_base(), ADAPTER)
ours.eval()  # the new LoRA layers start in training mode, with dropout on
with torch.no_grad():
    logits_ours = ours(**probe).logits
ref_diff = (logits_ours - logits_loaded).abs().max().item()
print(f"max |lora_ref - PEFT| = {ref_diff:.2e}")
torch.testing.assert_close(logits_ours, logits_loaded)

# %% [markdown]
# ## Chat with it
#
# `snippets/chat.py` loads a base model and an adapter and answers prompts,
# using the same template. In batch mode it reads one prompt per line (a file
# or standard input); an instruction and its input are separated by a tab.
# In interactive mode it asks for prompts in a loop. Here it runs in batch
# mode on two held-out records and a question of our own:

# %%
import subprocess
import sys

lines = [f"{r['instruction']}\t{r['input']}" for r in heldout_data[:2]]
lines.append("Read this number aloud, one digit at a time.\t2025")
demo = subprocess.run(
    [
        sys.executable,
        "-m",
        "snippets.chat",
        "--base",
        str(BASE),
        "--adapter",
        str(ADAPTER),
        "--mode",
        "batch",
    ],
    input="\n".join(lines) + "\n",
    capture_output=True,
    text=True,
    check=True,
)
print(demo.stdout)

# %% [markdown]
# From a shell, the same demo and the interactive loop are:
#
# ```shell
# .venv/bin/python -m snippets.chat --base snippets/tutorial/assets/base \
#     --adapter snippets/tutorial/assets/adapter --mode batch < prompts.txt
# .venv/bin/python -m snippets.chat --base snippets/tutorial/assets/base \
#     --adapter snippets/tutorial/assets/adapter --mode interactive
# ```
#
# ## The 4-bit (QLoRA) path
#
# You can load the base model in 4-bit NF4 and train LoRA on top of it. Only
# the loading changes; the data, `LoraConfig`, `Trainer` and evaluation above
# stay the same. The code below is the GPU form (bfloat16 compute,
# `device_map="auto"`) and is shown, not executed, in this notebook.
# bitsandbytes also runs it on a CPU (float32 compute, `device_map="cpu"`):
# the chapter [QLoRA and NF4](../../qlora/#the-tutorial-in-4-bits-on-the-cpu)
# runs this tutorial that way, explains NF4 and compares the result with the
# 32-bit LoRA above.
#
# ```python
# import torch
# from peft import prepare_model_for_kbit_training
# from transformers import BitsAndBytesConfig
#
# bnb_config = BitsAndBytesConfig(
#     load_in_4bit=True,
#     bnb_4bit_quant_type="nf4",          # 4-bit NormalFloat
#     bnb_4bit_use_double_quant=True,     # quantize the quantization constants
#     bnb_4bit_compute_dtype=torch.bfloat16,
# )
# model = AutoModelForCausalLM.from_pretrained(
#     MODEL_ID, quantization_config=bnb_config, device_map="auto")
# # casts every non-quantized fp16/bf16 parameter (norms, embeddings,
# # lm_head) to fp32, enables input gradients and activation checkpointing
# model = prepare_model_for_kbit_training(model)
# peft_model = get_peft_model(model, lora_config)
# ```
#
# ## Run this yourself
#
# From the repository root, `make tutorial` rebuilds the data, the tokenizer
# and the base model and executes this notebook; `make test` executes it again
# and checks its results. To run it in Jupyter, download the notebook with
# the button at the top of this page and start Jupyter from the repository
# root. With a GPU, set `BASE = MODEL_ID` and keep everything else.
