"""Claims of "LoRA from scratch" and "The math of LoRA" that rest on figure data.

The pages' code blocks check their own formulas; these tests check that the
committed CSVs behind the figures say what the prose says about them.
"""

import csv
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "assets" / "figures"


def read_rows(name: str) -> list[dict]:
    with (FIGURES / f"{name}.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_params_vs_rank_counts_are_r_times_d_plus_k_and_below_dk():
    rows = read_rows("params_vs_rank")
    assert len(rows) == 14
    for row in rows:
        r, d, k = int(row["r"]), int(row["d"]), int(row["k"])
        assert int(row["lora"]) == r * (d + k)
        assert int(row["full"]) == d * k
        assert int(row["lora"]) < int(row["full"])


def test_lora_diagram_shapes_are_W0_dk_A_rk_B_dr():
    rows = {row["block"]: row for row in read_rows("lora_diagram")}
    assert rows["W0"]["example_shape"] == "4096x4096"
    assert rows["A"]["example_shape"] == "8x4096"
    assert rows["B"]["example_shape"] == "4096x8"
    assert rows["W0"]["trainable"] == "False"
    assert rows["B"]["init"] == "zeros"


def rslora_series(column: str) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for row in read_rows("rslora_scaling"):
        series.setdefault(row["rule"], []).append(float(row[column]))
    return series


def test_both_scaling_rules_agree_at_rank_one():
    for column in ("final_loss", "delta_W_fro"):
        lora, rslora = rslora_series(column).values()
        assert lora[0] == rslora[0]


def test_rslora_loss_keeps_falling_with_rank_and_beats_alpha_over_r_at_high_rank():
    lora, rslora = rslora_series("final_loss").values()
    assert all(b < a for a, b in zip(rslora, rslora[1:], strict=False))
    assert rslora[-1] < lora[-1] / 4  # r = 64: far lower loss with alpha / sqrt(r)


def test_alpha_over_r_update_size_levels_off_while_rslora_keeps_growing():
    lora, rslora = rslora_series("delta_W_fro").values()
    ranks = [1, 2, 4, 8, 16, 32, 64]
    i8, i64 = ranks.index(8), ranks.index(64)
    assert max(lora[i8:]) < 1.1 * lora[i8]  # flat from r = 8 on
    assert all(b > a for a, b in zip(rslora, rslora[1:], strict=False))
    assert rslora[i64] > 2 * lora[i64]
