"""Build everything the tutorial needs, then execute the notebook (`make tutorial`).

1. `make_data`: the Alpaca-style dataset (assets/data/) and a pretraining
   corpus (temporary);
2. `train_tokenizer`: a byte-level BPE tokenizer trained on that corpus and
   on the training records written with the template (`template.py`);
3. `pretrain_base`: a small Llama-shaped model pretrained on CPU, saved with
   its tokenizer (a few minutes on 2 cores);
4. `run_notebook`: executes docs/notebooks/finetune_causal_lm.py on the new
   assets and writes the executed docs/notebooks/finetune_causal_lm.ipynb,
   which the site renders; the adapter it trains goes to assets/adapter/ for
   chat.py.

Everything is built in a temporary folder; the committed assets (data, base,
adapter) and the .ipynb are replaced only after the notebook ran without error.

Usage: python -m snippets.tutorial.build_all [--notebook-only]
(--notebook-only skips steps 1-3 and re-executes the notebook only).
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from snippets.tutorial import make_data, run_notebook
from snippets.tutorial.files import replace_dir
from snippets.tutorial.template import training_text

ASSETS = run_notebook.ASSETS


def build_assets(work: Path) -> Path:
    """Data, tokenizer and base model in `work/assets`; returns that folder."""
    from snippets.tutorial.pretrain_base import pretrain
    from snippets.tutorial.train_tokenizer import train_tokenizer

    assets = work / "assets"
    train, heldout = make_data.make_dataset()
    make_data.write_jsonl(train, assets / "data" / "train.jsonl")
    make_data.write_jsonl(heldout, assets / "data" / "heldout.jsonl")
    corpus = make_data.make_corpus()
    # the tokenizer also sees the training examples, so the template has tokens
    train_tokenizer(corpus + [training_text(r) for r in train], work / "tokenizer")
    pretrain(corpus, work / "tokenizer", assets / "base")
    return assets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebook-only",
        action="store_true",
        help="keep the committed data and base model; re-execute the notebook",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        assets = ASSETS if args.notebook_only else build_assets(work)
        start = time.perf_counter()
        nb = run_notebook.execute(work / "output", assets=assets)
        print(f"notebook executed in {time.perf_counter() - start:.0f} s")
        # success: now replace the committed files
        if not args.notebook_only:
            replace_dir(assets / "data", ASSETS / "data")
            replace_dir(assets / "base", ASSETS / "base")
        adapter = work / "output" / "adapter"
        (adapter / "README.md").unlink(missing_ok=True)  # PEFT's stub model card
        portable_base_path(adapter / "adapter_config.json")
        shutil.copytree(adapter, work / "adapter")
        replace_dir(work / "adapter", ASSETS / "adapter")
        run_notebook.write_rendered(nb)
    print("wrote", run_notebook.RENDERED.relative_to(run_notebook.ROOT))


def portable_base_path(config_file: Path) -> None:
    """Record the base model as a path inside the repository, not this machine's.

    PEFT writes the absolute path it loaded the base from; the committed
    adapter names it relative to the repository root instead.
    """
    config = json.loads(config_file.read_text("utf-8"))
    base = Path(config["base_model_name_or_path"])
    if base.is_absolute():
        config["base_model_name_or_path"] = base.relative_to(
            run_notebook.ROOT
        ).as_posix()
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True), "utf-8")


if __name__ == "__main__":
    main()
