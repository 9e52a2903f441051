"""Data-parallel LoRA training on CPU: torch.distributed (gloo) under torchrun.

For "Training beyond one machine" (docs/distributed.md). Launch:

    .venv/bin/torchrun --standalone --nproc-per-node 2 \
        -m snippets.ddp.train_ddp --out DIR

Every process loads the tutorial's base model, adds the same LoRA adapter
(PEFT, seeded), wraps the model in `DistributedDataParallel` and trains on
its own slice of each global batch: process p of N gets rows
[p·b, (p+1)·b) of the step's N·b rows. After `backward`, DDP all-reduces
(averages) the gradients of the trainable parameters only, so every process
applies the same update. A communication hook counts the bytes handed to
each all-reduce. The loss is the mean over sequences of each sequence's mean
token loss, so the average of N per-process losses is exactly the loss of
one process on all N·b rows: N processes with batch b train the same adapter
as one process with batch N·b (tests/test_ddp.py checks it).

With `--strategy fsdp` the model is sharded instead (FSDP2's
`fully_shard`, ZeRO stage 3: each process keeps 1/N of every parameter and
gathers a layer's weights only while it runs it); with `--also-full` one
step of full fine-tuning under DDP is measured as well, for comparison.

Without torchrun (no WORLD_SIZE in the environment) it runs as one process.
Rank 0 writes DIR/trainable.safetensors (the trained tensors, gathered),
DIR/adapter (PEFT's format; DDP and single process) and DIR/stats.json.
"""

import argparse
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from snippets.many_adapters.train_adapters import (
    TASKS,
    batch_of,
    load_base,
    records,
)

CONFIG = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"}


def counting_allreduce(
    state: dict, bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: count the bytes of each bucket, then all-reduce.

    DDP packs the gradients of parameters with `requires_grad` into buckets
    and calls this once per bucket per step; frozen parameters never appear.
    """
    buffer = bucket.buffer()
    state["bytes"] += buffer.numel() * buffer.element_size()
    state["calls"] += 1
    return default_hooks.allreduce_hook(None, bucket)  # average over processes


def sequence_mean_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over sequences of each sequence's mean loss on its answer tokens."""
    logits, labels = logits[:, :-1], labels[:, 1:]  # predict the next token
    per_token = F.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=-100, reduction="none"
    )  # (n, s - 1)
    counted = (labels != -100).sum(dim=1)
    return (per_token.sum(dim=1) / counted).mean()


def local_bytes(model: nn.Module) -> int:
    """Bytes of parameters this process holds (its shards, under FSDP)."""
    total = 0
    for p in model.parameters():
        local = p.to_local() if isinstance(p, DTensor) else p
        total += local.numel() * local.element_size()
    return total


def wrap(model: nn.Module, strategy: str, state: dict) -> nn.Module:
    """DDP with the counting hook, or FSDP2 (one unit per decoder layer)."""
    if strategy == "ddp":
        model = DistributedDataParallel(model)  # broadcasts rank 0's weights
        model.register_comm_hook(state, counting_allreduce)
        return model
    for layer in model.get_decoder().layers:
        fully_shard(layer)
    fully_shard(model)  # the rest: embeddings, final norm
    return model


def train(args: argparse.Namespace, full: bool, steps: int, rank: int, world: int):
    """Train for `steps` steps; return the model, the stats and the losses."""
    torch.manual_seed(0)  # the same initial adapter in every process
    tokenizer, model = load_base()
    if not full:
        model = get_peft_model(model, LoraConfig(**CONFIG))
    model.train()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    state = {"bytes": 0, "calls": 0}
    before = local_bytes(model)
    if world > 1:
        model = wrap(model, args.strategy, state)
    optimizer = torch.optim.AdamW(list(model.parameters()), lr=5e-3)

    rows = [r for task in TASKS.values() for r in records("train", task)]
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))
    global_batch = world * args.batch
    losses = []
    for step in range(steps):
        start = step * global_batch + rank * args.batch  # this process's slice
        mine = [rows[i] for i in order[start : start + args.batch].tolist()]
        batch = batch_of(tokenizer, mine)
        logits = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
        loss = sequence_mean_loss(logits, batch["labels"])
        loss.backward()  # DDP: gradients all-reduced here; FSDP: reduce-scattered
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    # FSDP replaced the parameters by sharded ones: read them from the model
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    trained = {n: p for n, p in inner.named_parameters() if p.requires_grad}
    stats = {
        "trainable_parameters": sum(p.numel() for p in trainable.values()),
        "trainable_bytes": sum(
            p.numel() * p.element_size() for p in trainable.values()
        ),
        "allreduce_bytes_per_step": state["bytes"] // steps,
        "allreduce_calls_per_step": state["calls"] // steps,
        "parameter_bytes_per_process": local_bytes(model),
        "parameter_bytes_unsharded": before,
    }
    return inner, trained, stats, losses


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps")
    parser.add_argument("--batch", type=int, default=4, help="rows per process")
    parser.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp")
    parser.add_argument(
        "--also-full",
        action="store_true",
        help="also measure one DDP step of full fine-tuning",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("gloo")  # CPU; NCCL is the GPU backend
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1

    model, trainable, stats, losses = train(args, False, args.steps, rank, world)
    # gather the trained tensors (FSDP holds shards: full_tensor() all-gathers)
    tensors = {
        n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().contiguous()
        for n, p in trainable.items()
    }
    stats = {
        "world_size": world,
        "strategy": args.strategy if world > 1 else "single",
        "batch_per_process": args.batch,
        "steps": args.steps,
        **stats,
        "rank0_losses": [round(x, 6) for x in losses],
    }
    if args.also_full and world > 1 and args.strategy == "ddp":
        *_, full_stats, _ = train(args, True, 1, rank, world)
        stats["full_allreduce_bytes_per_step"] = full_stats["allreduce_bytes_per_step"]
        stats["full_trainable_bytes"] = full_stats["trainable_bytes"]
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        save_file(tensors, args.out / "trainable.safetensors")
        if args.strategy == "ddp" or world == 1:
            model.save_pretrained(args.out / "adapter")
        (args.out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
        print(json.dumps(stats))
    if distributed:
        dist.destroy_process_group()
    return stats


if __name__ == "__main__":
    main()
