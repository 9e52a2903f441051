"""lora_ref.multi_adapter: a mixed batch, each row with its own adapter.

Compared with PEFT's `adapter_names=[...]` forward (peft 0.21.2) on the
tutorial's base model, in float64 with non-zero B, adapters of different
ranks, alphas, rsLoRA and target modules.
"""

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import AutoModelForCausalLM

from lora_ref import LoRALinear
from lora_ref.multi_adapter import (
    MultiLoRALinear,
    adapter_index,
    load_peft_adapters,
    set_adapter_index,
)
from snippets.many_adapters.train_adapters import BASE

CONFIGS = {
    "one": LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]),
    "two": LoraConfig(r=8, lora_alpha=8, target_modules="all-linear", use_rslora=True),
    "three": LoraConfig(r=4, lora_alpha=16, target_modules=["v_proj", "down_proj"]),
}
NAMES = ["three", "__base__", "one", "two", "one", "three"]


def base_model(dtype: torch.dtype) -> nn.Module:
    return AutoModelForCausalLM.from_pretrained(BASE, dtype=dtype).eval()


def peft_with_three_adapters(dtype: torch.dtype, tmp_path) -> PeftModel:
    """PEFT with three adapters (non-zero B), each also saved under tmp_path."""
    torch.manual_seed(0)
    model = None
    for name, config in CONFIGS.items():
        config.init_lora_weights = False  # B != 0: a comparison that can fail
        if model is None:
            model = get_peft_model(base_model(dtype), config, adapter_name=name)
        else:
            model.add_adapter(name, config)
    model.eval()
    model.save_pretrained(tmp_path)  # one subdirectory per adapter name
    return model


def dirs(tmp_path) -> list:
    """Where PEFT saved each adapter: a subdirectory named after it."""
    return [tmp_path / name for name in CONFIGS]


@pytest.fixture(scope="module")
def tokens():
    torch.manual_seed(1)
    return torch.randint(3, 600, (len(NAMES), 9))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mixed_batch_matches_peft_adapter_names(dtype, tokens, tmp_path):
    theirs = peft_with_three_adapters(dtype, tmp_path)
    ours = load_peft_adapters(base_model(dtype), dirs(tmp_path))
    set_adapter_index(ours, adapter_index(NAMES, list(CONFIGS)))
    with torch.no_grad():
        want = theirs(input_ids=tokens, adapter_names=NAMES).logits
        got = ours(input_ids=tokens).logits
    if dtype == torch.float64:
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    else:
        torch.testing.assert_close(got, want)
    # each row differs from the plain base unless it is a "__base__" row
    with torch.no_grad(), theirs.disable_adapter():
        plain = theirs(input_ids=tokens).logits
    differs = (got - plain).abs().amax(dim=(1, 2)) > 1e-6
    assert differs.tolist() == [n != "__base__" for n in NAMES]


def test_mixed_batch_generate_matches_peft(tokens, tmp_path):
    theirs = peft_with_three_adapters(torch.float64, tmp_path)
    ours = load_peft_adapters(base_model(torch.float64), dirs(tmp_path))
    set_adapter_index(ours, adapter_index(NAMES, list(CONFIGS)))
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 2}
    want = theirs.generate(input_ids=tokens, adapter_names=NAMES, **kwargs)
    got = ours.generate(input_ids=tokens, **kwargs)
    assert torch.equal(got, want)


def test_every_row_on_one_adapter_is_that_adapters_lora_linear():
    torch.manual_seed(0)
    base = nn.Linear(6, 5).double()
    layers = [LoRALinear(nn.Linear(6, 5).double(), r=r, alpha=3) for r in (1, 3)]
    for layer in layers:
        layer.base.load_state_dict(base.state_dict())
        nn.init.normal_(layer.B)
    multi = MultiLoRALinear(
        base,
        [layer.A.detach() for layer in layers],
        [layer.B.detach() for layer in layers],
        [layer.scaling for layer in layers],
    )
    x = torch.randn(4, 2, 6, dtype=torch.float64)
    for j, layer in enumerate(layers):
        multi.adapter_index = torch.full((4,), j)
        torch.testing.assert_close(multi(x), layer(x), rtol=0, atol=1e-12)
    multi.adapter_index = torch.tensor([-1, 1, 0, -1])
    h = multi(x)
    torch.testing.assert_close(h[[0, 3]], base(x[[0, 3]]), rtol=0, atol=0)
    torch.testing.assert_close(h[1], layers[1](x[1]), rtol=0, atol=1e-12)
    torch.testing.assert_close(h[2], layers[0](x[2]), rtol=0, atol=1e-12)


def test_padding_a_smaller_rank_with_zeros_adds_nothing():
    torch.manual_seed(0)
    base = nn.Linear(6, 5).double()
    A, B = torch.randn(2, 6).double(), torch.randn(5, 2).double()
    alone = MultiLoRALinear(base, [A], [B], [0.5])
    padded = MultiLoRALinear(
        base,
        [A, torch.randn(7, 6).double()],
        [B, torch.randn(5, 7).double()],
        [0.5, 1.0],
    )
    assert padded.A.shape == (2, 7, 6) and padded.B.shape == (2, 5, 7)
    x = torch.randn(3, 6, dtype=torch.float64)
    padded.adapter_index = torch.zeros(3, dtype=torch.long)
    torch.testing.assert_close(padded(x), alone(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: MultiLoRALinear(nn.Linear(4, 3), [], [], []), "one A, one B"),
        (
            lambda: MultiLoRALinear(
                nn.Linear(4, 3), [torch.zeros(2, 4)], [torch.zeros(3, 1)], [1.0]
            ),
            "A must be",
        ),
        (lambda: adapter_index(["x"], ["a"]), "unknown adapters"),
        (lambda: load_peft_adapters(nn.Linear(2, 2), []), "at least one adapter"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_out_of_range_index_and_wrong_batch_raise_value_error():
    model = nn.Sequential(
        MultiLoRALinear(nn.Linear(4, 3), [torch.zeros(1, 4)], [torch.zeros(3, 1)], [1])
    )
    with pytest.raises(ValueError, match=r"adapter indices must be in \[-1, 1\)"):
        set_adapter_index(model, torch.tensor([0, 1]))
    set_adapter_index(model, torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="adapter_index has 2 rows, the batch 3"):
        model(torch.zeros(3, 4))


def test_each_committed_adapter_does_its_own_task_and_none_of_the_others():
    import json

    from lora_ref.peft_io import read_adapter
    from snippets.many_adapters.train_adapters import ADAPTERS, TASKS

    results = json.loads((ADAPTERS / "results.json").read_text())
    table = results["heldout_exact_match"]
    for name, task in TASKS.items():
        config, tensors = read_adapter(ADAPTERS / name)
        assert config["r"] == 8 and len(tensors) == 2 * 7 * 4
        others = [table[other][task] for other in TASKS if other != name]
        assert table[name][task] > max(others), (name, task)


def test_train_adapters_help_and_typos_do_no_work(tmp_path):
    from snippets.many_adapters import train_adapters

    for argv in (["--help"], ["--out", str(tmp_path), "--epochs", "3"]):
        with pytest.raises(SystemExit):
            train_adapters.main(argv)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_bench_adapters_reports_every_contender_side_by_side():
    from snippets import bench_adapters

    text = bench_adapters.main(["--repeats", "1", "--batches", "2"])
    for name in (
        "set_adapter",
        "hotswap_adapter",
        "merge_swap",
        "load_from_disk",
        "mixed_batch",
        "sub_batches",
        "merge_per_adapter",
        "lora_ref_mixed",
        "base_only",
        "N = 4: 4,737,024 bytes",
    ):
        assert name in text, name
