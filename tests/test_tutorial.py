"""The tutorial notebook runs end to end and its committed rendering is current.

The notebook source (docs/notebooks/finetune_causal_lm.py, jupytext) is
executed fresh in a kernel, with errors failing the test. The site renders
the committed, executed .ipynb written by `make tutorial`; these tests check
that its code is the source's code and that its evaluation table (all but
the timing column) is what a fresh run computes. The run is seeded, uses one
CPU thread and greedy decoding, so the table is reproduced exactly.
"""

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "snippets" / "tutorial"))
import run_notebook  # noqa: E402

TIMING = "mean generation time (ms)"


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )


def table_without_timing(markdown: str) -> list[list[str]]:
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in markdown.strip().splitlines()
    ]
    drop = rows[0].index(TIMING)
    return [row[:drop] + row[drop + 1 :] for row in rows]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("tutorial")
    nb = run_notebook.execute(out, timeout=600)  # raises on any cell error
    return nb, out


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
    base, tuned = results["base"], results["base + LoRA"]
    assert tuned["success rate"] > base["success rate"]
    assert tuned["mean similarity"] > base["mean similarity"]


@pytest.mark.slow
def test_merged_and_lora_ref_outputs_agree_with_peft(executed):
    nb, _ = executed
    text = stdout_of(nb)
    assert "same greedy answers on all held-out records: True" in text
    assert "max |lora_ref - PEFT| =" in text  # the cell also runs assert_close


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


@pytest.mark.slow
def test_adapter_files_are_saved_and_not_empty(executed):
    _, out = executed
    weights = out / "adapter" / "adapter_model.safetensors"
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert weights.stat().st_size > 100_000  # r=16 on 28 layers, fp32
