"""Execute the tutorial notebook from its jupytext source, as `make test` does.

`docs/notebooks/finetune_causal_lm.py` (jupytext percent format) is the only
source. It is read with jupytext, executed with nbclient in a fresh kernel
(errors stop the run: `allow_errors=False`) from the repository root, and
returned as an executed notebook. `build_all.py` writes that notebook to
`docs/notebooks/finetune_causal_lm.ipynb`, which the site renders without
executing anything; `tests/test_tutorial.py` executes it again and compares.

Usage: python -m snippets.tutorial.run_notebook [--write]
(executes into a temporary folder; --write replaces the committed .ipynb).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "docs" / "notebooks" / "finetune_causal_lm.py"
RENDERED = SOURCE.with_suffix(".ipynb")
ASSETS = Path(__file__).resolve().parent / "assets"


def execute(
    output_dir: Path, timeout: int = 600, assets: Path = ASSETS
) -> nbformat.NotebookNode:
    """Run the notebook on `assets`; its logs and adapter go to `output_dir`."""
    nb = jupytext.read(SOURCE)
    env = {
        "TUTORIAL_ASSETS": str(assets),
        "TUTORIAL_OUTPUT": str(output_dir),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        # the kernel imports `snippets` from the repository root
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
        ),
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


def write_rendered(nb: nbformat.NotebookNode, path: Path = RENDERED) -> None:
    """Write the executed notebook next to its source, replacing it in one step."""
    tmp = path.with_name(path.name + ".tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"replace {RENDERED.relative_to(ROOT)} with the executed notebook",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        nb = execute(Path(tmp))
        print(f"notebook executed in {time.perf_counter() - start:.0f} s")
    if args.write:
        write_rendered(nb)
        print("wrote", RENDERED.relative_to(ROOT))


if __name__ == "__main__":
    main()
