"""Benchmark: forward latency of each PEFT family, as a ratio to the base model.

Run with `make bench` (or `python -m snippets.bench_inference [--save]`). The
shape of the LoRA paper's Table 1 (Hu et al. 2021, arXiv 2106.09685: adapter
layers add latency at small batch, merged LoRA adds none), measured on the
CPU on a small Llama built from a config (random weights: latency does not
depend on the values). Variants, all on the same base weights:

    base             the model itself
    control          a second copy of the base model: the noise floor
    lora_merged      LoRA on q, v (r = 8) merged into the weights
    lora_unmerged    the same LoRA kept as a separate branch
    houlsby          two bottleneck adapters per layer (bottleneck 64)
    pfeiffer         one bottleneck adapter per layer (bottleneck 64)
    prefix           prefix tuning, 20 virtual tokens (keys/values per layer)
    prompt           prompt tuning, 20 virtual tokens (a longer input)

For each batch size the variants run interleaved in rotating order (one
warm-up each), so all see the same machine load; the report gives the min
and the median of each and both as ratios to the base model. With --save it
is also written to docs/assets/data/bench_inference.txt (write to a temporary
file, then replace).
"""

import argparse
import copy
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

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

OUT = Path(__file__).resolve().parents[1] / "docs" / "assets" / "data"
NAME = "bench_inference.txt"
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"also write {NAME}")
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds")
    parser.add_argument("--seq-len", type=int, default=64, help="tokens per input")
    parser.add_argument(
        "--batches", type=int, nargs="+", default=[1, 8], help="batch sizes"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (CPU time = latency at 1)"
    )
    args = parser.parse_args(argv)
    if min(args.rounds, args.seq_len, args.threads, *args.batches) < 1:
        parser.error("--rounds, --seq-len, --batches and --threads must be positive")
    return args


def variants() -> dict:
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

    return {
        "base": plain(base),
        "control": plain(copy.deepcopy(base)),
        "lora_merged": plain(merged),
        "lora_unmerged": plain(lora),
        "houlsby": plain(houlsby),
        "pfeiffer": plain(pfeiffer),
        "prefix": with_prefix,
        "prompt": with_prompt,
    }


@torch.no_grad()
def measure(fns: dict, ids: torch.Tensor, rounds: int) -> dict[str, dict]:
    """Wall-clock and CPU seconds per forward pass of each variant.

    The variants are interleaved in rotating order (a b c, b c a, ...), after
    one warm-up each. CPU time (`time.process_time`) counts only this
    process's work, so on a shared machine it is far less disturbed by other
    processes than the wall clock; with one torch thread it is the latency an
    idle core would see.
    """
    mask = torch.ones_like(ids)
    names = list(fns)
    for name in names:  # warm-up
        fns[name](ids, mask)
    times = {name: {"wall": [], "cpu": []} for name in names}
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            fns[name](ids, mask)
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return times


def report(args: argparse.Namespace) -> str:
    torch.set_num_threads(args.threads)
    fns = variants()
    lines = [
        f"# {datetime.date.today()}, torch {torch.__version__}, "
        f"{platform.machine()} CPU, torch threads: {torch.get_num_threads()}",
        f"# Llama from a config: {SIZES['num_hidden_layers']} layers, d_model "
        f"{SIZES['hidden_size']}, {args.seq_len} tokens per input, float32; "
        f"LoRA r = {R} on q, v; adapters with bottleneck {BOTTLENECK}; "
        f"{N_VIRTUAL} virtual tokens",
        f"# {args.rounds} interleaved rounds in rotating order; cpu = this "
        "process's CPU time (time.process_time), wall = the wall clock; "
        "ratio = variant / base",
    ]
    for n in args.batches:
        g = torch.Generator().manual_seed(n)
        ids = torch.randint(0, SIZES["vocab_size"], (n, args.seq_len), generator=g)
        times = measure(fns, ids, args.rounds)
        base = times["base"]
        cpu_min, cpu_med = min(base["cpu"]), statistics.median(base["cpu"])
        wall_med = statistics.median(base["wall"])
        lines.append(
            f"batch {n:<3}          cpu min  cpu median  wall median  |  ratio:"
            " cpu min  cpu median  wall median"
        )
        for name, t in times.items():
            t_min, t_med = min(t["cpu"]), statistics.median(t["cpu"])
            w_med = statistics.median(t["wall"])
            lines.append(
                f"  {name:<14} {1e3 * t_min:7.1f} ms  {1e3 * t_med:7.1f} ms"
                f"  {1e3 * w_med:8.1f} ms  |  {t_min / cpu_min:14.3f}"
                f"  {t_med / cpu_med:10.3f}  {w_med / wall_med:11.3f}"
            )
    return "\n".join(lines) + "\n"


def save(text: str, out_dir: Path) -> Path:
    """Write `text` to out_dir/NAME through a temporary file and os.replace."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".bench_", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the site must be readable
    path = out_dir / NAME
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    text = report(args)
    print(text, end="")
    if args.save:
        save(text, OUT)


if __name__ == "__main__":
    main()
