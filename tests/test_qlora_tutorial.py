"""snippets/qlora/train_qlora.py: the tutorial's QLoRA fine-tune on the CPU, in
reduced form (2 steps, 2 held-out records), and the committed CSV that
docs/qlora.md shows."""

import csv
from pathlib import Path

import pytest

pytest.importorskip("bitsandbytes")
from snippets.qlora import train_qlora  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    "base (float32)",
    "base (float32) + LoRA",
    "base (NF4 + double quant)",
    "base (NF4 + double quant) + QLoRA",
    "QLoRA merged into the NF4 base",
    "QLoRA merged into the float32 base",
]


def read(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_help_does_no_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_qlora.main(["--help", "--out", str(tmp_path / "x.csv")])
    assert "usage" in capsys.readouterr().out
    assert not (tmp_path / "x.csv").exists()


def test_qlora_fine_tune_runs_on_cpu_in_reduced_form(tmp_path):
    out = tmp_path / "qlora.csv"
    train_qlora.main(["--max-steps", "2", "--heldout", "2", "--out", str(out)])
    rows = read(out)
    assert [r["model"] for r in rows] == MODELS
    by_name = {r["model"]: r for r in rows}
    assert by_name["base (NF4 + double quant) + QLoRA"]["steps"] == "2"
    # the 4-bit base is much smaller than the float32 one
    small = float(by_name["base (NF4 + double quant)"]["weights (MB)"])
    assert small < 0.3 * float(by_name["base (float32)"]["weights (MB)"])


def test_committed_results_are_complete():
    rows = read(ROOT / "docs" / "assets" / "data" / "qlora_tutorial.csv")
    assert [r["model"] for r in rows] == MODELS
    by_name = {r["model"]: r for r in rows}
    for name in ("base (float32) + LoRA", "base (NF4 + double quant) + QLoRA"):
        assert by_name[name]["steps"] == "300"  # the tutorial's 12 epochs
    tuned = float(by_name["base (NF4 + double quant) + QLoRA"]["success rate"])
    assert tuned > float(by_name["base (NF4 + double quant)"]["success rate"])
