"""snippets/chat.py: batch and interactive modes answer with the tutorial's adapter."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "snippets" / "chat.py"
ASSETS = ROOT / "snippets" / "tutorial" / "assets"
BASE, ADAPTER = ASSETS / "base", ASSETS / "adapter"
NOTEBOOK = ROOT / "docs" / "notebooks" / "finetune_causal_lm.py"

sys.path.insert(0, str(CHAT.parent))
import chat  # noqa: E402


def heldout(n: int) -> list[dict]:
    lines = (ASSETS / "data" / "heldout.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines[:n]]


def run_chat(mode: str, stdin: str, *extra: str) -> str:
    cmd = [sys.executable, str(CHAT), "--base", str(BASE), "--adapter", str(ADAPTER)]
    done = subprocess.run(
        [*cmd, "--mode", mode, *extra],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_chat_template_is_the_notebooks_template():
    source = NOTEBOOK.read_text("utf-8")
    for name in ("TEMPLATE", "TEMPLATE_NO_INPUT"):
        line = re.search(rf"^{name} = (.+)$", source, re.M)
        assert line is not None, f"{name} not found in the notebook"
        assert eval(line[1]) == getattr(chat, name)  # a string literal


def test_prompt_line_splits_instruction_and_input_at_the_tab():
    prompt = chat.build_prompt("Read this number aloud.\t2025")
    assert prompt == chat.TEMPLATE.format(
        instruction="Read this number aloud.", input="2025"
    )
    assert chat.build_prompt("Say hi.") == chat.TEMPLATE_NO_INPUT.format(
        instruction="Say hi."
    )
    with pytest.raises(ValueError, match="empty prompt"):
        chat.build_prompt("\t2025")


def test_batch_and_interactive_modes_give_the_same_answers():
    records = heldout(2)
    stdin = "".join(f"{r['instruction']}\t{r['input']}\n" for r in records)
    answers = run_chat("batch", stdin).splitlines()
    assert len(answers) == len(records) and all(a.strip() for a in answers)
    # interactive: the same prompts through piped stdin, then an empty line
    out = run_chat("interactive", stdin + "\n")
    assert out.count("> ") == 3  # two prompts answered, then the empty line
    assert out.rstrip().endswith("bye")
    assert [line.removeprefix("> ") for line in out.splitlines()[2:4]] == answers


def test_batch_mode_reads_a_prompts_file(tmp_path):
    record = heldout(1)[0]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{record['instruction']}\t{record['input']}\n\n", "utf-8")
    answers = run_chat("batch", "", "--prompts", str(prompts)).splitlines()
    assert len(answers) == 1 and answers[0].strip()  # the empty line is skipped


def test_a_directory_without_adapter_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a PEFT adapter"):
        chat.load(str(BASE), str(tmp_path))
