"""Run every experiment behind the Experiments chapters and write their CSVs.

    .venv/bin/python -m snippets.experiments.run_all                 # the full kit
    .venv/bin/python -m snippets.experiments.run_all --out DIR --quick  # tests' version

Fine-tunes the packaged MiniLM encoder (kit.py) on the generated "two
verdicts" task (data.py, four classes), in two worker processes with one
BLAS thread each. Phase 1: every setting (full fine-tuning, head only, LoRA
at a rank or target set) runs at each learning rate of its own sweep with
three seeds; its learning rate is then chosen on a validation split carved
from the training sentences (highest mean validation accuracy, ties broken by
lower mean validation loss), never on the test split. For the head-only
setting the swept learning rate is the head's (the only part that trains);
every other setting's head trains at RunConfig.head_lr = 1e-3. Phase 2, at
the chosen learning rates: full fine-tuning and LoRA q, v r = 8 on 50, 100,
200 and 400 training sentences (a fresh random subset per seed), and two
alpha rules at r = 64 at the learning rate that keeps lr * scaling equal to
alpha = 8's.

Budget (FULL: 60 steps of batch 16, 500 training sentences), measured: the
runs.csv committed in e9f93bc (two workers on two cores), column `seconds`
summed per group; medians per run: head only 7 s, LoRA 12 s, full
fine-tuning 19 s.

    | group                          | settings | lrs  | seeds | runs | core-s |
    |--------------------------------|----------|------|-------|------|--------|
    | frozen encoder (head only)     | 1        | 4    | 3     | 12   | 84     |
    | full fine-tuning               | 1        | 4    | 3     | 12   | 295    |
    | LoRA q, v, alpha 8, r 1, 8, 64 | 3        | 3    | 3     | 27   | 305    |
    | data size 50, 100, 200, 400    | 2        | 1    | 3     | 24   | 386    |
    | LoRA targets, equal budget     | 2        | 4, 3 | 3     | 21   | 271    |
    | alpha rules at r = 64          | 2        | 1    | 3     | 6    | 71     |
    | total                          |          |      |       | 102  | 1412   |

Wall time of that run: 733 s (12 minutes), within the 25-minute budget
(timing.csv); the 1-minute load average at the end of each run was 1.92 to
3.04 (runs.csv, column `load`; the two workers alone make about 2). Shrink
steps before seeds if a grid grows. Writes into OUT
(default docs/assets/data/experiments/) through a temporary folder whose
files replace those in OUT only once everything has finished:

- data_*.csv: the generated train / val / test / generic sentences;
- runs.csv: one row per run (accuracies, losses, forgetting, parameters,
  measured step time and peak memory, the run's wall seconds and the load
  average at its end);
- summary.csv: mean, min and max over seeds per setting, learning rate and
  training-set size, and which learning rate validation chose;
- spectra.csv: singular-value energy and Eckart-Young error of each ΔW of the
  chosen full fine-tuning (3 seeds), and of a Gaussian matrix of the same
  shape and norm;
- grassmann.csv: LoRA section 7.2 subspace similarity, r = 8 vs r = 64;
- alignment.csv: LoRA section 7.3 / Table 7, ‖Uᵀ W0 V‖_F for U, V from ΔW;
- table_*.csv: the tables the chapters render (tables.py);
- timing.csv: wall-clock seconds of each stage, workers, load average.

Everything is seeded; the chapters docs/low-rank.md, docs/choosing-rank.md,
docs/forgetting.md and docs/hyperparameters.md read these files.
"""

import argparse
import hashlib
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from lora_ref import lora_layers, lora_scaling, parameter_counts
from lora_ref.lora import LoRALinear
from lora_ref.spectra import (
    eckart_young_error,
    energy_captured,
    gaussian_like,
    projection_norm,
    subspace_similarity,
    top_singular_vectors,
)
from snippets.common import (
    EXPERIMENTS,
    ROOT,
    argument_parser,
    positive_int,
    r6,
    write_csv,
)
from snippets.experiments import data, kit, tables

OUT = EXPERIMENTS
QV = ("query", "value")
QKVO = ("query", "key", "value", "attention.output.dense")
ALL_LINEAR = QKVO + ("intermediate.dense", "output.dense")
ATTENTION = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "output": "attention.output.dense",
}
# r at which spectra.csv records energy and error (all r up to 16, then sparser)
SPECTRA_R = tuple(range(1, 17)) + (24, 32, 48, 64, 96, 128, 192, 256, 384)


@dataclass(frozen=True)
class Setting:
    """A configuration swept over `lrs` (each with every seed)."""

    name: str
    method: str
    lrs: tuple[float, ...]
    targets: tuple[str, ...] = ()
    r: int = 0
    alpha: float = 0.0
    use_rslora: bool = False


def lora(name: str, targets: tuple, r: int, lrs: tuple, **kw) -> Setting:
    return Setting(name, "lora", lrs, targets, r, kw.pop("alpha", 8), **kw)


# Learning-rate grids (three or four half-decades per LoRA setting, each choice
# inside its grid; a pilot at r = 8
# found 3e-3 too slow and 3e-2 divergent), and four for full fine-tuning, from
# too small to learn in the budget (3e-5) to divergent (1e-3). The head-only
# setting sweeps the head's own learning rate (plan() sets head_lr = lr): a
# 384 x 4 linear layer on fixed features needs a far larger one than the
# 1e-3 every other setting's head gets (at 1e-3 it stayed near chance).
HEAD_LRS = (1e-3, 1e-2, 3e-2, 1e-1)
FULL_SETTINGS = (
    Setting("head_only", "head", HEAD_LRS),
    Setting("full", "full", (3e-5, 1e-4, 3e-4, 1e-3)),
    lora("qv_r1", QV, 1, (3e-3, 1e-2, 3e-2)),
    lora("qv_r8", QV, 8, (3e-3, 1e-2, 3e-2)),
    lora("qv_r64", QV, 64, (3e-3, 1e-2, 3e-2)),
    # target sets at an equal budget with qv_r8 (73,728 trainable; all
    # linear at r = 2: 82,944), as in LoRA Table 5
    # 1e-3 added after validation chose 3e-3, the bottom of (3e-3, 1e-2, 3e-2)
    lora("qkvo_r4", QKVO, 4, (1e-3, 3e-3, 1e-2, 3e-2)),
    lora("all_r2", ALL_LINEAR, 2, (1e-3, 3e-3, 1e-2)),
)
# alpha rules at r = 64, run in phase 2 at the learning rate that keeps
# lr * scaling equal to qv_r64's validated choice (Hu et al. 2021, section 4.1:
# with Adam, tuning alpha is roughly tuning the learning rate): alpha = 2r
# (scaling 2) and rsLoRA (scaling 8 / sqrt(64) = 1), against alpha / r = 1/8.
ALPHA_RULES = (
    lora("qv_r64_a2r", QV, 64, (), alpha=128),
    lora("qv_r64_rs", QV, 64, (), use_rslora=True),
)
QUICK_SETTINGS = (
    Setting("head_only", "head", (1e-3, 1e-1)),
    Setting("full", "full", (1e-4, 1e-3)),
    lora("qv_r8", QV, 8, (1e-2, 3e-2)),
    lora("qv_r64", QV, 64, (3e-2,)),
)
FULL = {
    "n_train": 500, "n_val": 100, "n_test": 200, "n_generic": 50,
    "steps": 60, "batch": 16, "seeds": (0, 1, 2), "sizes": (50, 100, 200, 400),
    "settings": FULL_SETTINGS, "alpha_rules": ALPHA_RULES,
}  # fmt: skip
QUICK = {
    "n_train": 40, "n_val": 16, "n_test": 24, "n_generic": 10,
    "steps": 3, "batch": 4, "seeds": (0, 1), "sizes": (8,),
    "settings": QUICK_SETTINGS, "alpha_rules": ALPHA_RULES,
}  # fmt: skip
SIZE_SETTINGS = ("full", "qv_r8")  # the data-size ablation's two methods
KEEP = ("full", "qv_r8", "qv_r64")  # runs whose weights the analyses need


def plan(cfg: dict) -> list[kit.RunConfig]:
    """Phase 1: every setting at every learning rate of its sweep, every seed.

    For the head-only setting the swept learning rate is the head's (it is
    the only thing that trains); every other setting sweeps the encoder's
    trainable part and keeps the head at RunConfig's default head_lr.
    """
    runs = []
    for s in cfg["settings"]:
        for lr in s.lrs:
            head = {"head_lr": lr} if s.method == "head" else {}
            for seed in cfg["seeds"]:
                runs.append(
                    kit.RunConfig(s.name, s.method, s.targets, s.r, s.alpha,
                                  s.use_rslora, lr=lr, steps=cfg["steps"],
                                  batch=cfg["batch"], seed=seed,
                                  n_classes=data.N_CLASSES, **head)
                )  # fmt: skip
    return runs


def plan_phase2(cfg: dict, chosen: dict[str, float]) -> list[kit.RunConfig]:
    """Phase 2, at the learning rates validation chose: the data-size ablation,
    and the alpha rules at r = 64 with lr * scaling held at qv_r64's choice."""
    runs = []
    for base in plan(cfg):
        if base.name in SIZE_SETTINGS and base.lr == chosen[base.name]:
            runs += [replace(base, n_examples=n) for n in cfg["sizes"]]
    base_scaling = lora_scaling(64, 8)
    for s in cfg["alpha_rules"]:
        lr = r6(
            chosen["qv_r64"] * base_scaling / lora_scaling(s.r, s.alpha, s.use_rslora)
        )
        for seed in cfg["seeds"]:
            runs.append(
                kit.RunConfig(s.name, s.method, s.targets, s.r, s.alpha,
                              s.use_rslora, lr=lr, steps=cfg["steps"],
                              batch=cfg["batch"], seed=seed,
                              n_classes=data.N_CLASSES)
            )  # fmt: skip
    return runs


def choose_lrs(rows: list[dict]) -> dict[str, float]:
    """Per setting: the lr with the best mean validation accuracy (full data).

    Ties are broken by the lower mean validation loss. The test split is not
    looked at.
    """
    by = {}
    for row in rows:
        if row["n_examples"] == 0:
            by.setdefault((row["name"], row["lr"]), []).append(row)
    best = {}
    for (name, lr), group in by.items():
        acc = statistics.fmean(r["val_accuracy"] for r in group)
        loss = statistics.fmean(r["val_loss"] for r in group)
        key = (acc, -loss)
        if name not in best or key > best[name][0]:
            best[name] = (key, lr)
    return {name: lr for name, (_, lr) in best.items()}


# ---------------------------------------------------------------- workers
_STATE: dict = {}


def _init_worker(
    task: dict,
    generic: list[str],
    cache: Path | None = None,
    after: Callable[[torch.nn.Module, kit.RunConfig, dict], dict] | None = None,
) -> None:
    """Load MiniLM and tokenize the data once per worker process.

    `after(model, config, sets)`, if given (a module-level function, so the
    pool can pickle it), runs on each trained model; what it returns is kept
    as the run's `kept["after"]` (compare.py's per-method extras).
    """
    torch.set_num_threads(1)  # one BLAS thread per worker, two workers
    _STATE.update(cache=cache, data_key=repr((task, generic)), after=after)
    tokenizer, encoder = kit.load_minilm()
    sets = {}
    for split, pairs in task.items():
        sets[split] = kit.tokenize(tokenizer, [t for t, _ in pairs])
        sets[split]["labels"] = torch.tensor([y for _, y in pairs])
    generic_batch = kit.tokenize(tokenizer, generic)
    frozen = kit.build(kit.RunConfig("pretrained", "head"), encoder)
    _STATE.update(encoder=encoder, sets=sets, generic=generic_batch,
                  E0=kit.embeddings(frozen, generic_batch))  # fmt: skip


def subset(train: dict, n: int, seed: int) -> dict:
    """`n` training examples drawn at random (seeded): a new subset per seed."""
    if n == 0:
        return train
    g = torch.Generator().manual_seed(1000 + seed)
    idx = torch.randperm(train["labels"].shape[0], generator=g)[:n]
    return {key: value[idx] for key, value in train.items()}


def cached(config: kit.RunConfig) -> tuple[dict, dict]:
    """run_one, through the --cache folder when one is given (else run it)."""
    folder = _STATE.get("cache")
    if folder is None:
        return run_one(config)
    key = hashlib.sha256(repr((config, _STATE["data_key"])).encode()).hexdigest()
    path = Path(folder) / f"{config.name}-{key[:16]}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    result = run_one(config)
    tmp = path.with_suffix(".tmp")
    torch.save(result, tmp)
    os.replace(tmp, path)
    return result


def run_one(config: kit.RunConfig) -> tuple[dict, dict]:
    """Train and measure one run; return its CSV row and any weights KEEP needs."""
    start = time.perf_counter()
    sets = _STATE["sets"]
    train = subset(sets["train"], config.n_examples, config.seed)
    model, log = kit.train(config, _STATE["encoder"], train)
    trainable, total = parameter_counts(model)
    head = sum(p.numel() for p in model.head.parameters())
    val, test = kit.evaluate(model, sets["val"]), kit.evaluate(model, sets["test"])
    E1 = kit.embeddings(model, _STATE["generic"])
    measured = {
        "step_time_ms": log["step_time_ms"],
        "peak_mib": log["peak_mib"],
        "final_loss": log["final_loss"],
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
        "accuracy": test["accuracy"],
        **kit.agreement(_STATE["E0"], E1),
    }
    row = {
        "name": config.name, "method": config.method,
        "targets": "+".join(config.targets), "r": config.r,
        "alpha": config.alpha, "rslora": int(config.use_rslora),
        "lr": config.lr, "head_lr": config.head_lr, "seed": config.seed,
        "n_examples": config.n_examples,
        "steps": config.steps, "batch": config.batch,
        "trainable": trainable - head, "total": total,
    }  # fmt: skip
    row |= {key: r6(v) for key, v in measured.items()}
    kept = {}
    if _STATE.get("after") is not None:
        kept["after"] = _STATE["after"](model, config, sets)
    if config.name in KEEP and config.n_examples == 0:
        if config.method == "full":
            kept["W1"] = attention_weights(model.encoder)
        else:
            kept["lora"] = {
                name: (layer.A.detach().clone(), layer.B.detach().clone(),
                       layer.scaling)
                for name, layer in lora_layers(model.encoder).items()
            }  # fmt: skip
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["load"] = round(os.getloadavg()[0], 2)  # 1-minute load average at the end
    return row, kept


# ---------------------------------------------------------------- analyses
def attention_weights(encoder: torch.nn.Module) -> dict[tuple[int, str], torch.Tensor]:
    """{(layer, "query"|"key"|"value"|"output"): W} for every attention matrix."""
    weights = {}
    for i, layer in enumerate(encoder.encoder.layer):
        for short, path in ATTENTION.items():
            module = layer.get_submodule(path)
            W = module.W0 if isinstance(module, LoRALinear) else module.weight
            weights[(i, short)] = W.detach().clone()
    return weights


def spectra_rows(
    W0s: dict[tuple[int, str], torch.Tensor],
    W1s: dict[tuple[int, str], torch.Tensor],
    seed: int = 0,
    ranks: tuple[int, ...] | None = None,
) -> list[dict]:
    """Energy and Eckart-Young error of each real ΔW, and of a Gaussian twin."""
    rows, generator = [], torch.Generator().manual_seed(seed)
    for (layer, module), W0 in W0s.items():
        delta_W = W1s[(layer, module)] - W0
        random = gaussian_like(delta_W, generator)
        for kind, M in (("finetune", delta_W), ("gaussian", random)):
            S = torch.linalg.svdvals(M.double())
            energy, error = energy_captured(M), eckart_young_error(M)
            for r in ranks or range(1, S.shape[0] + 1):
                if r > S.shape[0]:
                    continue
                rows.append({"seed": seed, "layer": layer, "module": module,
                             "kind": kind, "r": r, "sigma": r6(S[r - 1]),
                             "energy": r6(energy[r - 1]),
                             "error": r6(error[r - 1])})  # fmt: skip
    return rows


def grassmann_rows(small: dict, large: dict, seed: int = 0) -> list[dict]:
    """φ(i, j) between right-singular vectors of A (r = 8) and A (r = 64), §7.2."""
    rows = []
    for name, (A8, _, _) in small.items():
        A64 = large[name][0]
        U8 = top_singular_vectors(A8, A8.shape[0], side="right")  # (k, 8)
        U64 = top_singular_vectors(A64, A64.shape[0], side="right")  # (k, 64)
        layer, module = int(name.split(".")[2]), name.rsplit(".", 1)[-1]
        for i in range(1, U8.shape[1] + 1):
            for j in range(1, U64.shape[1] + 1):
                phi = r6(subspace_similarity(U8, U64, i, j))
                rows.append({"seed": seed, "layer": layer, "module": module,
                             "i": i, "j": j, "phi": phi})  # fmt: skip
    return rows


def alignment_rows(
    W0s: dict[tuple[int, str], torch.Tensor],
    W1s: dict[tuple[int, str], torch.Tensor],
    source: str,
    ranks: tuple[int, ...],
    seed: int = 0,
) -> list[dict]:
    """‖Uᵀ W0 V‖_F for U, V the top-r singular vectors of ΔW, of W0, of random."""
    rows, generator, top = [], torch.Generator().manual_seed(seed), max(ranks)
    for (layer, module), W1 in W1s.items():
        W0 = W0s[(layer, module)]
        delta_W = W1 - W0
        d, k = W0.shape
        U_dw = top_singular_vectors(delta_W, top)  # one SVD each, sliced per r
        V_dw = top_singular_vectors(delta_W, top, "right")
        U_w0 = top_singular_vectors(W0, top)
        V_w0 = top_singular_vectors(W0, top, "right")
        for r in ranks:
            q_u = torch.linalg.qr(
                torch.randn(d, r, generator=generator, dtype=torch.float64)
            )[0]
            q_v = torch.linalg.qr(
                torch.randn(k, r, generator=generator, dtype=torch.float64)
            )[0]
            proj = {
                "proj_delta_w": projection_norm(W0, U_dw[:, :r], V_dw[:, :r]),
                "proj_w0": projection_norm(W0, U_w0[:, :r], V_w0[:, :r]),
                "proj_random": projection_norm(W0, q_u, q_v),
                "norm_delta_w": float(delta_W.double().norm()),
                "norm_w0": float(W0.double().norm()),
                "phi_left_delta_w0": subspace_similarity(U_dw, U_w0, r, r),
            }
            where = {"source": source, "seed": seed, "layer": layer,
                     "module": module, "r": r}  # fmt: skip
            rows.append(where | {key: r6(v) for key, v in proj.items()})
    return rows


def lora_W1s(W0s: dict, kept: dict) -> dict[tuple[int, str], torch.Tensor]:
    """W0 + ΔW (ΔW = scaling B A) of each LoRA layer, keyed like W0s."""
    out = {}
    for name, (A, B, scaling) in kept.items():
        key = (int(name.split(".")[2]), name.rsplit(".", 1)[-1])
        out[key] = W0s[key] + scaling * (B @ A)
    return out


# ---------------------------------------------------------------- driver
def kit_arguments(
    doc: str,
    out: Path,
    argv: list[str] | None,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """`--out DIR`, `--quick`, `--cache DIR`, `--workers N` (and `--help`): the
    arguments of every kit driver (this one and compare.py); `more` adds a
    driver's own."""
    parser = argument_parser(doc)
    if more is not None:
        more(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=out,
        help=f"directory for the CSVs (default: {out.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the reduced configuration the tests run (seconds, not minutes)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep each finished run in this folder and reuse it when the same "
        "run (settings and data) is asked for again: an interrupted kit resumes",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="worker processes, one thread each (default 2: one per core)",
    )
    return parser.parse_args(argv)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The kit's arguments (`kit_arguments`), parsed before any work."""
    return kit_arguments(__doc__, OUT, argv)


def run_into(args: argparse.Namespace, run_fn: Callable[..., None]) -> None:
    """Run `run_fn` into a temporary folder beside `args.out`, then move its
    files in: a failed or interrupted run leaves the committed CSVs as they were."""
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = f".{args.out.name}."
    with tempfile.TemporaryDirectory(prefix=prefix, dir=args.out.parent) as tmp:
        if args.cache is not None:
            args.cache.mkdir(parents=True, exist_ok=True)
        run_fn(Path(tmp), quick=args.quick, workers=args.workers, cache=args.cache)
        for path in sorted(Path(tmp).iterdir()):
            os.replace(path, args.out / path.name)


def main(argv: list[str] | None = None) -> None:
    run_into(parse_args(argv), run)


def _pool_map(pool, configs: list[kit.RunConfig], done: int, total: int) -> list:
    """Run `configs` on the pool (longest first); results in plan order."""
    cost = {"full": 0, "lora": 1, "head": 2}
    order = sorted(range(len(configs)), key=lambda i: cost.get(configs[i].method, 1))
    results = [None] * len(configs)
    jobs = pool.imap_unordered(_indexed, [(i, configs[i]) for i in order])
    for i, result in jobs:
        results[i] = result
        done += 1
        row = result[0]
        print(f"[{done}/{total}] {row['name']} lr={row['lr']:g} seed={row['seed']} "
              f"n={row['n_examples'] or 'all'}: val {row['val_accuracy']:.3f} "
              f"test {row['accuracy']:.3f} ρ {row['similarity_spearman']:.3f} "
              f"({row['seconds']} s)", flush=True)  # fmt: skip
    return results


def _indexed(job: tuple[int, kit.RunConfig]) -> tuple[int, tuple[dict, dict]]:
    i, config = job
    return i, cached(config)


class Stopwatch:
    """Wall-clock seconds of each stage of a kit run, written as timing.csv
    with the worker count, the number of runs and the load average."""

    def __init__(self) -> None:
        self.clock, self.stages = time.perf_counter(), []
        self.load_start = os.getloadavg()[0]

    def lap(self, stage: str) -> None:
        """Close a stage: the seconds since the previous lap (or the start)."""
        now = time.perf_counter()
        self.stages.append({"stage": stage, "seconds": round(now - self.clock, 1)})
        self.clock = now
        print(f"{stage}: {self.stages[-1]['seconds']} s", flush=True)

    def write(self, path: Path, workers: int, runs: int) -> None:
        """timing.csv: every stage, then the total; `runs` is the whole run's."""
        wall = round(sum(t["seconds"] for t in self.stages), 1)
        load_end = os.getloadavg()[0]
        rows = self.stages + [{"stage": "total", "seconds": wall}]
        for t in rows:
            t |= {"workers": workers, "runs": runs,
                  "load_start": round(self.load_start, 2),
                  "load_end": round(load_end, 2)}  # fmt: skip
        write_csv(path, rows)
        print(f"total: {wall} s ({runs} runs, {workers} workers, load average "
              f"{self.load_start:.1f} at start, {load_end:.1f} at end)",
              flush=True)  # fmt: skip


def run(
    out: Path, quick: bool = False, workers: int = 2, cache: Path | None = None
) -> None:
    """Every experiment of the FULL (or QUICK) configuration, CSVs into `out`."""
    torch.set_num_threads(1)
    cfg = QUICK if quick else FULL
    watch = Stopwatch()

    pool_size = cfg["n_train"] + cfg["n_val"]
    task = data.make_task(pool_size, cfg["n_test"], seed=0)
    # the validation split is carved from the training sentences
    split = {"train": task["train"][: cfg["n_train"]],
             "val": task["train"][cfg["n_train"] :], "test": task["test"]}  # fmt: skip
    generic = data.make_generic(cfg["n_generic"], seed=1)
    for name, pairs in split.items():
        write_csv(out / f"data_{name}.csv",
                  [{"text": t, "label": y} for t, y in pairs])  # fmt: skip
    write_csv(out / "data_generic.csv", [{"text": t} for t in generic])
    phase1 = plan(cfg)
    n_seeds = len(cfg["seeds"])
    n_sizes = len(SIZE_SETTINGS) * len(cfg["sizes"]) * n_seeds
    total = len(phase1) + n_sizes + len(cfg["alpha_rules"]) * n_seeds
    print(f"plan: {total} runs ({len(phase1)} in learning-rate sweeps, "
          f"{total - len(phase1)} at the chosen rates) on {workers} workers",
          flush=True)  # fmt: skip
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _init_worker, (split, generic, cache)) as pool:
        results = _pool_map(pool, phase1, 0, total)
        watch.lap(f"sweeps ({len(phase1)} runs)")
        chosen = choose_lrs([row for row, _ in results])
        phase2 = plan_phase2(cfg, chosen)
        results += _pool_map(pool, phase2, len(phase1), total)
        watch.lap(f"data sizes and alpha rules ({len(phase2)} runs)")
    chosen |= {s.name: row["lr"] for s in cfg["alpha_rules"] for row, _ in results
               if row["name"] == s.name}  # fmt: skip
    rows = [row for row, _ in results]
    write_csv(out / "runs.csv", rows)
    write_csv(out / "summary.csv", tables.summarise(rows, chosen))

    _, encoder = kit.load_minilm()
    W0s = attention_weights(encoder)
    kept = {}
    for row, extra in results:
        if extra and row["lr"] == chosen[row["name"]]:
            kept[(row["name"], row["seed"])] = extra
    spectra, grassmann, alignment = [], [], []
    for seed in cfg["seeds"]:
        W1s = kept[("full", seed)]["W1"]
        spectra += spectra_rows(W0s, W1s, seed, SPECTRA_R)
        small, large = kept[("qv_r8", seed)]["lora"], kept[("qv_r64", seed)]["lora"]
        grassmann += grassmann_rows(small, large, seed)
        full_qv = {key: W for key, W in W1s.items() if key[1] in QV}
        alignment += alignment_rows(W0s, full_qv, "full", (1, 8, 64), seed)
        alignment += alignment_rows(W0s, lora_W1s(W0s, small), "qv_r8", (1, 8), seed)
    write_csv(out / "spectra.csv", spectra)
    write_csv(out / "grassmann.csv", grassmann)
    write_csv(out / "alignment.csv", alignment)
    tables.write_tables(out)
    watch.lap("analyse updates and write tables")
    watch.write(out / "timing.csv", workers, len(rows))


if __name__ == "__main__":
    main()
