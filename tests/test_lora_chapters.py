"""Claims of "LoRA from scratch" and "The math of LoRA" that rest on figure data.

The pages' code blocks check their own formulas; these tests check that the
committed CSVs behind the figures say what the prose says about them.
"""

import csv
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from lora_ref import LoRALinear
from snippets.figures.fig_lora_diagram import describe_init

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

    assert [row["parameters"] for row in rows.values()] == [
        "16777216",
        "32768",
        "32768",
    ]


def test_lora_diagram_trainable_and_init_columns_hold_for_a_real_layer():
    """Each row's claims, checked on a freshly built LoRALinear of the same size."""
    rows = {row["block"]: row for row in read_rows("lora_diagram")}
    base = nn.Linear(4096, 4096, bias=False)
    pretrained = base.weight.detach().clone()
    layer = LoRALinear(base, r=8)
    k = layer.W0.shape[1]
    checks = {
        "pretrained": lambda t: t is base.weight and torch.equal(t, pretrained),
        "zeros": lambda t: not t.detach().any(),
        "Kaiming-uniform, bound 1/sqrt(k)": lambda t: (
            0.99 / math.sqrt(k) < float(t.detach().abs().max()) <= 1 / math.sqrt(k)
        ),
    }
    tensors = {"W0": layer.W0, "A": layer.A, "B": layer.B}
    assert list(rows) == list(tensors)
    for block, tensor in tensors.items():
        assert rows[block]["trainable"] == str(tensor.requires_grad), block
        assert checks[rows[block]["init"]](tensor), block
    assert [rows[b]["trainable"] for b in tensors] == ["False", "True", "True"]


def test_lora_diagram_init_names_only_what_the_values_show():
    base = torch.zeros(4, 4)
    k = 4096
    uniform = torch.rand(8, k, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert (
        describe_init(uniform / math.sqrt(k), base)
        == "Kaiming-uniform, bound 1/sqrt(k)"
    )
    assert describe_init(torch.zeros(8, k), base) == "zeros"
    assert describe_init(base, base) == "pretrained"
    for wrong in (2 * uniform / math.sqrt(k), torch.randn(8, k) / math.sqrt(k)):
        with pytest.raises(ValueError, match="no known init fits"):
            describe_init(wrong, base)


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
