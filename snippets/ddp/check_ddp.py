"""Data-parallel gradients checked in float64, in one torchrun launch.

For tests/test_ddp.py and "Training beyond one machine"
(docs/distributed.md). Launch:

    .venv/bin/torchrun --standalone --nproc-per-node 2 \
        -m snippets.ddp.check_ddp --out DIR

Every process builds the tutorial's base model in float64 with the same
seeded LoRA adapter (non-zero B, so A has a gradient too) and takes its own
b rows of the first global batch of snippets/ddp/train_ddp.py. It then
computes the first step's gradients of every trainable tensor five ways:

    reference    one process, no DDP, all N·b rows (per-sequence mean loss)
    ddp          DDP (averaging all-reduce, through train_ddp's counting
                 hook), each process on its b rows: must equal `reference`
    fsdp         FSDP2 (`fully_shard`, reduce-scatter), each process on its
                 b rows: must equal `reference`
    sum          control: DDP with a hook that sums instead of averaging
    token_mean   control: DDP with transformers' token-mean loss (each
                 process divides by its own answer-token count); its
                 reference is the token mean over all N·b rows

Rank 0 writes DIR/gradients.safetensors ("<way>/<parameter name>") and
DIR/stats.json (the bytes DDP's hook saw per step for LoRA and for full
fine-tuning, the answer tokens on each process, parameter bytes per process
under FSDP). A few seconds on one core.
"""

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from snippets.common import argument_parser
from snippets.ddp.train_ddp import (
    CONFIG,
    first_batch,
    local_bytes,
    sequence_mean_loss,
    wrap,
)
from snippets.many_adapters.train_adapters import batch_of, load_base


def token_mean_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """transformers' causal-LM loss: the mean over all answer tokens of the batch."""
    return F.cross_entropy(
        logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=-100
    )


def summing_allreduce(
    state: dict, bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """A wrong DDP hook for the control: all-reduce with a sum, no division."""
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def model(full: bool = False) -> torch.nn.Module:
    """The float64 base, with the seeded adapter unless `full`."""
    torch.manual_seed(0)
    _, m = load_base()
    if not full:
        m = get_peft_model(m, LoraConfig(**CONFIG, init_lora_weights=False))
    return m.to(torch.float64).train()


def gradients(m: torch.nn.Module, batch: dict, loss_fn) -> dict[str, torch.Tensor]:
    """One backward; the gradient of every trainable tensor, gathered if sharded."""
    inner = m.module if isinstance(m, DistributedDataParallel) else m
    logits = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    loss_fn(logits.logits, batch["labels"]).backward()
    out = {}
    for name, p in inner.named_parameters():
        if p.requires_grad:
            g = p.grad.full_tensor() if isinstance(p.grad, DTensor) else p.grad
            out[name] = g.detach().clone().contiguous()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--batch", type=int, default=2, help="rows per process")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if "WORLD_SIZE" not in os.environ:
        parser.error("launch with torchrun --nproc-per-node 2 (or more)")
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    tokenizer, _ = load_base()
    rows = first_batch(world * args.batch)
    everything = batch_of(tokenizer, rows)
    mine = batch_of(tokenizer, rows[rank * args.batch : (rank + 1) * args.batch])

    grads = {
        "reference": gradients(model(), everything, sequence_mean_loss),
        "reference_token_mean": gradients(model(), everything, token_mean_loss),
    }
    state = {"bytes": 0, "calls": 0}
    grads["ddp"] = gradients(wrap(model(), "ddp", state), mine, sequence_mean_loss)
    lora_bytes = state["bytes"]
    ddp = DistributedDataParallel(model(), forward_sync_buffers=False)
    ddp.register_comm_hook(None, summing_allreduce)
    grads["sum"] = gradients(ddp, mine, sequence_mean_loss)
    ddp = wrap(model(), "ddp", {"bytes": 0, "calls": 0})
    grads["token_mean"] = gradients(ddp, mine, token_mean_loss)
    sharded = model()
    unsharded_bytes = local_bytes(sharded)
    sharded = wrap(sharded, "fsdp", {})
    sharded_bytes = local_bytes(sharded)
    grads["fsdp"] = gradients(sharded, mine, sequence_mean_loss)
    full = {"bytes": 0, "calls": 0}
    full_model = model(full=True)
    gradients(wrap(full_model, "ddp", full), mine, sequence_mean_loss)

    tokens = torch.tensor([(mine["labels"][:, 1:] != -100).sum().item()])
    counts = [torch.zeros_like(tokens) for _ in range(world)]
    dist.all_gather(counts, tokens)
    stats = {
        "world_size": world,
        "batch_per_process": args.batch,
        "answer_tokens_per_process": [int(c) for c in counts],
        "trainable_parameters": sum(g.numel() for g in grads["ddp"].values()),
        "total_parameters": sum(p.numel() for p in full_model.parameters()),
        "element_bytes": 8,
        "allreduce_bytes_per_step": lora_bytes,
        "full_allreduce_bytes_per_step": full["bytes"],
        "parameter_bytes_unsharded": unsharded_bytes,
        "fsdp_parameter_bytes_per_process": sharded_bytes,
    }
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        flat = {f"{way}/{n}": g for way, gs in grads.items() for n, g in gs.items()}
        save_file(flat, args.out / "gradients.safetensors")
        (args.out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    dist.destroy_process_group()
    return stats


if __name__ == "__main__":
    main()
