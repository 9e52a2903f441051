"""Benchmark: serving four LoRA adapters from one base (docs/many-adapters.md).

Run with `make bench` (or `python -m snippets.bench_adapters [--save]`). On the
tutorial's base model with the four task adapters of
snippets/many_adapters/assets (PEFT 0.21.2, float32, CPU) it times:

- switching the active adapter: `set_adapter` (all adapters resident) vs
  loading the next one from disk (`load_adapter` + `set_adapter` +
  `delete_adapter`) vs a merged swap (`unmerge_adapter`, `set_adapter`,
  `merge_adapter`) vs `peft.utils.hotswap.hotswap_adapter` (copies the new
  weights into the loaded adapter's tensors); ratios to `set_adapter`;
- one forward pass of a batch whose rows are spread over the four adapters:
  PEFT's mixed batch (`adapter_names=[...]`) vs one sub-batch per adapter
  (`set_adapter` between them) vs merging each adapter into the base for its
  sub-batch vs lora_ref's gathered mixed batch (`MultiLoRALinear`) vs the
  base model alone, at a few batch sizes; ratios to the mixed batch;
- resident parameter bytes with N = 0 ... 4 adapters loaded.

Method: the one of snippets/bench_lora.py, whose functions this script
imports (docs/benchmarks.md explains it): every contender called once per
round in a freshly shuffled order, one torch thread, each call timed by that
thread's CPU time (time.thread_time), the wall clock beside it; a
contender's time is the 10th percentile of its calls, and every ratio comes
with a 95% bootstrap interval over rounds.

Noise: each group has an A/A control, the same code timed twice
(`set_adapter again`, a second resident model switching the same way;
`base_only again`, a second copy of the base). Its p10 ratio must be within
1.00 +- 3%; if one is not, the run says TOO NOISY, saves nothing and exits
with status 1. The noise floor of a group is its control's |ratio - 1|; a
contender is called faster or slower than the reference only when its whole
95% interval lies beyond that floor (the verdict printed on its line). With
--save the report replaces docs/assets/data/bench_adapters.txt once every
A/A control has passed.
"""

import argparse
import datetime
import os
import platform
import sys
from collections.abc import Callable

import torch

from lora_ref.multi_adapter import adapter_index, load_peft_adapters, set_adapter_index
from snippets.bench_lora import (
    AA_TOLERANCE,
    CLOCKS,
    MIN_ROUNDS,
    PERCENTILE,
    aa_passed,
    add_timing_arguments,
    finish,
    interval_change,
    other_clock,
    other_ratio,
    parse_timing_args,
    ratio,
    sample,
    time_line,
)
from snippets.common import DATA, ROOT, argument_parser, positive_int

BASE = ROOT / "snippets" / "tutorial" / "assets" / "base"
ADAPTERS = ROOT / "snippets" / "many_adapters" / "assets"
NAMES = ["zh", "en", "from_zh", "from_en"]
OUT = DATA / "bench_adapters.txt"
SEQ_LEN = 32
SWITCHING = ("set_adapter", "hotswap_adapter", "merge_swap", "load_from_disk")
FORWARD = (
    "mixed_batch",
    "sub_batches",
    "merge_per_adapter",
    "lora_ref_mixed",
    "base_only",
)
AGAIN = " again"  # suffix of an A/A control: the reference's code timed twice


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; parsed before anything is loaded or timed."""
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--batches",
        type=positive_int,
        nargs="+",
        default=[4, 16, 64],
        help="batch sizes of the forward pass, each sampled on its own "
        "(default 4 16 64)",
    )
    add_timing_arguments(parser, OUT, seconds=60.0)  # --seconds: per group
    return parse_timing_args(parser, argv)


def base() -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(BASE).eval()


def with_adapters(names: list[str]):
    from peft import PeftModel

    model = PeftModel.from_pretrained(
        base(), ADAPTERS / names[0], adapter_name=names[0]
    )
    for name in names[1:]:
        model.load_adapter(ADAPTERS / name, adapter_name=name)
    return model.eval()


def parameter_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def switching() -> dict[str, Callable[[], None]]:
    """One call = one switch to the next adapter, four ways (+ the A/A control)."""
    from peft import PeftModel
    from peft.utils.hotswap import hotswap_adapter

    resident, again = with_adapters(NAMES), with_adapters(NAMES)
    merged = with_adapters(NAMES)
    merged.merge_adapter()
    hot = PeftModel.from_pretrained(base(), ADAPTERS / NAMES[0]).eval()
    disk = PeftModel.from_pretrained(base(), ADAPTERS / NAMES[0], adapter_name="0")
    disk.eval()
    turn = dict.fromkeys(["resident", "again", "merged", "hot", "disk"], 0)

    def nxt(key: str) -> int:
        turn[key] += 1
        return turn[key]

    def set_adapter(model, key: str) -> Callable[[], None]:
        def run() -> None:
            model.set_adapter(NAMES[nxt(key) % 4])

        return run

    def merge_swap() -> None:
        merged.unmerge_adapter()
        merged.set_adapter(NAMES[nxt("merged") % 4])
        merged.merge_adapter()

    def hotswap() -> None:
        path = ADAPTERS / NAMES[nxt("hot") % 4]
        hotswap_adapter(hot, str(path), adapter_name="default", torch_device="cpu")

    def from_disk() -> None:
        old, new = str(turn["disk"]), str(nxt("disk"))
        disk.load_adapter(ADAPTERS / NAMES[int(new) % 4], adapter_name=new)
        disk.set_adapter(new)
        disk.delete_adapter(old)

    return {
        "set_adapter": set_adapter(resident, "resident"),
        "hotswap_adapter": hotswap,
        "merge_swap": merge_swap,
        "load_from_disk": from_disk,
        "set_adapter" + AGAIN: set_adapter(again, "again"),
    }


def forward(n: int) -> dict[str, Callable[[], None]]:
    """One call = one forward pass of n rows spread evenly over the adapters."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 600, (n, SEQ_LEN), generator=g)
    rows = [NAMES[i % 4] for i in range(n)]
    groups = {a: [i for i, b in enumerate(rows) if b == a] for a in NAMES}
    groups = {a: idx for a, idx in groups.items() if idx}  # n < 4: some unused
    model, plain, plain_again = with_adapters(NAMES), base(), base()
    ours = load_peft_adapters(base(), [ADAPTERS / a for a in NAMES]).eval()
    set_adapter_index(ours, adapter_index(rows, NAMES))

    @torch.no_grad()
    def mixed() -> None:
        model(input_ids=ids, adapter_names=rows)

    @torch.no_grad()
    def sub_batches() -> None:
        for a, idx in groups.items():
            model.set_adapter(a)
            model(input_ids=ids[idx])

    @torch.no_grad()
    def merge_each() -> None:
        for a, idx in groups.items():
            model.set_adapter(a)
            model.merge_adapter()
            model(input_ids=ids[idx])
            model.unmerge_adapter()

    def call(m: torch.nn.Module) -> Callable[[], None]:
        @torch.no_grad()
        def run() -> None:
            m(input_ids=ids)

        return run

    return {
        "mixed_batch": mixed,
        "sub_batches": sub_batches,
        "merge_per_adapter": merge_each,
        "lora_ref_mixed": call(ours),
        "base_only": call(plain),
        "base_only" + AGAIN: call(plain_again),
    }


def verdict(s: dict[str, float], floor: float, reference: str) -> str:
    """Where a ratio's 95% interval lies relative to 1 +- the noise floor."""
    if s["low"] > 1 + floor:
        return f"slower than {reference}"
    if s["high"] < 1 - floor:
        return f"faster than {reference}"
    return f"not separated from {reference}"


def group(
    title: str,
    by_clock: dict[str, dict[str, list[float]]],
    clock: str,
    reference: str,
    control: str,
) -> tuple[list[str], bool, dict[str, dict[str, float]]]:
    """Report lines of one group, whether its A/A control passed, its ratios."""
    primary = by_clock[clock]
    other = by_clock[other_clock(clock)]
    lines = [f"{title}: {len(primary[reference])} rounds"]
    lines += ["  " + time_line(n, t, 22, "8.2f") for n, t in primary.items()]
    stats = {}
    twin = control.removesuffix(AGAIN)  # what the A/A control times again
    for name in primary:
        if name == reference:
            continue
        versus = twin if name == control else reference
        stats[name] = ratio(primary[name], primary[versus])
        stats[name]["other"] = other_ratio(other, name, versus)
    floor = abs(stats[control]["ratio"] - 1)
    passed = aa_passed(stats[control])
    lines.append(
        f"  {'ratio to ' + reference:28} p{PERCENTILE} [95% interval]     min  "
        f"median  p{PERCENTILE} {'wall' if clock == 'cpu' else 'CPU'} clock"
    )
    for name, s in stats.items():
        if name == control:
            note = f"A/A vs {twin}, within 1.00 ± {AA_TOLERANCE:.0%}: " + (
                "PASS" if passed else "FAIL"
            )
        else:
            note = verdict(s, floor, reference)
        lines.append(
            f"  {name:28} {s['ratio']:6.3f} [{s['low']:.3f}, {s['high']:.3f}]  "
            f"{s['min']:6.3f}  {s['median']:6.3f}  {s['other']:9.3f}   {note}"
        )
    lines.append(f"  noise floor (|A/A ratio - 1|): {floor:.3f}")
    return lines, passed, stats


def with_batch(summary: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """Per contender: does its ratio to the mixed batch change from the smallest
    to the largest batch by more than the two 95% intervals allow?"""
    small, large = min(summary), max(summary)
    lines = [f"ratio to mixed_batch from {small} rows to {large} rows (p{PERCENTILE}):"]
    for name in FORWARD[1:]:
        a, b = summary[small][name], summary[large][name]
        change = interval_change(a, b)
        lines.append(f"  {name:18} {a['ratio']:.3f} -> {b['ratio']:.3f}: {change}")
    return lines


def memory() -> list[str]:
    """Resident parameter bytes with N = 0 ... 4 adapters loaded."""
    from peft import PeftModel

    lines = ["resident parameter bytes with N adapters loaded:"]
    model = base()
    base_bytes = parameter_bytes(model)
    lines.append(f"  N = 0: {base_bytes:,} bytes (the base)")
    peft_model = None
    for n, name in enumerate(NAMES, start=1):
        if peft_model is None:
            peft_model = PeftModel.from_pretrained(
                model, ADAPTERS / name, adapter_name=name
            )
        else:
            peft_model.load_adapter(ADAPTERS / name, adapter_name=name)
        extra = parameter_bytes(peft_model) - base_bytes
        lines.append(
            f"  N = {n}: {base_bytes + extra:,} bytes "
            f"(+{extra:,} = {extra / base_bytes:.1%} of the base)"
        )
    return lines


def report(args: argparse.Namespace) -> tuple[str, bool]:
    """Time every group; the report text and whether every A/A control passed."""
    import peft

    load_start = os.getloadavg()
    torch.manual_seed(0)
    times = sample(switching(), args.rounds, args.seconds, args.seed)
    lines, ok, _ = group(
        "switch to the next adapter",
        times,
        args.clock,
        "set_adapter",
        "set_adapter" + AGAIN,
    )
    summary = {}
    for n in args.batches:
        times = sample(forward(n), args.rounds, args.seconds, args.seed)
        more, passed, summary[n] = group(
            f"forward of {n} rows x {SEQ_LEN} tokens over 4 adapters",
            times,
            args.clock,
            "mixed_batch",
            "base_only" + AGAIN,
        )
        lines += more
        ok &= passed
    if len(summary) > 1:
        lines += with_batch(summary)
    lines += memory()

    def load(values: tuple[float, ...]) -> str:
        return " ".join(f"{v:.1f}" for v in values)

    head = [
        f"# {datetime.date.today()}, torch {torch.__version__}, peft "
        f"{peft.__version__}, {platform.machine()} CPU with {os.cpu_count()} "
        f"cores, torch threads: {args.threads}",
        f"# load average (1, 5, 15 min): {load(load_start)} at the start, "
        f"{load(os.getloadavg())} at the end",
        "# tutorial base (4 layers, d_model 128) + 4 task adapters (r = 8, all "
        "linear layers), float32",
        f"# per group: up to {args.rounds} rounds or {args.seconds:g} s (never "
        f"fewer than {MIN_ROUNDS} rounds), every contender once per round, in "
        "shuffled order",
        f"# clock: {CLOCKS[args.clock]}; ratio = p{PERCENTILE}(contender) / "
        f"p{PERCENTILE}(reference) [95% bootstrap interval over rounds]",
        f"# A/A gate: '... again' (the reference's code timed twice) within "
        f"1.00 ± {AA_TOLERANCE:.0%}; a verdict needs the whole interval beyond "
        "1 ± the group's noise floor",
    ]
    return "\n".join(head + lines) + "\n", ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (0: the A/A controls passed)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    text, controls_ok = report(args)
    return finish(text, controls_ok, args.save, OUT)


if __name__ == "__main__":
    sys.exit(main())
