"""Execute the tutorial notebook from its jupytext source, as `make test` does.

`docs/notebooks/finetune_causal_lm.py` (jupytext percent format) is the only
source. It is read with jupytext, executed with nbclient in a fresh kernel
(errors stop the run: `allow_errors=False`) from the repository root, and
returned as an executed notebook. `build_all.py` writes that notebook to
`docs/notebooks/finetune_causal_lm.ipynb`, which the site renders without
executing anything; `tests/test_tutorial.py` executes it again and compares.
"""

import os
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "docs" / "notebooks" / "finetune_causal_lm.py"
RENDERED = SOURCE.with_suffix(".ipynb")


def execute(output_dir: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run the notebook; its logs and adapter go to `output_dir`."""
    nb = jupytext.read(SOURCE)
    env = {
        "TUTORIAL_OUTPUT": str(output_dir),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=False,
            resources={"metadata": {"path": str(ROOT)}},  # cwd: repository root
        )
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def code_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The source of every code cell, in order."""
    return [c.source for c in nb.cells if c.cell_type == "code"]


def markdown_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """Every text/markdown output (the evaluation table is one)."""
    return [
        out["data"]["text/markdown"]
        for c in nb.cells
        if c.cell_type == "code"
        for out in c.get("outputs", [])
        if "text/markdown" in out.get("data", {})
    ]
