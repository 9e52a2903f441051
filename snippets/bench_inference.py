"""Benchmark: forward latency of each PEFT family, as a ratio to the base model.

Run with `make bench` (or `python -m snippets.bench_inference [--save]`). The
shape of the question behind the LoRA paper's Table 1 (Hu et al. 2021, arXiv
2106.09685: adapter layers add latency at small batch, merged LoRA adds none),
measured on the CPU on a small Llama built from a config (random weights:
latency does not depend on the values). Variants, all on the same base
weights:

    base             the model itself
    control          a second copy of the base model (A/A control)
    lora_merged      LoRA on q, v (r = 8) merged into the weights: merge_lora
                     puts plain nn.Linear layers back, so this is the base
                     architecture again (a second A/A control)
    lora_unmerged    the same LoRA kept as a separate branch
    houlsby          two bottleneck adapters per layer (bottleneck 64)
    pfeiffer         one bottleneck adapter per layer (bottleneck 64)
    prefix           prefix tuning, 20 virtual tokens (keys/values per layer)
    prompt           prompt tuning, 20 virtual tokens (a longer input)

Method: the one of snippets/bench_lora.py, whose functions this script
imports (docs/benchmarks.md explains it). For each batch size every variant
is called once per round in a freshly shuffled order; one torch thread, each
call timed by that thread's CPU time (time.thread_time), the wall clock
beside it; each variant's time is the 10th percentile of its calls, and each
ratio to the base model comes with a 95% bootstrap interval over rounds.

Noise: `control` and `lora_merged` run the same code as `base`, so their
ratios must be within 1.00 +- 3% at every batch size; if one is not, the run
says TOO NOISY, saves nothing and exits with status 1. The noise floor of a
statistic is the largest |ratio - 1| of the two controls; a variant is called
slower (or faster) than the base only when its whole 95% interval lies beyond
that floor. With two or more batch sizes the report also says, per variant,
whether its ratio changes between the smallest and the largest batch by more
than the two intervals allow. With --save the report replaces
docs/assets/data/bench_inference.txt (the Beyond LoRA page) once the A/A
controls have passed.
"""

import argparse
import copy
import datetime
import os
import platform
import statistics
import sys
from collections.abc import Callable

import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from lora_ref import (
    PrefixTuning,
    SoftPrompt,
    apply_adapters,
    apply_lora,
    extend_attention_mask,
    lora_layers,
    merge_lora,
)
from snippets.bench_lora import (
    AA_TOLERANCE,
    CLOCKS,
    MIN_ROUNDS,
    PERCENTILE,
    add_timing_arguments,
    parse_timing_args,
    percentile,
    ratio,
    sample,
)
from snippets.common import DATA, argument_parser, positive_int, write_text

OUT = DATA / "bench_inference.txt"
SIZES = {
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "vocab_size": 1000,
    "max_position_embeddings": 512,
}
N_VIRTUAL, BOTTLENECK, R = 20, 64, 8
NAMES = (
    "base",
    "control",
    "lora_merged",
    "lora_unmerged",
    "houlsby",
    "pfeiffer",
    "prefix",
    "prompt",
)
CONTROLS = ("control", "lora_merged")  # the base architecture: A/A controls
STATISTICS = ("ratio", "min", "median", "other")  # p10, min, median, other clock


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; parsed before anything is built or timed."""
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--seq-len", type=positive_int, default=64, help="tokens per input (64)"
    )
    parser.add_argument(
        "--batches",
        type=positive_int,
        nargs="+",
        default=[1, 8],
        help="batch sizes, each sampled on its own (default 1 8)",
    )
    add_timing_arguments(parser, OUT, seconds=90.0)  # --seconds: per batch size
    return parse_timing_args(parser, argv)


def variants() -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """name -> a function (ids, mask) -> logits, all on the same base weights."""
    torch.manual_seed(0)
    config = LlamaConfig(**SIZES)
    base = LlamaForCausalLM(config).eval()
    lora = apply_lora(copy.deepcopy(base), ["q_proj", "v_proj"], r=R, alpha=16)
    for layer in lora_layers(lora).values():  # B != 0: the branch does real work
        torch.nn.init.normal_(layer.B, std=0.01)
    merged = merge_lora(copy.deepcopy(lora))
    houlsby = apply_adapters(copy.deepcopy(base), "houlsby", BOTTLENECK)
    pfeiffer = apply_adapters(copy.deepcopy(base), "pfeiffer", BOTTLENECK)
    head_dim = config.hidden_size // config.num_attention_heads
    prefix = PrefixTuning(
        config.num_hidden_layers, N_VIRTUAL, config.num_key_value_heads, head_dim
    )
    prompt = SoftPrompt(N_VIRTUAL, config.hidden_size)

    def plain(model):
        def run(ids, mask):
            return model(input_ids=ids, attention_mask=mask).logits

        return run

    def with_prefix(ids, mask):
        cache = DynamicCache(prefix.key_values(ids.shape[0]), config=config)
        full_mask = extend_attention_mask(mask, N_VIRTUAL)
        out = base(input_ids=ids, attention_mask=full_mask, past_key_values=cache)
        return out.logits

    def with_prompt(ids, mask):
        embeds, full_mask = prompt(base.get_input_embeddings()(ids), mask)
        return base(inputs_embeds=embeds, attention_mask=full_mask).logits

    fns = {
        "base": plain(base),
        "control": plain(copy.deepcopy(base)),
        "lora_merged": plain(merged),
        "lora_unmerged": plain(lora),
        "houlsby": plain(houlsby),
        "pfeiffer": plain(pfeiffer),
        "prefix": with_prefix,
        "prompt": with_prompt,
    }
    assert tuple(fns) == NAMES
    return fns


def measure(args: argparse.Namespace) -> dict[int, dict[str, dict[str, list]]]:
    """{batch size: bench_lora.sample's {clock: {variant: seconds per call}}}."""
    fns = variants()
    times = {}
    for n in args.batches:
        g = torch.Generator().manual_seed(n)
        ids = torch.randint(0, SIZES["vocab_size"], (n, args.seq_len), generator=g)
        mask = torch.ones_like(ids)
        contenders = {name: forward(fn, ids, mask) for name, fn in fns.items()}
        times[n] = sample(contenders, args.rounds, args.seconds, args.seed)
    return times


def forward(fn: Callable, ids: torch.Tensor, mask: torch.Tensor) -> Callable[[], None]:
    """A call of `fn` on this batch without autograd: one timed sample."""

    def run() -> None:
        with torch.no_grad():
            fn(ids, mask)

    return run


def verdict(s: dict[str, float], floor: float) -> str:
    """Where a ratio's 95% interval lies relative to 1 +- the noise floor."""
    if s["low"] > 1 + floor:
        return "slower, clears the noise floor"
    if s["high"] < 1 - floor:
        return "faster, clears the noise floor"
    return "within the noise floor"


def header(args: argparse.Namespace, load_start: tuple[float, ...]) -> list[str]:
    """The report's first lines: when, what, where, how loaded, how measured."""
    import transformers

    def load(values: tuple[float, ...]) -> str:
        return " ".join(f"{v:.1f}" for v in values)

    return [
        f"# {datetime.date.today()}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, {platform.machine()} CPU with "
        f"{os.cpu_count()} cores (os.cpu_count), torch threads: {args.threads}",
        f"# load average (1, 5, 15 min): {load(load_start)} at the start, "
        f"{load(os.getloadavg())} at the end",
        f"# Llama from a config: {SIZES['num_hidden_layers']} layers, d_model "
        f"{SIZES['hidden_size']}, {args.seq_len} tokens per input, float32; "
        f"LoRA r = {R} on q, v; adapters with bottleneck {BOTTLENECK}; "
        f"{N_VIRTUAL} virtual tokens",
        f"# per batch size: up to {args.rounds} rounds or {args.seconds:g} s "
        f"(never fewer than {MIN_ROUNDS} rounds), every variant once per round, "
        "in shuffled order",
        f"# clock: {CLOCKS[args.clock]}; ratio = p{PERCENTILE}(variant) / "
        f"p{PERCENTILE}(base) [95% bootstrap interval over rounds]",
        f"# noise floor of a statistic: the largest |ratio - 1| of {CONTROLS[0]} "
        f"and {CONTROLS[1]} (the base architecture); A/A gate: their p"
        f"{PERCENTILE} ratios within 1.00 ± {AA_TOLERANCE:.0%}",
    ]


def report(
    times: dict[int, dict[str, dict[str, list]]],
    args: argparse.Namespace,
    load_start: tuple[float, ...] = (0.0, 0.0, 0.0),
) -> tuple[str, bool]:
    """The report text, and whether every A/A control passed."""
    other_clock = "wall" if args.clock == "cpu" else "cpu"
    lines = header(args, load_start)
    controls_ok, summary = True, {}
    for n, by_clock in times.items():
        primary, other = by_clock[args.clock], by_clock[other_clock]
        lines.append(f"batch {n}: {len(primary['base'])} rounds")
        for name in NAMES:
            ms = [1000 * t for t in primary[name]]
            lines.append(
                f"  time {name:14} p{PERCENTILE} {percentile(ms, PERCENTILE):8.1f} "
                f"ms, min {min(ms):8.1f} ms, median {statistics.median(ms):8.1f} ms"
            )
        stats = {}
        for name in NAMES[1:]:
            stats[name] = ratio(primary[name], primary["base"])
            stats[name]["other"] = percentile(other[name], PERCENTILE) / percentile(
                other["base"], PERCENTILE
            )
        floor = {
            key: max(abs(stats[c][key] - 1) for c in CONTROLS) for key in STATISTICS
        }
        lines.append(
            f"  {'ratio to base':16} p{PERCENTILE} [95% interval]        min  median"
            f"  p{PERCENTILE} {other_clock} clock"
        )
        for name in NAMES[1:]:
            s = stats[name]
            if name in CONTROLS:
                ok = abs(s["ratio"] - 1) <= AA_TOLERANCE
                controls_ok &= ok
                note = f"A/A within 1.00 ± {AA_TOLERANCE:.0%}: " + (
                    "PASS" if ok else "FAIL"
                )
            else:
                note = verdict(s, floor["ratio"])
            lines.append(
                f"  {name:16} {s['ratio']:.3f} [{s['low']:.3f}, {s['high']:.3f}]  "
                f"{s['min']:6.3f}  {s['median']:6.3f}  {s['other']:14.3f}   {note}"
            )
        lines.append(
            f"  {'noise floor':16} {floor['ratio']:.3f}{'':19}{floor['min']:6.3f}  "
            f"{floor['median']:6.3f}  {floor['other']:14.3f}"
        )
        summary[n] = stats
    if len(summary) > 1:
        lines += with_batch(summary)
    return "\n".join(lines) + "\n", controls_ok


def with_batch(summary: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """Per variant: does the p10 ratio change from the smallest to the largest
    batch by more than the two 95% intervals allow (they do not overlap)?"""
    small, large = min(summary), max(summary)
    lines = [f"ratio from batch {small} to batch {large} (p{PERCENTILE}):"]
    for name in NAMES[1:]:
        if name in CONTROLS:
            continue
        a, b = summary[small][name], summary[large][name]
        if b["high"] < a["low"]:
            change = "shrinks (the intervals do not overlap)"
        elif b["low"] > a["high"]:
            change = "grows (the intervals do not overlap)"
        else:
            change = "no clear change (the intervals overlap)"
        lines.append(f"  {name:16} {a['ratio']:.3f} -> {b['ratio']:.3f}: {change}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (0: the A/A controls passed)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    text, controls_ok = report(measure(args), args, load_start)
    print(text, end="")
    if not controls_ok:
        print(
            "TOO NOISY: an A/A control (the base architecture timed again) is "
            f"outside 1.00 ± {AA_TOLERANCE:.0%}, so the ratios above are not "
            "measurements. Nothing saved; rerun on a quieter machine (or with "
            "more --rounds).",
            file=sys.stderr,
        )
        return 1
    if args.save:
        write_text(OUT, text)
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
