"""snippets/chat.py: batch and interactive modes answer with the tutorial's adapter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from snippets import chat
from snippets.tutorial import run_notebook, template

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "snippets" / "tutorial" / "assets"
BASE, ADAPTER = ASSETS / "base", ASSETS / "adapter"


def heldout(n: int) -> list[dict]:
    lines = (ASSETS / "data" / "heldout.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines[:n]]


def demo_prompts_and_answers() -> tuple[list[str], list[str]]:
    """The prompt lines of the notebook's chat demo and the answers it printed."""
    lines = [f"{r['instruction']}\t{r['input']}" for r in heldout(2)]
    lines.append("Read this number aloud, one digit at a time.\t2025")
    nb = nbformat.read(run_notebook.RENDERED, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (cell,) = [c for c in code if "snippets.chat" in c.source and c.outputs]
    printed = "".join(
        o.get("text", "") for o in cell.outputs if o.get("name") == "stdout"
    )
    return lines, printed.strip().splitlines()


def run_chat(mode: str, stdin: str, *extra: str) -> str:
    cmd = [sys.executable, "-m", "snippets.chat", "--base", str(BASE)]
    done = subprocess.run(
        [*cmd, "--adapter", str(ADAPTER), "--mode", mode, *extra],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_prompt_line_splits_instruction_and_input_at_the_tab():
    prompt = chat.build_prompt("Read this number aloud.\t2025")
    assert prompt == template.TEMPLATE.format(
        instruction="Read this number aloud.", input="2025"
    )
    assert chat.build_prompt("Say hi.") == template.TEMPLATE_NO_INPUT.format(
        instruction="Say hi."
    )
    with pytest.raises(ValueError, match="empty prompt"):
        chat.build_prompt("\t2025")


def test_batch_and_interactive_modes_answer_as_in_the_notebook():
    lines, notebook_answers = demo_prompts_and_answers()
    stdin = "".join(line + "\n" for line in lines)
    answers = run_chat("batch", stdin).splitlines()
    assert answers == notebook_answers and len(answers) == 3
    assert answers[2] == "two zero two five"
    # interactive: the same prompts through piped stdin, then an empty line
    out = run_chat("interactive", stdin + "\n")
    assert out.count("> ") == 4  # three prompts answered, then the empty line
    assert out.rstrip().endswith("bye")
    assert [line.removeprefix("> ") for line in out.splitlines()[2:5]] == answers


def test_batch_mode_reads_a_prompts_file(tmp_path):
    record = heldout(1)[0]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{record['instruction']}\t{record['input']}\n\n", "utf-8")
    answers = run_chat("batch", "", "--prompts", str(prompts)).splitlines()
    assert answers == [demo_prompts_and_answers()[1][0]]  # empty line skipped


def test_a_directory_without_adapter_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a PEFT adapter"):
        chat.load(str(BASE), str(tmp_path))
