"""Every figure script reproduces its committed SVG and CSV byte for byte.

Each `snippets/figures/fig_<name>.py` runs as `python -m snippets.figures.fig_<name>
--out DIR` in a subprocess (which also keeps matplotlib state out of the test
process) writing into a temporary directory;
every file it writes must equal the committed file of the same name under
docs/assets/figures/. A stale figure (script changed, SVG not regenerated)
fails here: run `make figures`.
"""

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "assets" / "figures"
SCRIPTS = sorted((ROOT / "snippets" / "figures").glob("fig_*.py"))


def test_there_are_figure_scripts():
    assert SCRIPTS, "no snippets/figures/fig_*.py found"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_figure_script_reproduces_its_committed_files(script, tmp_path):
    env = os.environ | {"MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}
    module = f"snippets.figures.{script.stem}"
    command = [sys.executable, "-m", module, "--out", str(tmp_path)]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    written = sorted(tmp_path.iterdir())
    svgs = [p for p in written if p.suffix == ".svg"]
    assert svgs, f"{script.name} wrote no SVG"
    for svg in svgs:  # every figure ships the data it plots
        assert svg.with_suffix(".csv").exists(), f"{svg.name} has no CSV beside it"
    for new in written:
        committed = FIGURES / new.name
        assert committed.exists(), f"{new.name} is not committed under {FIGURES}"
        assert new.read_bytes() == committed.read_bytes(), (
            f"{committed.name} is stale: run `python -m {module}`"
        )


def module_level_work(tree: ast.Module) -> list[str]:
    """Module-level statements other than imports, constants, defs and the guard."""
    work = []
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr):  # the docstring
            continue
        if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign) and not any(
            isinstance(n, ast.Call) for n in ast.walk(node)
        ):
            continue
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            continue
        work.append(f"line {node.lineno}: {ast.unparse(node)[:60]}")
    return work


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_figure_script_has_the_house_shape(script):
    """Docstring, style imported first, no work at import, main parses first."""
    tree = ast.parse(script.read_text())
    assert ast.get_docstring(tree), f"{script.name} has no module docstring"
    first_import = next(
        n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
    )
    assert ast.unparse(first_import) == "from snippets.figures import style"
    assert module_level_work(tree) == []
    main = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"
    )
    assert [a.arg for a in main.args.args] == ["argv"]
    assert ast.unparse(main.body[0]) == "args = style.parse_args(__doc__, argv)"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_figure_script_help_and_typos_write_nothing(script, monkeypatch):
    module = importlib.import_module(f"snippets.figures.{script.stem}")
    style = importlib.import_module("snippets.figures.style")

    def refuse(*args, **kwargs):
        raise AssertionError("a figure was saved")

    monkeypatch.setattr(style, "save_svg", refuse)
    monkeypatch.setattr(style, "save_csv", refuse)
    for argv, code in ((["--help"], 0), (["--outt", "x"], 2)):
        with pytest.raises(SystemExit) as exit_:
            module.main(argv)
        assert exit_.value.code == code


def test_every_committed_figure_has_a_script():
    made_by = {p.stem.removeprefix("fig_") for p in SCRIPTS}
    for svg in FIGURES.glob("*.svg"):
        assert any(svg.stem.startswith(name) for name in made_by), (
            f"{svg.name} has no snippets/figures/fig_*.py that draws it"
        )
