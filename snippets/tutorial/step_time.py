"""Where a LoRA training step's time goes on the tutorial model, measured.

For each setting (batch size n, sequence length s, activation checkpointing
on or off) one LoRA training step of the tutorial recipe (r = 16 on all
linear layers of snippets/tutorial/assets/base) is run under
torch.profiler, with the forward pass, the backward pass and the optimizer
step each inside a `record_function` label, and `FlopCounterMode` counts
the step's floating-point operations. The settings take turns, one step
each per round, so a burst of load from other processes hits them all;
each time is the minimum over the rounds (noise on a shared machine only
ever adds time), on one CPU thread. FLOPs do not depend on the machine.
For docs/troubleshooting.md ("Slow training").

Usage: python -m snippets.tutorial.step_time [--out FILE] [--rounds N]
(under a minute on one CPU thread).
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

from snippets.figures.style import save_csv
from snippets.tutorial import finetune as ft

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "docs" / "assets" / "data" / "tutorial_step_time.csv"
# (n, s, checkpointing): the tutorial's batch (16 sequences of at most 48
# tokens), then one change at a time
SETTINGS = [
    (16, 48, False),
    (16, 48, True),
    (8, 48, False),
    (32, 48, False),
    (16, 96, False),
    (16, 192, False),
]
PHASES = ("forward", "backward", "optimizer")


def lora_model(checkpointing: bool) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    _, base = ft.load_base()
    torch.manual_seed(0)
    config = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=ft.TARGETS,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config).train()
    if checkpointing:
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": False}
        )
    return model


def step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor, tag: str
) -> None:
    """One training step, each phase inside a profiler label `phase/tag`."""
    with record_function(f"forward/{tag}"):
        loss = model(input_ids=ids, labels=ids).loss
    with record_function(f"backward/{tag}"):
        loss.backward()
    with record_function(f"optimizer/{tag}"):
        opt.step()
        opt.zero_grad()


def measure(rounds: int) -> list[dict]:
    """Profile every setting, `rounds` interleaved steps each."""
    setups = []
    for n, s, checkpointing in SETTINGS:
        model = lora_model(checkpointing)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        vocab = model.config.vocab_size
        ids = torch.randint(3, vocab, (n, s), generator=torch.manual_seed(0))
        with FlopCounterMode(display=False) as counter:
            step(model, opt, ids, "flops")
        step(model, opt, ids, "warm-up")
        setups.append((model, opt, ids, counter.get_total_flops()))
    walls: list[list[float]] = [[] for _ in SETTINGS]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(rounds):
            for i, (model, opt, ids, _) in enumerate(setups):
                start = time.perf_counter()
                step(model, opt, ids, str(i))
                walls[i].append(time.perf_counter() - start)
    phase_ms: dict[str, list[float]] = {}
    for event in prof.events():
        if event.name.split("/")[0] in PHASES:
            phase_ms.setdefault(event.name, []).append(event.cpu_time_total / 1000)
    rows = []
    for i, (n, s, checkpointing) in enumerate(SETTINGS):
        wall = min(walls[i])
        rows.append(
            {
                "batch": n,
                "seq_len": s,
                "checkpointing": checkpointing,
                "gflop_per_step": round(setups[i][3] / 1e9, 3),
                "step_ms": round(1000 * wall, 1),
                **{f"{p}_ms": round(min(phase_ms[f"{p}/{i}"]), 1) for p in PHASES},
                "tokens_per_s": round(n * s / wall),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CSV, help="CSV to write")
    parser.add_argument(
        "--rounds", type=int, default=10, help="profiled steps per setting"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = measure(args.rounds)
    for row in rows:
        print(row)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_csv(rows, args.out.stem, Path(tmp))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        path.replace(args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
