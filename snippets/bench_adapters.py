"""Benchmark: serving four LoRA adapters from one base (docs/many-adapters.md).

Run with `make bench` (or `python -m snippets.bench_adapters [--save]`). On the
tutorial's base model with the four task adapters of
snippets/many_adapters/assets (PEFT 0.21.2, float32, CPU), from one run with
the contenders interleaved in rotating order, it prints min and median
seconds and their ratios:

- switching the active adapter: `set_adapter` (all adapters resident) vs
  loading the next one from disk (`load_adapter` + `set_adapter` +
  `delete_adapter`) vs a merged swap (`unmerge_adapter`, `set_adapter`,
  `merge_adapter`) vs `peft.utils.hotswap.hotswap_adapter` (copies the new
  weights into the loaded adapter's tensors);
- one forward pass of a batch whose rows are spread over the four adapters:
  PEFT's mixed batch (`adapter_names=[...]`) vs one sub-batch per adapter
  (`set_adapter` between them) vs merging each adapter into the base for its
  sub-batch vs lora_ref's gathered mixed batch (`MultiLoRALinear`), at a few
  batch sizes, against the base model alone;
- resident parameter bytes with N = 0 ... 4 adapters loaded.

With --save the report is also written to docs/assets/data/bench_adapters.txt
(written to a temporary file, then moved into place).
"""

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import peft
import torch
from peft import PeftModel
from peft.utils.hotswap import hotswap_adapter
from transformers import AutoModelForCausalLM

from lora_ref.multi_adapter import adapter_index, load_peft_adapters, set_adapter_index

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "snippets" / "tutorial" / "assets" / "base"
ADAPTERS = ROOT / "snippets" / "many_adapters" / "assets"
NAMES = ["zh", "en", "from_zh", "from_en"]
OUT = ROOT / "docs" / "assets" / "data" / "bench_adapters.txt"
SEQ_LEN = 32


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of every run of each fn, interleaved in rotating order."""
    names = list(fns)
    for name in names:
        fns[name]()  # warm-up
    times = {name: [] for name in names}
    for i in range(repeats):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(timed(fns[name]))
    return times


def base() -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(BASE).eval()


def with_adapters(names: list[str]) -> PeftModel:
    model = PeftModel.from_pretrained(
        base(), ADAPTERS / names[0], adapter_name=names[0]
    )
    for name in names[1:]:
        model.load_adapter(ADAPTERS / name, adapter_name=name)
    return model.eval()


def parameter_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def switching(repeats: int) -> dict[str, list[float]]:
    """Seconds per switch to the next adapter, four ways."""
    resident, merged, hot = with_adapters(NAMES), with_adapters(NAMES), None
    merged.merge_adapter()
    hot = PeftModel.from_pretrained(base(), ADAPTERS / NAMES[0]).eval()
    disk = PeftModel.from_pretrained(base(), ADAPTERS / NAMES[0], adapter_name="0")
    disk.eval()
    turn = {"resident": 0, "merged": 0, "hot": 0, "disk": 0}

    def nxt(key: str) -> int:
        turn[key] += 1
        return turn[key]

    def set_adapter():
        resident.set_adapter(NAMES[nxt("resident") % 4])

    def merge_swap():
        merged.unmerge_adapter()
        merged.set_adapter(NAMES[nxt("merged") % 4])
        merged.merge_adapter()

    def hotswap():
        path = ADAPTERS / NAMES[nxt("hot") % 4]
        hotswap_adapter(hot, str(path), adapter_name="default", torch_device="cpu")

    def from_disk():
        old, new = str(turn["disk"]), str(nxt("disk"))
        disk.load_adapter(ADAPTERS / NAMES[int(new) % 4], adapter_name=new)
        disk.set_adapter(new)
        disk.delete_adapter(old)

    return side_by_side(
        {
            "set_adapter": set_adapter,
            "hotswap_adapter": hotswap,
            "merge_swap": merge_swap,
            "load_from_disk": from_disk,
        },
        repeats,
    )


def throughput(n: int, repeats: int) -> dict[str, list[float]]:
    """Seconds of one forward pass of n rows spread evenly over the adapters."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 600, (n, SEQ_LEN), generator=g)
    rows = [NAMES[i % 4] for i in range(n)]
    groups = {a: [i for i, b in enumerate(rows) if b == a] for a in NAMES}
    groups = {a: idx for a, idx in groups.items() if idx}  # n < 4: some unused
    model, plain = with_adapters(NAMES), base()
    ours = load_peft_adapters(base(), [ADAPTERS / a for a in NAMES]).eval()
    set_adapter_index(ours, adapter_index(rows, NAMES))

    @torch.no_grad()
    def mixed():
        model(input_ids=ids, adapter_names=rows)

    @torch.no_grad()
    def sub_batches():
        for a, idx in groups.items():
            model.set_adapter(a)
            model(input_ids=ids[idx])

    @torch.no_grad()
    def merge_each():
        for a, idx in groups.items():
            model.set_adapter(a)
            model.merge_adapter()
            model(input_ids=ids[idx])
            model.unmerge_adapter()

    @torch.no_grad()
    def lora_ref_mixed():
        ours(input_ids=ids)

    @torch.no_grad()
    def base_only():
        plain(input_ids=ids)

    return side_by_side(
        {
            "mixed_batch": mixed,
            "sub_batches": sub_batches,
            "merge_per_adapter": merge_each,
            "lora_ref_mixed": lora_ref_mixed,
            "base_only": base_only,
        },
        repeats,
    )


def summary(times: dict[str, list[float]], reference: str, unit: float) -> list[str]:
    """One line per contender: min and median, and median ratio to `reference`."""
    ref = statistics.median(times[reference])
    lines = []
    for name, t in times.items():
        med = statistics.median(t)
        lines.append(
            f"  {name:18} min {min(t) * unit:9.3f}  median {med * unit:9.3f}  "
            f"median/{reference} = {med / ref:6.2f}"
        )
    return lines


def report(switch_repeats: int, forward_repeats: int, batches: list[int]) -> str:
    torch.manual_seed(0)
    lines = [
        f"# {datetime.date.today()}, torch {torch.__version__}, "
        f"peft {peft.__version__}, "
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f} (a shared machine: read ratios)",
        "# tutorial base (4 layers, d_model 128) + 4 task adapters (r = 8, all "
        "linear layers), float32; interleaved repeats in rotating order",
        f"switch to the next adapter, ms ({switch_repeats} repeats):",
    ]
    lines += summary(switching(switch_repeats), "set_adapter", 1e3)
    for n in batches:
        lines.append(
            f"forward of {n} rows x {SEQ_LEN} tokens over 4 adapters, ms "
            f"({forward_repeats} repeats):"
        )
        lines += summary(throughput(n, forward_repeats), "mixed_batch", 1e3)
    lines.append("resident parameter bytes with N adapters loaded:")
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
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"also write {OUT.name}")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs each")
    parser.add_argument(
        "--batches", type=int, nargs="+", default=[4, 16, 64], help="batch sizes"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    text = report(args.repeats, max(3, args.repeats // 2), args.batches)
    print(text, end="")
    if args.save:
        with tempfile.NamedTemporaryFile(
            "w", dir=OUT.parent, delete=False, suffix=".tmp"
        ) as f:
            f.write(text)
        os.replace(f.name, OUT)
    return text


if __name__ == "__main__":
    main()
