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
    "QLoRA merged into the dequantized base",
    "QLoRA merged into the float32 base",
]
DATA = ROOT / "docs" / "assets" / "data"


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
    assert_items_match_rates(rows, read(train_qlora.items_path(out)), n=2)
    # the 4-bit base is much smaller than the float32 one
    small = float(by_name["base (NF4 + double quant)"]["weights (MB)"])
    assert small < 0.3 * float(by_name["base (float32)"]["weights (MB)"])


def assert_items_match_rates(rows: list[dict], items: list[dict], n: int) -> None:
    """The per-record outcomes: n records, one 0/1 column per model, whose
    means are the success rates of the summary CSV."""
    assert [int(r["record"]) for r in items] == list(range(n))
    for row in rows:
        hits = [int(r[row["model"]]) for r in items]
        assert set(hits) <= {0, 1}
        assert sum(hits) / n == pytest.approx(float(row["success rate"]), abs=1e-6)


@pytest.mark.parametrize(
    ("name", "seed"),
    [("qlora_tutorial", 0), ("qlora_tutorial_seed1", 1), ("qlora_tutorial_seed2", 2)],
)
def test_committed_results_are_complete(name, seed):
    rows = read(DATA / f"{name}.csv")
    assert [r["model"] for r in rows] == MODELS
    assert {r["seed"] for r in rows} == {str(seed)}
    assert_items_match_rates(rows, read(DATA / f"{name}_items.csv"), n=80)
    by_name = {r["model"]: r for r in rows}
    for model in ("base (float32) + LoRA", "base (NF4 + double quant) + QLoRA"):
        assert by_name[model]["steps"] == "300"  # the tutorial's 12 epochs
    tuned = float(by_name["base (NF4 + double quant) + QLoRA"]["success rate"])
    assert tuned > float(by_name["base (NF4 + double quant)"]["success rate"])


@pytest.mark.parametrize("name", ["qlora_tutorial", "qlora_tutorial_seed1",
                                  "qlora_tutorial_seed2"])  # fmt: skip
def test_merging_into_the_dequantized_base_keeps_every_answer(name):
    """docs/qlora.md: merged into a float32 copy of the dequantized 4-bit base,
    the adapter answers every record as the unmerged QLoRA model does."""
    items = read(DATA / f"{name}_items.csv")
    unmerged = [r["base (NF4 + double quant) + QLoRA"] for r in items]
    assert [r["QLoRA merged into the dequantized base"] for r in items] == unmerged
