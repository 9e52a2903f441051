"""Every PEFT method of the handbook on one task, measured side by side.

    .venv/bin/python -m snippets.experiments.compare              # make compare
    .venv/bin/python -m snippets.experiments.compare --out DIR --quick

The kit of run_all.py (kit.py's MiniLM classifier, data.py's four-class task:
500 training / 100 validation / 200 test sentences, 60 steps of batch 16,
seeds 0, 1, 2; the same splits as `make experiments`) runs each setting of
SETTINGS over its own learning-rate grid, in two worker processes with one
BLAS thread each, and chooses the learning rate on the validation split
exactly as run_all.choose_lrs does (best mean validation accuracy, then lower
validation loss; never the test split). The methods beyond full fine-tuning,
the head and LoRA come from methods.py, which registers them in kit.METHODS.

Honest grids: a setting whose chosen learning rate is at an edge of the grid
it ran (and whose run there did not diverge: every seed's final training loss
finite and their mean below ln 4, a uniform guess) gets one more half-decade
in that direction, all seeds, and is chosen again; at most MAX_EXTENSIONS
times. summary.csv records the learning rates each setting ran and whether
its choice is interior, and if not, why not.

Measured per run by the kit (run_all.run_one): test accuracy, retained
similarity ranking (similarity_spearman: the forgetting measure), trainable
parameters, peak training memory, median step time. Measured here, in the
main process after the pool has closed:

- inference latency at batch 1: every setting's classifier (kit.build: the
  weights do not change the latency), merged with
  methods.merge_for_inference where the method merges, on one real test
  sentence; bench_lora's method (every model once per round in shuffled
  order, the CPU time of one thread, p10 of each model's calls, the ratio
  to the frozen base model with a 95% bootstrap interval over rounds); a
  second copy of the base model is the A/A control;
- adapter size on disk: the bytes of a safetensors file of the trainable
  tensors outside the head, in float32 (full fine-tuning: the whole
  encoder). VeRA's file holds its trained vectors λ_b, λ_d only: its frozen
  shared pair A, B is regenerated from the seed. PEFT stores that pair too
  by default (VeraConfig(save_projection=True)): `peft_default_bytes` says
  what its file would add;
- the trainable count on LLaMA-7B (lora_ref.counts.SHAPES, built on the
  meta device with the same settings: `llama_7b_trainable`).

Budget (FULL), seconds per run on one quiet core (SECONDS): LoRA about 11 s,
full fine-tuning 17 s, head only 6.5 s (the experiments' runs.csv), prompt
tuning 27 s and P-tuning 22 s (20 more tokens per sentence; from the pilot).
20 settings x 3 learning rates x 3 seeds (full fine-tuning: 4) = 183 runs,
about 2,200 core-seconds: about 19 minutes on 2 cores, plus 3 runs per
extension and a minute or two of latency; the limit is 30 minutes (shrink
grids before seeds if it grows). The run prints and writes its own time
(timing.csv, with the load average). Writes into OUT (default
docs/assets/data/compare/) through a temporary folder whose files replace
those in OUT only once everything has succeeded:

- runs.csv: one row per run (run_all.run_one's columns);
- summary.csv: per setting and learning rate: mean, min and max over seeds
  (tables.summarise), the learning rates run, the choice and why;
- table_compare.csv: the chapter's table, one row per setting at its chosen
  learning rate (spread = min-max over seeds);
- latency.csv: the batch-1 latency of every setting against the base model;
- extras_dylora.csv: DyLoRA's test accuracy truncated at each rank;
- extras_adalora.csv: AdaLoRA's final rank per adapted matrix;
- timing.csv: seconds per stage, workers, load average.
"""

import argparse
import math
import multiprocessing
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes

from lora_ref import (
    PrefixTuning,
    PromptEncoder,
    SoftPrompt,
    VeRALinear,
    apply_adalora,
    apply_adapters,
    apply_dora,
    apply_ia3,
    apply_lora,
    apply_vera,
    bias_names,
    parameter_counts,
)
from lora_ref.counts import LINEAR_NAMES, SHAPES
from snippets.bench_lora import PERCENTILE, other_ratio, percentile, ratio, sample
from snippets.common import DATA, r6, read_csv, write_csv
from snippets.experiments import data, kit, methods, run_all, tables

OUT = DATA / "compare"
QV, ALL_LINEAR = run_all.QV, run_all.ALL_LINEAR
MAX_EXTENSIONS = 2
LORA_LRS = (3e-3, 1e-2, 3e-2)


@dataclass(frozen=True)
class Setting:
    """A method with its settings, swept over `lrs` (each with every seed)."""

    name: str
    method: str
    lrs: tuple[float, ...]
    label: str
    targets: tuple[str, ...] = ()
    r: int = 0
    alpha: float = 0.0
    use_rslora: bool = False
    options: tuple[tuple[str, object], ...] = ()


# Initial grids: three half-decades (full fine-tuning four, as in run_all),
# placed by the methods engineer's pilot (/work/cache/pilot.csv: seed 0, 60
# steps, validation accuracy per lr; the chosen lr can still move: see
# extensions_needed). LoRA q, v r = 8 chose 1e-2 in make experiments, 3e-2
# diverged; so did DoRA, DyLoRA and QLoRA in the pilot. PiSSA starts from W0's
# top singular directions and LoRA+ trains B 16 times faster: both peaked a
# half-decade lower. AdaLoRA (Λ starts at 0, A and B small), VeRA and IA³
# (scaling vectors) and the Pfeiffer adapter still improved at the pilot's
# largest lr. rsLoRA at r = 64 scales by 8 / √64 = 1, 8 times LoRA's 8 / 64.
# Prompt tuning and P-tuning learned little at any lr in 60 steps.
QV_R8 = {"targets": QV, "r": 8, "alpha": 8}
SETTINGS = (
    Setting("head_only", "head", (1e-2, 3e-2, 1e-1), "frozen encoder (head only)"),
    Setting("full", "full", (3e-5, 1e-4, 3e-4, 1e-3), "full fine-tuning"),
    Setting("lora_qv_r8", "lora", LORA_LRS, "LoRA q, v, r = 8", **QV_R8),
    Setting("lora_all_r8", "lora", (1e-3, 3e-3, 1e-2), "LoRA all linear, r = 8",
          targets=ALL_LINEAR, r=8, alpha=8),
    Setting("lora_qv_r64", "lora", LORA_LRS, "LoRA q, v, r = 64", targets=QV,
          r=64, alpha=8),
    Setting("rslora_qv_r64", "lora", (3e-4, 1e-3, 3e-3), "rsLoRA q, v, r = 64",
          targets=QV, r=64, alpha=8, use_rslora=True),
    Setting("dora", "dora", LORA_LRS, "DoRA q, v, r = 8", **QV_R8),
    Setting("pissa", "pissa", (1e-3, 3e-3, 1e-2), "PiSSA q, v, r = 8", **QV_R8),
    Setting("loraplus", "loraplus", (3e-4, 1e-3, 3e-3),
          "LoRA+ q, v, r = 8, ratio 16", options=(("ratio", 16),), **QV_R8),
    Setting("vera", "vera", (3e-2, 1e-1, 3e-1), "VeRA q, v, r = 256", targets=QV,
          r=256),
    Setting("adalora", "adalora", (3e-2, 1e-1, 3e-1), "AdaLoRA q, v, r 12 → 8",
          options=(("init_r", 12),), **QV_R8),
    Setting("dylora", "dylora", LORA_LRS, "DyLoRA q, v, r_max = 8", **QV_R8),
    Setting("qlora", "qlora", LORA_LRS, "QLoRA (NF4) q, v, r = 8", **QV_R8),
    Setting("ia3", "ia3", (3e-2, 1e-1, 3e-1), "IA³ (k, v, both output proj.)"),
    Setting("prompt", "prompt", (3e-2, 1e-1, 3e-1), "prompt tuning, 20 tokens",
          options=(("n_virtual", 20),)),
    Setting("ptuning", "ptuning", (1e-4, 3e-4, 1e-3), "P-tuning, 20 tokens",
          options=(("n_virtual", 20),)),
    Setting("prefix", "prefix", (1e-2, 3e-2, 1e-1), "prefix tuning, 20 tokens",
          options=(("n_virtual", 20),)),
    Setting("houlsby", "houlsby", (1e-3, 3e-3, 1e-2),
          "Houlsby adapters, bottleneck 64", options=(("bottleneck", 64),)),
    Setting("pfeiffer", "pfeiffer", (3e-3, 1e-2, 3e-2),
          "Pfeiffer adapter, bottleneck 64", options=(("bottleneck", 64),)),
    Setting("bitfit", "bitfit", (1e-3, 3e-3, 1e-2), "BitFit (biases)"),
)  # fmt: skip
BY_NAME = {s.name: s for s in SETTINGS}
# seconds per FULL run on one quiet core: make experiments' runs.csv for
# full, head and LoRA; the pilot's (on a loaded machine) divided by 2.5, the
# ratio of its LoRA-like runs to make experiments' LoRA, for the rest
SECONDS = {"prompt": 27, "ptuning": 22, "full": 17, "qlora": 14, "prefix": 13,
           "houlsby": 12.5, "dylora": 11, "vera": 11, "ia3": 11, "lora": 11,
           "dora": 10, "bitfit": 10, "adalora": 9, "pissa": 8.5,
           "loraplus": 7.5, "pfeiffer": 6.5, "head": 6.5}  # fmt: skip
# the reduced pipeline: one setting of each kind, plus the two with extras
QUICK_NAMES = ("head_only", "full", "lora_qv_r8", "prompt", "houlsby", "dylora",
               "adalora")  # fmt: skip
QUICK_LRS = {"head_only": (1e-1,), "full": (1e-4,), "lora_qv_r8": (1e-2, 3e-2),
             "prompt": (1e-1,), "houlsby": (1e-3,), "dylora": (1e-2,),
             "adalora": (1e-2,)}  # fmt: skip
FULL = {
    "n_train": 500, "n_val": 100, "n_test": 200, "n_generic": 50,
    "steps": 60, "batch": 16, "seeds": (0, 1, 2), "settings": SETTINGS,
    "max_extensions": MAX_EXTENSIONS, "rounds": 200, "seconds": 90.0,
}  # fmt: skip
QUICK = {
    "n_train": 40, "n_val": 16, "n_test": 24, "n_generic": 10,
    "steps": 3, "batch": 4, "seeds": (0, 1),
    "settings": tuple(Setting(**(vars(BY_NAME[n]) | {"lrs": QUICK_LRS[n]}))
                      for n in QUICK_NAMES),
    "max_extensions": 1, "rounds": 10, "seconds": 1.0,
}  # fmt: skip


# ---------------------------------------------------------------- the plan
def run_config(s: Setting, lr: float, seed: int, cfg: dict) -> kit.RunConfig:
    """One run of setting `s`. For the head only, the swept lr is the head's."""
    head_lr = lr if s.method == "head" else kit.RunConfig.head_lr
    return kit.RunConfig(s.name, s.method, s.targets, s.r, s.alpha, s.use_rslora,
                         lr=lr, head_lr=head_lr, steps=cfg["steps"],
                         batch=cfg["batch"], seed=seed, n_classes=data.N_CLASSES,
                         options=s.options)  # fmt: skip


def plan(cfg: dict, lrs: dict[str, list[float]] | None = None) -> list[kit.RunConfig]:
    """Every setting at each of its learning rates (`lrs`, default its grid),
    every seed; the slowest methods first, so no long run is left to the end
    on one core while the other idles."""
    runs = []
    for s in cfg["settings"]:
        for lr in s.lrs if lrs is None else lrs.get(s.name, ()):
            runs += [run_config(s, lr, seed, cfg) for seed in cfg["seeds"]]
    return sorted(runs, key=lambda run: -SECONDS.get(run.method, 11))


def estimate(runs: list[kit.RunConfig]) -> float:
    """Core-seconds that `runs` take on a quiet core (FULL settings)."""
    return sum(SECONDS.get(run.method, 11) for run in runs)


def half_decade(lr: float, direction: int) -> float:
    """The next value of the 1, 3, 10, 30, ... grid up (+1) or down (-1).

    From a value off that grid, a factor of √10.
    """
    exponent = math.floor(math.log10(lr) + 1e-9)
    mantissa = r6(lr / 10**exponent)
    steps = {(1.0, 1): (3, 0), (3.0, 1): (1, 1), (1.0, -1): (3, -1),
             (3.0, -1): (1, 0)}  # fmt: skip
    if (mantissa, direction) not in steps:
        return r6(lr * 10 ** (0.5 * direction))
    m, shift = steps[(mantissa, direction)]
    return r6(m * 10.0 ** (exponent + shift))


def diverged(rows: list[dict], n_classes: int = data.N_CLASSES) -> bool:
    """Did these runs (one setting, one lr) diverge: a non-finite final loss,
    or a mean final training loss no better than a uniform guess (ln C)?"""
    losses = [float(r["final_loss"]) for r in rows]
    if not all(math.isfinite(x) for x in losses):
        return True
    return statistics.fmean(losses) >= math.log(n_classes)


def extensions_needed(
    rows: list[dict], extended: dict[str, int], limit: int
) -> dict[str, list[float]]:
    """Learning rates to add: a half-decade beyond a chosen edge that did not
    diverge, for settings with fewer than `limit` extensions so far.

    A grid of one value is at both edges and grows both ways.
    """
    chosen = run_all.choose_lrs(rows)
    new = {}
    for name, lr in chosen.items():
        ran = sorted({float(r["lr"]) for r in rows if r["name"] == name})
        here = [r for r in rows if r["name"] == name and float(r["lr"]) == lr]
        if extended.get(name, 0) >= limit or diverged(here):
            continue
        more = []
        if lr == ran[0]:
            more.append(half_decade(lr, -1))
        if lr == ran[-1]:
            more.append(half_decade(lr, +1))
        if more:
            new[name] = more
    return new


def choice_notes(rows: list[dict], extended: dict[str, int], limit: int) -> dict:
    """Per setting: lrs run, extensions used, and whether the choice is interior."""
    chosen = run_all.choose_lrs(rows)
    notes = {}
    for name, lr in chosen.items():
        ran = sorted({float(r["lr"]) for r in rows if r["name"] == name})
        here = [r for r in rows if r["name"] == name and float(r["lr"]) == lr]
        if ran[0] < lr < ran[-1]:
            why = "interior"
        else:
            side = "lowest" if lr == ran[0] else "highest"
            if diverged(here):
                why = f"edge ({side}): diverged or did not learn there, not extended"
            elif extended.get(name, 0) >= limit:
                why = f"edge ({side}): {limit} extension(s) used, the limit"
            else:
                why = f"edge ({side})"
        notes[name] = {
            "lrs_run": " ".join(f"{x:g}" for x in ran),
            "extensions": extended.get(name, 0),
            "lr_choice": why,
        }
    return notes


# ---------------------------------------------------------------- per run
def extras(model: torch.nn.Module, config: kit.RunConfig, sets: dict) -> dict:
    """methods.extras on a trained model, test split (run in the workers)."""
    return methods.extras(model, config, lambda m: kit.evaluate(m, sets["test"]))


# ---------------------------------------------------------------- measured here
def trainable_tensors(model: kit.SentenceClassifier, method: str) -> dict:
    """Name -> float32 copy of what an adapter file holds (the head excluded);
    full fine-tuning: every encoder weight."""
    if method == "full":
        named = model.encoder.named_parameters()
    else:
        head = {id(p) for p in model.head.parameters()}
        named = ((n, p) for n, p in model.named_parameters()
                 if p.requires_grad and id(p) not in head)  # fmt: skip
    return {n: p.detach().float().contiguous().clone() for n, p in named}


def adapter_bytes(model: kit.SentenceClassifier, method: str) -> int:
    """Bytes of a safetensors file of `trainable_tensors` (0 when none)."""
    tensors = trainable_tensors(model, method)
    return len(safetensors_bytes(tensors)) if tensors else 0


def peft_default_bytes(model: kit.SentenceClassifier) -> int:
    """What PEFT's default file adds: VeRA's shared frozen pair A, B (float32,
    stored once: every layer holds the same tensors); 0 for other methods."""
    shared = {}
    for layer in model.encoder.modules():
        if isinstance(layer, VeRALinear):
            shared |= {t.data_ptr(): t for t in (layer.A, layer.B)}
    return sum(4 * t.numel() for t in shared.values())


def merge(model: kit.SentenceClassifier, method: str) -> bool:
    """Merge for serving where the method merges; True if the model is now
    the base architecture's cost (head only and full: nothing to merge)."""
    if method in ("head", "full"):
        return True
    return bool(methods.merge_for_inference(model, method))


def latency_rows(
    settings: tuple[Setting, ...], encoder: torch.nn.Module, batch: dict, cfg: dict
) -> list[dict]:
    """Batch-1 latency of every setting's classifier against the base model."""
    base_config = kit.RunConfig("base", "head", n_classes=data.N_CLASSES)
    models = {"base": kit.build(base_config, encoder),
              "control": kit.build(base_config, encoder)}  # fmt: skip
    merged = {"base": True, "control": True}
    for s in settings:
        model = kit.build(run_config(s, s.lrs[0], 0, cfg), encoder)
        model.eval()
        merged[s.name] = merge(model, s.method)
        models[s.name] = model.eval()

    def forward(model: torch.nn.Module):
        def run() -> None:
            with torch.no_grad():
                model(batch["input_ids"], batch["attention_mask"])

        return run

    contenders = {name: forward(m) for name, m in models.items()}
    times = sample(contenders, cfg["rounds"], cfg["seconds"], seed=0)
    cpu, wall = times["cpu"], times["wall"]
    rows = []
    for name in models:
        if name == "base":
            s = {"ratio": 1.0, "low": 1.0, "high": 1.0, "min": 1.0, "median": 1.0}
        else:
            s = ratio(cpu[name], cpu["base"])
        rows.append({
            "setting": name, "merged": "yes" if merged[name] else "no",
            "rounds": len(cpu[name]),
            "p10_ms": r6(1000 * percentile(cpu[name], PERCENTILE)),
            "ratio": r6(s["ratio"]), "low": r6(s["low"]), "high": r6(s["high"]),
            "min_ratio": r6(s["min"]), "median_ratio": r6(s["median"]),
            "wall_ratio": r6(other_ratio(wall, name, "base")),
        })  # fmt: skip
    return rows


def llama_7b_trainable(s: Setting) -> int:
    """Trainable parameters of setting `s` applied to LLaMA-7B (meta device).

    The same method settings, LLaMA's names: W_q, W_v for the LoRA family
    (every linear layer of a block for lora_all), IA³ on k, v and the FFN's
    down projection (PEFT's Llama default), prompt methods with their
    number of virtual tokens, adapters with their bottleneck. PiSSA and
    QLoRA train exactly LoRA's A and B: PiSSA's SVD only picks their starting
    values (and moves the top-r part out of W0), QLoRA only stores W0 in NF4;
    LoRA+ only changes B's learning rate; DyLoRA trains r_max's tensors.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    shape = SHAPES["LLaMA-7B"]
    config = AutoConfig.for_model(**shape.config_kwargs())
    targets = list(LINEAR_NAMES) if s.targets == ALL_LINEAR else ["q_proj", "v_proj"]
    n_virtual = int(dict(s.options).get("n_virtual", 20))
    bottleneck = int(dict(s.options).get("bottleneck", 64))

    def llama() -> torch.nn.Module:
        return AutoModelForCausalLM.from_config(config)

    def size(module: torch.nn.Module) -> int:
        return parameter_counts(module).trainable

    with torch.device("meta"):
        if s.method == "head":
            return 0
        if s.method == "full":
            return parameter_counts(llama()).total
        if s.method in ("lora", "pissa", "loraplus", "dylora", "qlora"):
            return size(apply_lora(llama(), targets, r=s.r, alpha=s.alpha))
        if s.method == "dora":
            return size(apply_dora(llama(), targets, r=s.r, alpha=s.alpha))
        if s.method == "vera":
            return size(apply_vera(llama(), targets, r=s.r))
        if s.method == "adalora":  # trained at the initial rank while it searches
            model = llama()
            apply_adalora(model, targets, r=int(dict(s.options)["init_r"]))
            return size(model)
        if s.method == "ia3":
            model = apply_ia3(llama(), ["k_proj", "v_proj", "down_proj"],
                              ["down_proj"])  # fmt: skip
            return size(model)
        if s.method == "prompt":
            return size(SoftPrompt(n_virtual, shape.hidden))
        if s.method == "ptuning":
            return size(PromptEncoder(n_virtual, shape.hidden))
        if s.method == "prefix":
            return size(PrefixTuning(shape.layers, n_virtual, shape.kv_heads,
                                     shape.head_dim))  # fmt: skip
        if s.method in ("houlsby", "pfeiffer"):
            return size(apply_adapters(llama(), s.method, bottleneck))
        if s.method == "bitfit":
            model = llama()
            names = set(bias_names(model))
            return sum(p.numel() for n, p in model.named_parameters() if n in names)
    raise ValueError(f"no LLaMA-7B count for method {s.method!r}")


# ---------------------------------------------------------------- tables
def table_rows(summary: list[dict], latency: list[dict], settings: tuple) -> list:
    """table_compare.csv: one row per setting at its chosen learning rate."""
    chosen = {s["name"]: s for s in summary if s["chosen"] == 1}
    full = chosen["full"]
    by_latency = {row["setting"]: row for row in latency}
    rows = []
    for s in settings:
        c = chosen[s.name]
        lat = by_latency[s.name]
        rows.append({
            "setting": s.label,
            "trainable (encoder)": f"{int(c['trainable']):,}",
            "% of encoder": f"{c['trainable_pct']:.3g}%",
            "LLaMA-7B trainable": f"{int(c['llama_7b_trainable']):,}",
            "lr (chosen)": tables.lr_text(float(c["lr"])),
            "lr choice": c["lr_choice"],
            "test accuracy": tables.spread(c, "accuracy"),
            "vs full FT": "—" if c is full else tables.compare(c, full),
            "similarity kept (Spearman)": tables.spread(c, "similarity_spearman"),
            "peak memory (MiB)": tables.spread(c, "peak_mib", 0),
            "step time / full FT": tables.spread(c, "step_ratio", 2),
            "latency / base, batch 1": f"{float(lat['ratio']):.2f} "
            f"[{float(lat['low']):.2f}, {float(lat['high']):.2f}]",
            "merged": lat["merged"],
            "adapter file": size_text(int(c["adapter_bytes"])),
        })  # fmt: skip
    return rows


def size_text(n: int) -> str:
    """Bytes as B, kB or MB (powers of 1000)."""
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.3g} kB"
    return f"{n / 1e6:.3g} MB"


def add_step_ratio(rows: list[dict], chosen: dict[str, float]) -> None:
    """Each run's step time over full fine-tuning's median step time (at its
    chosen lr), measured in the same run of the kit: `step_ratio`."""
    full = [float(r["step_time_ms"]) for r in rows
            if r["name"] == "full" and r["lr"] == chosen["full"]]  # fmt: skip
    median = statistics.median(full)
    for row in rows:
        row["step_ratio"] = r6(float(row["step_time_ms"]) / median)


def summarise(rows: list[dict], chosen: dict, notes: dict, static: dict) -> list:
    """tables.summarise, plus step_ratio's spread, the lr notes and the
    per-setting measurements (sizes, counts) of `static`."""
    order = {name: i for i, name in enumerate(static)}
    summary = sorted(tables.summarise(rows, chosen),
                     key=lambda row: (order[row["name"]], row["lr"]))  # fmt: skip
    for row in summary:
        values = [float(r["step_ratio"]) for r in rows
                  if r["name"] == row["name"] and r["lr"] == row["lr"]]  # fmt: skip
        row["step_ratio_mean"] = r6(statistics.fmean(values))
        row["step_ratio_min"] = r6(min(values))
        row["step_ratio_max"] = r6(max(values))
        row |= notes[row["name"]] | static[row["name"]]
    return summary


# ---------------------------------------------------------------- driver
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """`--out DIR`, `--quick`, `--cache DIR`, `--workers N`, `--tables-only`
    (and `--help`)."""

    def tables_only(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--tables-only",
            action="store_true",
            help="no training: rewrite table_compare.csv (and summary.csv's "
            "labels) from the summary.csv and latency.csv already in OUT",
        )

    return run_all.kit_arguments(__doc__, OUT, argv, tables_only)


def rewrite_tables(out: Path, settings: tuple = SETTINGS) -> None:
    """table_compare.csv again from OUT's summary.csv and latency.csv, with the
    labels of `settings` (a change of label or format needs no training)."""
    summary = read_csv(out / "summary.csv")
    labels = {s.name: s.label for s in settings}
    for row in summary:
        row["label"] = labels[row["name"]]
    typed = [row | {"chosen": int(row["chosen"]),
                    "trainable_pct": float(row["trainable_pct"])}
             for row in summary]  # fmt: skip
    latency = read_csv(out / "latency.csv")
    write_csv(out / "summary.csv", summary)
    write_csv(out / "table_compare.csv", table_rows(typed, latency, settings))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.tables_only:
        rewrite_tables(args.out)
        return
    run_all.run_into(args, run)


def split_data(cfg: dict) -> tuple[dict, list[str]]:
    """run_all's splits: validation carved from the training sentences."""
    task = data.make_task(cfg["n_train"] + cfg["n_val"], cfg["n_test"], seed=0)
    split = {"train": task["train"][: cfg["n_train"]],
             "val": task["train"][cfg["n_train"] :], "test": task["test"]}  # fmt: skip
    return split, data.make_generic(cfg["n_generic"], seed=1)


def run(
    out: Path, quick: bool = False, workers: int = 2, cache: Path | None = None
) -> None:
    """The whole comparison (FULL, or QUICK), CSVs into `out`."""
    torch.set_num_threads(1)
    cfg = QUICK if quick else FULL
    settings = cfg["settings"]
    watch = run_all.Stopwatch()

    split, generic = split_data(cfg)
    phase1 = plan(cfg)
    minutes = estimate(phase1) / workers / 60
    print(f"plan: {len(phase1)} runs of {len(settings)} settings on {workers} "
          f"workers (about {minutes:.0f} min on quiet cores), then up to "
          f"{cfg['max_extensions']} grid extension(s)", flush=True)  # fmt: skip
    context = multiprocessing.get_context("spawn")
    extended: dict[str, int] = {}
    args = (split, generic, cache, extras)
    with context.Pool(workers, run_all._init_worker, args) as pool:
        results = run_all._pool_map(pool, phase1, 0, len(phase1))
        watch.lap(f"sweeps ({len(phase1)} runs)")
        for i in range(cfg["max_extensions"]):
            rows = [row for row, _ in results]
            new = extensions_needed(rows, extended, cfg["max_extensions"])
            if not new:
                break
            more = plan(cfg, new)
            print(f"extension {i + 1}: " + ", ".join(
                f"{n} {' '.join(f'{x:g}' for x in lrs)}" for n, lrs in new.items()),
                flush=True)  # fmt: skip
            results += run_all._pool_map(pool, more, len(results),
                                         len(results) + len(more))  # fmt: skip
            for name in new:
                extended[name] = extended.get(name, 0) + 1
            watch.lap(f"extension {i + 1} ({len(more)} runs)")
    rows = [row for row, _ in results]
    chosen = run_all.choose_lrs(rows)
    notes = choice_notes(rows, extended, cfg["max_extensions"])
    add_step_ratio(rows, chosen)

    tokenizer, encoder = kit.load_minilm()
    encoder_total = sum(p.numel() for p in encoder.parameters())
    static = {}
    for s in settings:
        model = kit.build(run_config(s, s.lrs[0], 0, cfg), encoder)
        trainable = next(int(r["trainable"]) for r in rows if r["name"] == s.name)
        static[s.name] = {
            "label": s.label,
            "options": " ".join(f"{k}={v}" for k, v in s.options),
            "trainable_pct": r6(100 * trainable / encoder_total),
            "encoder_total": encoder_total,
            "adapter_bytes": adapter_bytes(model, s.method),
            "peft_default_bytes": peft_default_bytes(model),
            "llama_7b_trainable": llama_7b_trainable(s),
        }
    sentence = split["test"][0][0]  # one real test sentence, batch of 1
    batch = kit.tokenize(tokenizer, [sentence])
    latency = latency_rows(settings, encoder, batch, cfg)
    watch.lap(f"latency ({cfg['rounds']} rounds at most) and sizes")

    summary = summarise(rows, chosen, notes, static)
    write_csv(out / "runs.csv", rows)
    write_csv(out / "summary.csv", summary)
    typed = [s | {"chosen": int(s["chosen"])} for s in summary]
    write_csv(out / "table_compare.csv", table_rows(typed, latency, settings))
    write_csv(out / "latency.csv", latency)
    write_extras(out, results, chosen)
    watch.write(out / "timing.csv", workers, len(rows))


def write_extras(out: Path, results: list, chosen: dict[str, float]) -> None:
    """extras_dylora.csv and extras_adalora.csv from methods.extras' returns
    ("accuracy_r<r>" for DyLoRA, "rank.<module>" for AdaLoRA), every run."""
    dylora, adalora = [], []
    for row, kept in results:
        where = {"name": row["name"], "lr": row["lr"], "seed": row["seed"],
                 "chosen": int(chosen[row["name"]] == row["lr"])}  # fmt: skip
        for key, value in (kept.get("after") or {}).items():
            if key.startswith("accuracy_r"):
                r = int(key.removeprefix("accuracy_r"))
                dylora.append(where | {"r": r, "accuracy": r6(value)})
            elif key.startswith("rank."):
                module = key.removeprefix("rank.")
                adalora.append(where | {"module": module, "final_rank": int(value)})
    dylora.sort(key=lambda x: (x["lr"], x["seed"], x["r"]))
    write_csv(out / "extras_dylora.csv", dylora)
    write_csv(out / "extras_adalora.csv", adalora)


if __name__ == "__main__":
    main()
