"""Data-parallel LoRA on CPU (snippets/ddp/train_ddp.py), as docs/distributed.md says.

Two processes under `torchrun --nproc-per-node 2` (gloo) with batch b train
the same adapter as one process with batch 2b; DDP all-reduces the adapter's
gradients only; FSDP2 on CPU trains the same adapter holding half the
parameters per process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lora_ref.counts import parameter_counts
from snippets.ddp import train_ddp
from snippets.many_adapters.train_adapters import load_base

pytestmark = pytest.mark.slow  # starts two training processes

ROOT = Path(__file__).resolve().parents[1]
B, STEPS = 2, 3
# fp32 gradients summed in another order differ in the last bits; AdamW divides
# by sqrt(v), which turns that into up to ~1% of one step (lr = 5e-3) for the
# few entries whose gradient is nearly zero. Tolerances: 2% of a step.
TOL = {"rtol": 1e-2, "atol": 1e-4}


def torchrun(out: Path, *extra: str) -> dict:
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2"]  # --standalone: a free port, no clash
    command += ["-m", "snippets.ddp.train_ddp", "--out", str(out)]
    command += ["--batch", str(B), "--steps", str(STEPS), *extra]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    assert "WORLD_SIZE" not in os.environ  # so main() below is one process
    return {
        "ddp": torchrun(tmp / "ddp", "--also-full"),
        "fsdp": torchrun(tmp / "fsdp", "--strategy", "fsdp"),
        "one_2b": train_ddp.main(["--out", str(tmp / "one_2b"), "--batch", str(2 * B)]),
        "one_b": train_ddp.main(["--out", str(tmp / "one_b"), "--batch", str(B)]),
        "dir": tmp,
    }


def tensors(runs, name: str) -> dict[str, torch.Tensor]:
    return load_file(runs["dir"] / name / "trainable.safetensors")


def test_two_processes_with_batch_b_train_the_same_adapter_as_one_with_batch_2b(runs):
    two, one = tensors(runs, "ddp"), tensors(runs, "one_2b")
    assert two.keys() == one.keys() and len(one) == 2 * 7 * 4  # A, B x 7 x 4 layers
    for name in one:
        torch.testing.assert_close(two[name], one[name], **TOL)
    # training moved B (it starts at zero) far beyond the tolerance
    moved = max(one[n].abs().max().item() for n in one if "lora_B" in n)
    assert moved > 50 * TOL["atol"]


def test_the_equivalence_check_can_fail_with_the_wrong_batch(runs):
    two, one_b = tensors(runs, "ddp"), tensors(runs, "one_b")  # b rows, not 2b
    with pytest.raises(AssertionError):
        for name in one_b:
            torch.testing.assert_close(two[name], one_b[name], **TOL)


def test_ddp_all_reduces_only_the_adapters_gradients(runs):
    stats = runs["ddp"]
    trainable, total = parameter_counts(load_base()[1])
    assert trainable == total  # a plain model: everything trainable
    assert stats["allreduce_bytes_per_step"] == 4 * stats["trainable_parameters"]
    assert stats["full_allreduce_bytes_per_step"] == 4 * total
    assert (
        stats["allreduce_bytes_per_step"] * 10 < stats["full_allreduce_bytes_per_step"]
    )


def test_fsdp_on_cpu_trains_the_same_adapter_holding_half_the_parameters(runs):
    sharded, ddp = tensors(runs, "fsdp"), tensors(runs, "ddp")
    for name in ddp:
        torch.testing.assert_close(sharded[name], ddp[name], **TOL)
    stats = runs["fsdp"]
    half = stats["parameter_bytes_unsharded"] / 2
    assert abs(stats["parameter_bytes_per_process"] - half) < 0.01 * half


def test_script_help_and_bad_arguments_do_no_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_ddp.main(["--help"])
    with pytest.raises(SystemExit):
        train_ddp.main(["--out", str(tmp_path), "--strategy", "zero"])
    assert not any(tmp_path.iterdir())
