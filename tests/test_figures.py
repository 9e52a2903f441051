"""Every figure script reproduces its committed SVG and CSV byte for byte.

Each `snippets/figures/fig_<name>.py` runs in a subprocess (which also keeps
matplotlib state out of the test process) writing into a temporary directory;
every file it writes must equal the committed file of the same name under
docs/assets/figures/. A stale figure (script changed, SVG not regenerated)
fails here: run `make figures`.
"""

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
    if "style.parse_args" in script.read_text():  # python -m ... --out DIR
        command = [sys.executable, "-m", f"snippets.figures.{script.stem}"]
        command += ["--out", str(tmp_path)]
    else:  # legacy scripts, converted by the engineering issue
        command = [sys.executable, str(script), str(tmp_path)]
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
            f"{committed.name} is stale: run `python {script.relative_to(ROOT)}`"
        )


def test_every_committed_figure_has_a_script():
    made_by = {p.stem.removeprefix("fig_") for p in SCRIPTS}
    for svg in FIGURES.glob("*.svg"):
        assert any(svg.stem.startswith(name) for name in made_by), (
            f"{svg.name} has no snippets/figures/fig_*.py that draws it"
        )
