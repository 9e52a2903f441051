"""What a LoRA training step costs on the tutorial model, by setting.

For each setting (batch size n, sequence length s, activation checkpointing
on or off) one LoRA training step of the tutorial recipe (r = 16 on all
linear layers of snippets/tutorial/assets/base): `FlopCounterMode` counts
its floating-point operations (exact, independent of the machine), and the
step is timed with the benchmark machinery of snippets/bench_lora.py, with
no profiler attached: every round runs every setting once in a shuffled
order, timed by the CPU time of this thread (what the step computed, not the
time other processes held the core), on one CPU thread. A second copy of the
reference setting (16 x 48, no checkpointing) is timed as an A/A control:
its ratio to the reference must be within 1.00 +- 3%, or the run says it is
too noisy, writes nothing and exits with status 1. Each setting's time is
the 10th percentile over the rounds, with the median beside it, and its
ratio to the reference with a 95% bootstrap interval over rounds.
For docs/troubleshooting.md ("Slow training").

Usage: python -m snippets.tutorial.step_time [--out FILE] [--rounds N]
[--seconds S] [--seed N]. About 1.5 seconds of CPU per round; 20 rounds took
four to five minutes on a loaded, shared two-core machine.
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from snippets.bench_lora import AA_TOLERANCE, PERCENTILE, percentile, ratio, sample
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


def step(model: torch.nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor) -> None:
    """One training step: forward, backward, optimizer."""
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    opt.zero_grad()


def label(n: int, s: int, checkpointing: bool) -> str:
    return f"{n}x{s}" + (" ckpt" if checkpointing else "")


CONTROL = "16x48 (A/A control)"


def measure(rounds: int, seconds: float, seed: int) -> tuple[list[dict], float]:
    """Time every setting; the rows and the A/A control's ratio."""
    contenders = {}
    flops = {}
    for n, s, checkpointing in [*SETTINGS, SETTINGS[0]]:
        name = label(n, s, checkpointing)
        name = CONTROL if name in contenders else name
        model = lora_model(checkpointing)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        vocab = model.config.vocab_size
        ids = torch.randint(3, vocab, (n, s), generator=torch.manual_seed(0))
        with FlopCounterMode(display=False) as counter:
            step(model, opt, ids)
        flops[name] = counter.get_total_flops()
        contenders[name] = lambda m=model, o=opt, x=ids: step(m, o, x)
    times = sample(contenders, rounds, seconds, seed)["cpu"]
    reference = times[label(*SETTINGS[0])]
    control = ratio(times[CONTROL], reference)["ratio"]
    rows = []
    for n, s, checkpointing in SETTINGS:
        ms = [1000 * t for t in times[label(n, s, checkpointing)]]
        r = ratio(times[label(n, s, checkpointing)], reference)
        p = percentile(ms, PERCENTILE)
        rows.append(
            {
                "batch": n,
                "seq_len": s,
                "checkpointing": checkpointing,
                "gflop_per_step": round(flops[label(n, s, checkpointing)] / 1e9, 3),
                "rounds": len(ms),
                f"step_ms_p{PERCENTILE}": round(p, 1),
                "step_ms_median": round(statistics.median(ms), 1),
                "time_ratio": round(r["ratio"], 2),
                "time_ratio_low": round(r["low"], 2),
                "time_ratio_high": round(r["high"], 2),
                "tokens_per_cpu_s": round(1000 * n * s / p),
            }
        )
    return rows, control


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CSV, help="CSV to write")
    parser.add_argument(
        "--rounds", type=int, default=20, help="rounds; each times every setting"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=600.0,
        help="stop after this many seconds, but never before 10 rounds",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the order")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows, control = measure(args.rounds, args.seconds, args.seed)
    for row in rows:
        print(row)
    ok = abs(control - 1) <= AA_TOLERANCE
    print(
        f"A/A control within 1.00 +- {AA_TOLERANCE:.0%}: {control:.3f} "
        f"{'PASS' if ok else 'FAIL'}"
    )
    if not ok:
        print("too noisy: nothing written", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        path = save_csv(rows, args.out.stem, Path(tmp))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        path.replace(args.out)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
