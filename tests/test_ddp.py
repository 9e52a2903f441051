"""Data-parallel LoRA on CPU (snippets/ddp/), as docs/distributed.md says.

One `torchrun --nproc-per-node 2` launch of snippets/ddp/check_ddp.py (gloo,
float64) computes the first step's gradients of every trainable tensor:
DDP's all-reduced gradients and FSDP2's reduce-scattered ones, each process
on b rows, must equal one process's gradients on all 2b rows to 1e-12; a
DDP that summed instead of averaging, and one whose loss is the token mean
per process (the two processes have different answer-token counts), must
not. The same launch records the bytes DDP's hook all-reduces (the adapter's
gradients only) and FSDP's parameter bytes per process (half).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from snippets.ddp import check_ddp, train_ddp

pytestmark = pytest.mark.slow  # starts two processes

ROOT = Path(__file__).resolve().parents[1]
B = 2
# float64 gradients of the same sum taken in another order: ~1e-15 apart
TOL = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2"]  # --standalone: a free port, no clash
    command += ["-m", "snippets.ddp.check_ddp", "--out", str(out), "--batch", str(B)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    flat = load_file(out / "gradients.safetensors")
    grads = {}
    for key, g in flat.items():
        way, name = key.split("/", 1)
        grads.setdefault(way, {})[name] = g
    return grads, json.loads((out / "stats.json").read_text())


def same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], **TOL)


def test_the_gradients_are_float64_and_not_vacuous(run):
    grads, _ = run
    ref = grads["reference"]
    assert len(ref) == 2 * 7 * 4  # A and B of 7 projections in 4 layers
    assert all(g.dtype == torch.float64 for g in ref.values())
    assert min(g.abs().max().item() for g in ref.values()) > 1e-3  # A's too


def test_ddp_with_batch_b_gives_the_gradient_of_one_process_with_batch_2b(run):
    grads, _ = run
    same(grads["ddp"], grads["reference"])


def test_fsdp_with_batch_b_gives_the_gradient_of_one_process_with_batch_2b(run):
    grads, _ = run
    same(grads["fsdp"], grads["reference"])


def test_the_check_fails_for_a_ddp_that_sums_instead_of_averaging(run):
    grads, _ = run
    with pytest.raises(AssertionError):
        same(grads["sum"], grads["reference"])


def test_the_check_fails_for_a_token_mean_loss_with_unequal_answer_lengths(run):
    grads, stats = run
    tokens = stats["answer_tokens_per_process"]
    assert tokens[0] != tokens[1]
    with pytest.raises(AssertionError):
        same(grads["token_mean"], grads["reference_token_mean"])


def test_ddp_all_reduces_only_the_adapters_gradients(run):
    _, stats = run
    size = stats["element_bytes"]
    assert stats["allreduce_bytes_per_step"] == size * stats["trainable_parameters"]
    assert stats["full_allreduce_bytes_per_step"] == size * stats["total_parameters"]
    assert stats["trainable_parameters"] * 10 < stats["total_parameters"]


def test_fsdp_holds_half_the_parameter_bytes_per_process(run):
    _, stats = run
    half = stats["parameter_bytes_unsharded"] / 2
    assert abs(stats["fsdp_parameter_bytes_per_process"] - half) < 0.01 * half


def test_the_training_script_runs_one_step_and_writes_its_files(tmp_path):
    assert "WORLD_SIZE" not in os.environ  # so main() is one process
    stats = train_ddp.main(["--out", str(tmp_path), "--batch", "2", "--steps", "1"])
    assert stats["world_size"] == 1 and len(stats["rank0_losses"]) == 1
    assert (tmp_path / "trainable.safetensors").exists()
    assert (tmp_path / "adapter" / "adapter_config.json").exists()


def test_scripts_help_and_bad_arguments_do_no_work(tmp_path):
    with pytest.raises(SystemExit):
        train_ddp.main(["--help"])
    with pytest.raises(SystemExit):
        train_ddp.main(["--out", str(tmp_path), "--strategy", "zero"])
    with pytest.raises(SystemExit):
        check_ddp.main(["--help"])
    assert not any(tmp_path.iterdir())
