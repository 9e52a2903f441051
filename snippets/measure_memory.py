"""Measure the peak tensor memory of a real training step on CPU.

Used by "Why PEFT" (docs/why-peft.md, "Predicted vs measured"), by
`snippets/bench_memory.py` (`make bench`) and by tests/test_budget.py.

torch's CPU allocations bypass `tracemalloc` and RSS counts the interpreter and
allocator caches too, so we read the allocator's own events: with
`profile_memory=True`, torch.profiler records every tensor allocation and free
(in bytes). The peak of one step is the live state before it (weights,
optimizer state) plus the highest running sum of those events during it.
"""

# --8<-- [start:measure]
from collections.abc import Callable, Iterable

import torch
from peft import LoraConfig, get_peft_model
from torch.profiler import ProfilerActivity, profile
from transformers import AutoConfig, LlamaForCausalLM

from lora_ref.counts import ModelShape

# a small Llama: 4 layers, d_model = 256, 4 heads, SwiGLU width 688, vocabulary 4096
SMALL = ModelShape(4096, 256, 688, 4, 4, 4, 64)


def peak_allocated(step: Callable[[], object]) -> int:
    """Highest running total of bytes allocated minus freed during step()."""
    cpu = [ProfilerActivity.CPU]
    with profile(activities=cpu, profile_memory=True) as prof:
        step()
    events = prof.profiler.kineto_results.events()
    memory = [e for e in events if e.name() == "[memory]"]
    running = peak = 0
    for e in sorted(memory, key=lambda e: e.start_ns()):
        running += e.nbytes()  # > 0: allocation, < 0: free
        peak = max(peak, running)
    return peak


def live_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind `tensors`."""
    by_address = {}
    for t in tensors:
        storage = t.untyped_storage()
        by_address[storage.data_ptr()] = storage.nbytes()
    return sum(by_address.values())


def measure_step(
    method: str,
    batch: int,
    seq_len: int,
    checkpointing: bool,
) -> int:
    """Peak bytes of one AdamW step of SMALL (fp32): full fine-tuning or LoRA.

    LoRA is PEFT's default for Llama: r = 8 on q_proj and v_proj.
    """
    if method not in ("full", "lora"):
        raise ValueError(f"method must be 'full' or 'lora', got {method!r}")
    torch.manual_seed(0)
    config = AutoConfig.for_model(**SMALL.config_kwargs())
    model = LlamaForCausalLM(config).train()
    if checkpointing:
        model.activation_checkpointing_enable({"use_reentrant": False})
    if method == "lora":
        config = LoraConfig(r=8, target_modules=["q_proj", "v_proj"])
        model = get_peft_model(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, SMALL.vocab, (batch, seq_len))

    def step() -> None:
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()  # the logits are freed already, as in Trainer
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # the first step allocates AdamW's moments
    moments = [
        t
        for state in optimizer.state.values()
        for t in state.values()
        if torch.is_tensor(t)
    ]
    before = live_bytes(list(model.parameters()) + moments)
    return before + peak_allocated(step)


# --8<-- [end:measure]
