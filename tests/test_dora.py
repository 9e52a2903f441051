"""DoRA (lora_ref.dora): the chapter's claims, and equality with PEFT's use_dora=True.

PEFT is built with `init_lora_weights=False` (B != 0) and its magnitude is then
moved away from ||W0 + ΔW||, so m / n != 1 and every term of the forward is
exercised; A, B and m are copied into ours with plain assignments.
"""

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from lora_ref import DoRALinear, LoRALinear, TinyMLP, apply_dora

TARGETS = ["lin0", "lin1"]
DTYPES = [
    pytest.param(torch.float64, id="float64"),
    pytest.param(torch.float32, id="float32"),
]


def make_pair(dtype, r=4, alpha=8, dropout=0.0, use_rslora=False, bias=True):
    """PEFT's DoRA model (B != 0, m != n) and ours with copied A, B and m."""
    torch.manual_seed(0)
    base = TinyMLP(k=16, hidden=32, d=4).to(dtype)
    if not bias:
        base.lin0.bias = None
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        use_rslora=use_rslora,
        target_modules=TARGETS,
        init_lora_weights=False,
        use_dora=True,
    )
    theirs = get_peft_model(copy.deepcopy(base), config)
    ours = apply_dora(
        copy.deepcopy(base), TARGETS, r=r, alpha=alpha, dropout=dropout,
        use_rslora=use_rslora,
    )  # fmt: skip
    with torch.no_grad():
        for name in TARGETS:
            peft_layer = theirs.base_model.model.get_submodule(name)
            m = peft_layer.lora_magnitude_vector["default"].weight
            m.mul_(1 + 0.5 * torch.rand_like(m))  # so that m / n != 1
            layer = ours.get_submodule(name)
            layer.A.copy_(peft_layer.lora_A["default"].weight)
            layer.B.copy_(peft_layer.lora_B["default"].weight)
            layer.m.copy_(m)
            assert layer.scaling == peft_layer.scaling["default"]
    x = torch.randn(8, 16, dtype=dtype)
    return ours, theirs, x


def tolerances(dtype):
    return {"rtol": 0, "atol": 1e-10} if dtype == torch.float64 else {}


def grads(ours, theirs):
    """(ours, theirs) gradient pairs for every trainable tensor: A, B and m."""
    pairs = []
    for name in TARGETS:
        layer = ours.get_submodule(name)
        peft_layer = theirs.base_model.model.get_submodule(name)
        pairs += [
            (layer.A.grad, peft_layer.lora_A["default"].weight.grad),
            (layer.B.grad, peft_layer.lora_B["default"].weight.grad),
            (layer.m.grad, peft_layer.lora_magnitude_vector["default"].weight.grad),
        ]
    return pairs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_rslora", [False, True], ids=["alpha-over-r", "rslora"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_dora_matches_peft_forward_and_gradients(dtype, use_rslora, bias):
    ours, theirs, x = make_pair(dtype, use_rslora=use_rslora, bias=bias)
    y_ours, y_theirs = ours(x), theirs(x)
    torch.testing.assert_close(y_ours, y_theirs, **tolerances(dtype))
    assert not torch.allclose(y_ours, ours.lin1.base(ours.lin0.base(x).relu()))
    y_ours.pow(2).sum().backward()
    y_theirs.pow(2).sum().backward()
    trainable = [n for n, p in ours.named_parameters() if p.requires_grad]
    assert trainable == ["lin0.A", "lin0.B", "lin0.m", "lin1.A", "lin1.B", "lin1.m"]
    for g_ours, g_theirs in grads(ours, theirs):
        assert g_ours.abs().max() > 0
        torch.testing.assert_close(g_ours, g_theirs, **tolerances(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dora_matches_peft_dropout_form(dtype):
    """In training with p > 0 both compute W0 x + b0 + (m/n - 1) W0 x~ + ..."""
    ours, theirs, x = make_pair(dtype, dropout=0.3)
    ours.train(), theirs.train()
    torch.manual_seed(5)
    y_ours = ours(x)
    torch.manual_seed(5)
    y_theirs = theirs(x)
    torch.testing.assert_close(y_ours, y_theirs, **tolerances(dtype))
    y_ours.sum().backward()
    y_theirs.sum().backward()
    for g_ours, g_theirs in grads(ours, theirs):
        torch.testing.assert_close(g_ours, g_theirs, **tolerances(dtype))


def test_dora_dropout_form_is_not_w_prime_of_dropped_input():
    torch.manual_seed(0)
    layer = DoRALinear(nn.Linear(16, 8), r=4, alpha=8, dropout=0.5)
    with torch.no_grad():
        layer.B.normal_()
        layer.m.mul_(2.0)
    x = torch.randn(4, 16)
    torch.manual_seed(1)
    h = layer(x)
    torch.manual_seed(1)
    x_dropped = layer.dropout(x)
    factor = layer.m / layer.weight_norm()
    W_prime = factor[:, None] * (layer.W0 + layer.delta_weight())
    assert not torch.allclose(h, x_dropped @ W_prime.T + layer.base.bias)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dora_matches_peft_merge_and_unmerge(dtype):
    ours, theirs, x = make_pair(dtype)
    W0 = {n: ours.get_submodule(n).W0.clone() for n in TARGETS}
    before = ours(x)
    for name in TARGETS:
        ours.get_submodule(name).merge()
        ours.get_submodule(name).merge()  # merging twice does nothing
    theirs.merge_adapter()
    for name in TARGETS:
        torch.testing.assert_close(
            ours.get_submodule(name).base.weight,
            theirs.base_model.model.get_submodule(name).base_layer.weight,
            **tolerances(dtype),
        )
    torch.testing.assert_close(ours(x), before, **tolerances(dtype))
    for name in TARGETS:
        ours.get_submodule(name).unmerge()
    theirs.unmerge_adapter()
    for name in TARGETS:
        torch.testing.assert_close(ours.get_submodule(name).W0, W0[name])
        torch.testing.assert_close(
            theirs.base_model.model.get_submodule(name).base_layer.weight, W0[name]
        )


def test_dora_m_starts_as_row_norms_of_W0_and_output_is_unchanged():
    torch.manual_seed(0)
    base = nn.Linear(16, 8)
    layer = DoRALinear(base, r=4, alpha=8)
    assert layer.m.shape == (8,)
    torch.testing.assert_close(layer.m, base.weight.norm(dim=1))
    x = torch.randn(3, 16)
    torch.testing.assert_close(layer(x), base(x))


def test_dora_is_magnitude_times_unit_direction():
    torch.manual_seed(0)
    layer = DoRALinear(nn.Linear(16, 8), r=4, alpha=8)
    with torch.no_grad():
        layer.B.normal_()
        layer.m.uniform_(0.5, 2.0)
    V = layer.W0 + layer.delta_weight()
    W_prime = layer.m[:, None] * V / V.norm(dim=1, keepdim=True)
    torch.testing.assert_close(W_prime.norm(dim=1), layer.m)
    x = torch.randn(3, 16)
    torch.testing.assert_close(layer(x), x @ W_prime.T + layer.base.bias)


def test_detaching_the_norm_changes_only_A_and_B_gradients():
    torch.manual_seed(0)
    exact = DoRALinear(nn.Linear(16, 8), r=4, alpha=8, detach_norm=False)
    with torch.no_grad():
        exact.B.normal_()
        exact.m.mul_(1.5)
    detached = copy.deepcopy(exact)
    detached.detach_norm = True
    x = torch.randn(5, 16)
    torch.testing.assert_close(exact(x), detached(x))  # same forward
    exact(x).pow(2).sum().backward()
    detached(x).pow(2).sum().backward()
    torch.testing.assert_close(exact.m.grad, detached.m.grad)
    assert not torch.allclose(exact.B.grad, detached.B.grad)
    assert not torch.allclose(exact.A.grad, detached.A.grad)


def test_dora_trains_d_more_parameters_than_lora_on_llama_7b_q_v():
    """LLaMA-7B q_proj and v_proj are 4096 x 4096; 32 layers, r = 8."""
    counts = {}
    for cls in (LoRALinear, DoRALinear):
        layer = cls(nn.Linear(4096, 4096, bias=False, device="meta"), r=8, alpha=16)
        trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        counts[cls.__name__] = 32 * 2 * trainable
    assert counts == {"LoRALinear": 4_194_304, "DoRALinear": 4_456_448}


def test_dora_rejects_a_non_linear_base():
    with pytest.raises(ValueError, match="DoRALinear wraps an nn.Linear"):
        DoRALinear(nn.Conv1d(4, 4, 1))
    with pytest.raises(ValueError, match="r must be a positive integer"):
        DoRALinear(nn.Linear(4, 4), r=0)


def test_bench_dora_parses_arguments_before_any_work(capsys):
    from snippets import bench_dora

    with pytest.raises(SystemExit) as exit_info:
        bench_dora.main(["--help"])
    assert exit_info.value.code == 0
    with pytest.raises(SystemExit) as exit_info:
        bench_dora.main(["--size", "0"])
    assert exit_info.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_bench_dora_compares_like_with_like_and_never_saves_when_noisy(
    capsys, monkeypatch, tmp_path
):
    from snippets import bench_dora

    out = tmp_path / "bench_dora.txt"
    monkeypatch.setattr(bench_dora, "OUT", out)
    # a tiny layer: the A/A control may pass or fail; either way the report
    # names every comparison, and a failed control saves nothing
    status = bench_dora.main(
        ["--rounds", "3", "--size", "32", "--tokens", "8", "--save"]
    )
    text = capsys.readouterr().out
    for name in (
        "time lora_step ",
        "time lora_step_again ",
        "time dora_step ",
        "time lora_step_dropout ",
        "time dora_step_dropout ",
        "dora_step / lora_step = ",
        "dora_step_dropout / lora_step_dropout = ",
        "control lora_step / lora_step (A/A) = ",
    ):
        assert name in text
    assert status in (0, 1)
    assert out.exists() == (status == 0)


def test_dora_matches_peft_on_a_tiny_llama_with_gqa():
    """q_proj (64 -> 64) and v_proj (64 -> 32) of a 2-layer Llama, float64."""
    from lora_ref import tiny_llama

    base = tiny_llama(seed=0, dtype=torch.float64)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
        use_dora=True,
    )
    torch.manual_seed(1)
    theirs = get_peft_model(copy.deepcopy(base), config)
    ours = copy.deepcopy(base)
    names = [n for n, _ in ours.named_modules() if n.endswith(("q_proj", "v_proj"))]
    assert len(names) == 4
    with torch.no_grad():
        for name in names:
            peft_layer = theirs.base_model.model.get_submodule(name)
            m = peft_layer.lora_magnitude_vector["default"].weight
            m.mul_(1 + 0.5 * torch.rand_like(m))
            layer = DoRALinear(ours.get_submodule(name), r=4, alpha=8)
            layer.A.copy_(peft_layer.lora_A["default"].weight)
            layer.B.copy_(peft_layer.lora_B["default"].weight)
            layer.m.copy_(m)
            ours.set_submodule(name, layer)
    ids = torch.randint(0, 128, (2, 11), generator=torch.Generator().manual_seed(0))
    logits_ours = ours(input_ids=ids).logits
    logits_theirs = theirs(input_ids=ids).logits
    torch.testing.assert_close(logits_ours, logits_theirs, rtol=0, atol=1e-10)
    logits_ours.square().mean().backward()
    logits_theirs.square().mean().backward()
    for name in names:
        layer = ours.get_submodule(name)
        peft_layer = theirs.base_model.model.get_submodule(name)
        for mine, peft_param in (
            (layer.A, peft_layer.lora_A["default"].weight),
            (layer.B, peft_layer.lora_B["default"].weight),
            (layer.m, peft_layer.lora_magnitude_vector["default"].weight),
        ):
            torch.testing.assert_close(mine.grad, peft_param.grad, rtol=0, atol=1e-10)


def test_apply_dora_trains_only_A_B_and_m():
    model = apply_dora(TinyMLP(), ["lin0"], r=2)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["lin0.A", "lin0.B", "lin0.m"]
    assert isinstance(model.lin0, DoRALinear) and isinstance(model.lin1, nn.Linear)
    with pytest.raises(ValueError, match="matched no module"):
        apply_dora(TinyMLP(), ["nope"])
