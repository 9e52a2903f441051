"""The tutorial notebook runs end to end and its committed rendering is current.

The notebook source (docs/notebooks/finetune_causal_lm.py, jupytext) is
executed fresh in a kernel, with errors failing the test. The site renders
the committed, executed .ipynb written by `make tutorial`; these tests check
that its code is the source's code and that its evaluation table (all but
the timing column) is what a fresh run computes. The run is seeded, uses one
CPU thread and greedy decoding, so the table is reproduced exactly.

The fast tests check the tutorial's scripts: one prompt template, a
tokenizer that covers it, data that the generator reproduces, and scripts
whose `--help` (or a typo) touches no file.
"""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from snippets.tutorial import files, make_data, run_notebook, template

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "snippets" / "tutorial" / "assets"
TIMING = "ms per generated token"
SCRIPTS = [
    "snippets.chat",
    "snippets.tutorial.build_all",
    "snippets.tutorial.data_quality",
    "snippets.tutorial.make_data",
    "snippets.tutorial.pretrain_base",
    "snippets.tutorial.run_notebook",
    "snippets.tutorial.step_time",
    "snippets.tutorial.train_tokenizer",
]


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )


def printed_number(text: str, label: str) -> float:
    """The number printed right after `label` (which must appear once)."""
    found = re.findall(re.escape(label) + r"\s*([-+0-9.,e]+)", text)
    assert len(found) == 1, f"{label!r} printed {len(found)} times"
    return float(found[0].replace(",", "").rstrip("."))


def table_without_timing(markdown: str) -> list[list[str]]:
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in markdown.strip().splitlines()
    ]
    drop = rows[0].index(TIMING)
    return [row[:drop] + row[drop + 1 :] for row in rows]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("tutorial")
    nb = run_notebook.execute(out, timeout=600)  # raises on any cell error
    return nb, out


# --- one template -------------------------------------------------------


def test_the_template_is_written_only_in_template_py():
    """No other Python source (scripts, notebook) spells the template out."""
    literal = "### Instruction:\\n"  # as it appears inside a string literal
    sources = [*ROOT.joinpath("snippets").rglob("*.py"), run_notebook.SOURCE]
    copies = [
        str(path.relative_to(ROOT))
        for path in sources
        if path.name != "template.py" and literal in path.read_text("utf-8")
    ]
    assert literal in (ROOT / "snippets/tutorial/template.py").read_text("utf-8")
    assert copies == []


def test_chat_builds_its_prompts_with_the_template():
    from snippets import chat

    line = "Read this number aloud.\t2025"
    assert chat.build_prompt(line) == template.TEMPLATE.format(
        instruction="Read this number aloud.", input="2025"
    )


def test_the_committed_tokenizer_covers_the_template():
    """Every word and symbol of the template is one token, none split in bytes.

    The committed tokenizer was trained when the input still followed
    `### Input:` on a new line; the template's text is covered all the same.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ASSETS / "base")
    pre, bpe = tok.backend_tokenizer.pre_tokenizer, tok.backend_tokenizer.model
    for text in (template.TEMPLATE, template.TEMPLATE_NO_INPUT):
        for fixed in re.split(r"\{\w+\}", text):  # the text around the fields
            for piece, _ in pre.pre_tokenize_str(fixed):
                whitespace = set(piece) <= {"Ġ", "Ċ"}  # byte-level space, newline
                assert whitespace or len(bpe.tokenize(piece)) == 1, piece


def test_build_prompt_rejects_an_empty_instruction():
    with pytest.raises(ValueError, match="needs an instruction"):
        template.build_prompt("  ", "2025")


# --- data and scripts ---------------------------------------------------


def test_make_data_reproduces_the_committed_records():
    train, heldout = make_data.make_dataset()
    for name, records in [("train", train), ("heldout", heldout)]:
        committed = (ASSETS / "data" / f"{name}.jsonl").read_text("utf-8")
        assert [json.loads(line) for line in committed.splitlines()] == records


def test_five_is_never_in_the_corpus_and_the_notebook_says_so():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ASSETS / "base")
    corpus_ids = tok(make_data.make_corpus())["input_ids"]
    counts = Counter(i for ids in corpus_ids for i in ids)
    text = stdout_of(nbformat.read(run_notebook.RENDERED, as_version=4))
    for word in ["five", " five", "Five"]:
        (token_id,) = tok(word)["input_ids"]
        shown = printed_number(text, f"{word!r:8} token {token_id:3}:")
        assert shown == counts[token_id]
    assert counts[tok("five")["input_ids"][0]] == 0
    assert counts[tok(" five")["input_ids"][0]] > 1000


@pytest.mark.parametrize("module", SCRIPTS)
@pytest.mark.parametrize("args", [["--help"], ["--no-such-option"]])
def test_script_help_and_typos_touch_no_file(module, args, tmp_path):
    before = snapshot(ASSETS), snapshot(ROOT / "docs")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=tmp_path,  # anything written relative to the cwd would land here
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == (0 if args == ["--help"] else 2), done.stderr
    assert "usage:" in (done.stdout + done.stderr)
    assert list(tmp_path.iterdir()) == []
    assert (snapshot(ASSETS), snapshot(ROOT / "docs")) == before


def test_replace_dir_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    dest = tmp_path / "base"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(ValueError, match="is not a folder"):
        files.replace_dir(tmp_path / "missing", dest)
    assert (dest / "old.txt").read_text() == "old"
    new = tmp_path / "new"
    new.mkdir()
    (new / "model.txt").write_text("new")
    files.replace_dir(new, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["model.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]


# --- the notebook -------------------------------------------------------


def test_committed_notebook_has_exactly_the_sources_code():
    committed = nbformat.read(run_notebook.RENDERED, as_version=4)
    source = run_notebook.jupytext.read(run_notebook.SOURCE)
    assert run_notebook.code_cells(committed) == run_notebook.code_cells(source)
    errors = [
        o
        for c in committed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    assert all(
        c.get("outputs") is not None for c in committed.cells if c.cell_type == "code"
    )


@pytest.mark.slow
def test_fine_tuned_model_beats_the_base_on_held_out_records(executed):
    _, out = executed
    results = json.loads((out / "eval_results.json").read_text())
    base = results["base"]
    unmerged = results["base + LoRA (unmerged)"]
    merged = results["base + LoRA (merged)"]
    assert unmerged["success rate"] > base["success rate"] + 0.3
    assert unmerged["mean similarity"] > base["mean similarity"]
    for name in ("success rate", "mean similarity", "mean output length (tokens)"):
        assert merged[name] == unmerged[name], name


@pytest.mark.slow
def test_merged_and_lora_ref_outputs_agree_with_peft(executed):
    nb, _ = executed
    text = stdout_of(nb)
    assert "same greedy answers on all held-out records: True" in text
    assert printed_number(text, "max |trained - loaded| =") == 0.0
    assert printed_number(text, "max |merged - unmerged| =") < 1e-4
    assert printed_number(text, "max |lora_ref - PEFT| =") < 1e-5


@pytest.mark.slow
def test_committed_evaluation_table_is_what_a_fresh_run_computes(executed):
    nb, _ = executed
    committed = nbformat.read(run_notebook.RENDERED, as_version=4)
    fresh_tables = run_notebook.markdown_outputs(nb)
    committed_tables = run_notebook.markdown_outputs(committed)
    assert len(fresh_tables) == len(committed_tables) == 1
    assert table_without_timing(committed_tables[0]) == table_without_timing(
        fresh_tables[0]
    )
    assert len(table_without_timing(fresh_tables[0])) == 2 + 3  # header + 3 models


@pytest.mark.slow
def test_adapter_files_are_saved_and_not_empty(executed):
    from safetensors import safe_open

    _, out = executed
    weights = out / "adapter" / "adapter_model.safetensors"
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    with safe_open(weights, framework="pt") as f:
        keys = list(f.keys())
    # 4 layers x 7 linear layers x (A, B)
    assert (config["r"], config["lora_alpha"], len(keys)) == (16, 32, 4 * 7 * 2)


def test_the_overview_page_quotes_the_notebooks_numbers():
    committed = nbformat.read(run_notebook.RENDERED, as_version=4)
    (table,) = run_notebook.markdown_outputs(committed)
    rows = {row[0]: row for row in table_without_timing(table)}
    page = (ROOT / "docs" / "finetune-causal-lm.md").read_text("utf-8")
    unmerged, base = rows["base + LoRA (unmerged)"][1], rows["base"][1]
    assert f"answers {unmerged} of the held-out records exactly" in page
    assert f"the\nbase model {base}" in page
    text = stdout_of(committed)
    count = int(printed_number(text, "' five'  token 328:"))
    assert f"` five` appears {count:,} times" in page
