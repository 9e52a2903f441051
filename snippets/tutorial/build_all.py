"""Build everything the tutorial needs, then execute the notebook (`make tutorial`).

1. `make_data.py`: the Alpaca-style dataset (assets/data/) and a pretraining
   corpus (temporary);
2. `train_tokenizer.py`: a byte-level BPE tokenizer trained on that corpus;
3. `pretrain_base.py`: a small Llama-shaped model pretrained on CPU, saved with
   its tokenizer to assets/base/ (a few minutes on 2 cores);
4. `run_notebook.py`: executes docs/notebooks/finetune_causal_lm.py and writes
   the executed docs/notebooks/finetune_causal_lm.ipynb, which the site
   renders; the adapter it trains is copied to assets/adapter/ for chat.py.

Usage: python snippets/tutorial/build_all.py [--notebook-only]
(--notebook-only skips steps 1-3 and re-executes the notebook only).
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_data  # noqa: E402
import run_notebook  # noqa: E402

ASSETS = HERE / "assets"


def build_base(work: Path) -> None:
    from pretrain_base import pretrain
    from train_tokenizer import train_tokenizer

    train, heldout = make_data.make_dataset()
    make_data.write_jsonl(train, ASSETS / "data" / "train.jsonl")
    make_data.write_jsonl(heldout, ASSETS / "data" / "heldout.jsonl")
    corpus = make_data.make_corpus()
    # the tokenizer also sees the training prompts, so the template has tokens
    prompts = [
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n"
        "### Response:\n{output}".format(**r)
        for r in train
    ]
    train_tokenizer(corpus + prompts, work / "tokenizer")
    shutil.rmtree(ASSETS / "base", ignore_errors=True)
    pretrain(corpus, work / "tokenizer", ASSETS / "base")


def main(notebook_only: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not notebook_only:
            build_base(work)
        start = time.perf_counter()
        nb = run_notebook.execute(work / "output")
        print(f"notebook executed in {time.perf_counter() - start:.0f} s")
        nbformat.write(nb, run_notebook.RENDERED)
        shutil.rmtree(ASSETS / "adapter", ignore_errors=True)
        shutil.copytree(work / "output" / "adapter", ASSETS / "adapter")
        (ASSETS / "adapter" / "README.md").unlink(missing_ok=True)  # PEFT's stub card
    print("wrote", run_notebook.RENDERED.relative_to(run_notebook.ROOT))


if __name__ == "__main__":
    main("--notebook-only" in sys.argv[1:])
