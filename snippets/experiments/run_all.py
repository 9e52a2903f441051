"""Run every experiment behind the Experiments chapters and write their CSVs.

    .venv/bin/python -m snippets.experiments.run_all                 # the full kit
    .venv/bin/python -m snippets.experiments.run_all --out DIR --quick  # tests' version

Fine-tunes the packaged MiniLM encoder (kit.py) on the generated
"two verdicts" task (data.py, four classes): once fully, and with lora_ref's LoRA at
several ranks, target sets, alphas and learning rates. Writes into OUT
(default docs/assets/data/experiments/), through a temporary folder whose
files replace those in OUT only once every run has finished:

- data_*.csv: the generated train / test / generic sentences;
- runs.csv: one row per run (accuracy, forgetting, parameters, step time);
- spectra.csv: singular-value energy and Eckart-Young error of each ΔW of full
  fine-tuning, and of a Gaussian matrix of the same shape and norm;
- grassmann.csv: LoRA section 7.2 subspace similarity, r = 8 vs r = 64;
- alignment.csv: LoRA section 7.3 / Table 7, ‖Uᵀ W0 Vᵀ‖_F for U, V from ΔW;
- timing.csv: wall-clock seconds of each stage (a measurement of this machine).

Everything is seeded; the chapters docs/low-rank.md, docs/choosing-rank.md,
docs/forgetting.md and docs/hyperparameters.md read these files.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from lora_ref import lora_layers, parameter_counts
from lora_ref.lora import LoRALinear
from lora_ref.spectra import (
    energy_captured,
    gaussian_like,
    projection_norm,
    subspace_similarity,
    top_singular_vectors,
)
from snippets.common import EXPERIMENTS, argument_parser, r6, write_csv
from snippets.experiments import data, kit

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

FULL = {
    "n_train": 600, "n_test": 400, "n_generic": 120, "steps": 60, "batch": 16,
    "ranks": (1, 2, 4, 8, 16, 32, 64), "grid_ranks": (2, 8, 32),
    "lrs": (3e-4, 1e-3, 3e-3, 1e-2), "full_lr": 5e-5, "lora_lr": 3e-3,
    "targets": True,
}  # fmt: skip
QUICK = {
    "n_train": 48, "n_test": 32, "n_generic": 12, "steps": 3, "batch": 8,
    "ranks": (8, 64), "grid_ranks": (8,), "lrs": (3e-3,), "full_lr": 5e-5,
    "lora_lr": 3e-3, "targets": False,
}  # fmt: skip


def plan(cfg: dict) -> list[kit.RunConfig]:
    """Every run, named; duplicates (same settings) are run once."""
    common = {"steps": cfg["steps"], "batch": cfg["batch"], "n_classes": data.N_CLASSES}
    lora = {"method": "lora", "lr": cfg["lora_lr"], **common}
    runs = [
        kit.RunConfig("head_only", "head", **common),
        kit.RunConfig("full", "full", lr=cfg["full_lr"], **common),
    ]
    for r in cfg["ranks"]:  # rank ablation, alpha fixed (LoRA section 4.1)
        runs.append(kit.RunConfig(f"qv_r{r}", targets=QV, r=r, alpha=8, **lora))
    if cfg["targets"]:  # equal r = 8, then an equal budget of about 12k per layer
        sets = [("qkvo_r8", QKVO, 8), ("all_r8", ALL_LINEAR, 8),
                ("qkvo_r4", QKVO, 4), ("all_r2", ALL_LINEAR, 2)]  # fmt: skip
        for name, targets, r in sets:
            runs.append(kit.RunConfig(name, targets=targets, r=r, alpha=8, **lora))
    for r in cfg["grid_ranks"]:  # alpha / r coupling
        runs.append(kit.RunConfig(f"qv_r{r}", targets=QV, r=r, alpha=8, **lora))
        runs.append(kit.RunConfig(f"qv_r{r}_a2r", targets=QV, r=r, alpha=2 * r, **lora))
        runs.append(
            kit.RunConfig(
                f"qv_r{r}_rs", targets=QV, r=r, alpha=8, use_rslora=True, **lora
            )
        )
    for lr in cfg["lrs"]:  # learning rate at r = 8, alpha = 8
        settings = {**lora, "lr": lr}
        runs.append(
            kit.RunConfig(f"qv_r8_lr{lr:g}", targets=QV, r=8, alpha=8, **settings)
        )
    unique: dict[tuple, kit.RunConfig] = {}
    for run in runs:
        key = (run.method, run.targets, run.r, run.alpha, run.use_rslora, run.lr)
        unique.setdefault(key, run)
    return list(unique.values())


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
    W0s: dict[tuple[int, str], torch.Tensor], W1s: dict[tuple[int, str], torch.Tensor]
) -> list[dict]:
    """Energy and Eckart-Young error of each real ΔW, and of a Gaussian twin."""
    rows, generator = [], torch.Generator().manual_seed(0)
    for (layer, module), W0 in W0s.items():
        delta_W = W1s[(layer, module)] - W0
        random = gaussian_like(delta_W, generator)
        for kind, M in (("finetune", delta_W), ("gaussian", random)):
            S = torch.linalg.svdvals(M.double())
            energy = energy_captured(M)
            error = (1 - energy).clamp_min(0).sqrt()  # = eckart_young_error(M)
            for r in range(1, S.shape[0] + 1):
                rows.append({"layer": layer, "module": module, "kind": kind, "r": r,
                             "sigma": r6(S[r - 1]), "energy": r6(energy[r - 1]),
                             "error": r6(error[r - 1])})  # fmt: skip
    return rows


def grassmann_rows(
    model8: kit.SentenceClassifier, model64: kit.SentenceClassifier
) -> list[dict]:
    """φ(i, j) between right-singular vectors of A (r = 8) and A (r = 64), §7.2."""
    rows = []
    layers8, layers64 = lora_layers(model8.encoder), lora_layers(model64.encoder)
    for name, small in layers8.items():
        U8 = top_singular_vectors(small.A, small.r, side="right")  # (k, 8)
        U64 = top_singular_vectors(layers64[name].A, layers64[name].r, side="right")
        layer, module = int(name.split(".")[2]), name.rsplit(".", 1)[-1]
        for i in range(1, U8.shape[1] + 1):
            for j in range(1, U64.shape[1] + 1):
                phi = r6(subspace_similarity(U8, U64, i, j))
                rows.append(
                    {"layer": layer, "module": module, "i": i, "j": j, "phi": phi}
                )
    return rows


def alignment_rows(
    W0s: dict[tuple[int, str], torch.Tensor],
    W1s: dict[tuple[int, str], torch.Tensor],
    source: str,
    ranks: tuple[int, ...],
) -> list[dict]:
    """‖Uᵀ W0 V‖_F for U, V the top-r singular vectors of ΔW, of W0, of random."""
    rows, generator, top = [], torch.Generator().manual_seed(0), max(ranks)
    for (layer, module), W1 in W1s.items():
        W0 = W0s[(layer, module)]
        delta_W = W1 - W0
        d, k = W0.shape
        # one SVD each, sliced for every r
        U_dw, V_dw = (
            top_singular_vectors(delta_W, top),
            top_singular_vectors(delta_W, top, "right"),
        )
        U_w0, V_w0 = (
            top_singular_vectors(W0, top),
            top_singular_vectors(W0, top, "right"),
        )
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
            where = {"source": source, "layer": layer, "module": module, "r": r}
            rows.append(where | {key: r6(v) for key, v in proj.items()})
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """`--out DIR`, `--quick` (and `--help`); anything else is a usage error."""
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help="directory for the CSVs (default: docs/assets/data/experiments)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the reduced configuration the tests run (seconds, not minutes)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # build everything in a temporary folder beside OUT, then move it in: a
    # failed or interrupted run leaves the committed CSVs as they were
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = f".{args.out.name}."
    with tempfile.TemporaryDirectory(prefix=prefix, dir=args.out.parent) as tmp:
        run(Path(tmp), quick=args.quick)
        for path in sorted(Path(tmp).iterdir()):
            os.replace(path, args.out / path.name)


def run(out: Path, quick: bool = False) -> None:
    """Every experiment of the FULL (or QUICK) configuration, CSVs into `out`."""
    # one thread: on a shared 2-core machine two threads were up to 6x slower
    torch.set_num_threads(1)
    cfg = QUICK if quick else FULL
    clock, timing = time.perf_counter(), []

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timing.append({"stage": stage, "seconds": round(now - clock, 1)})
        clock = now
        print(f"{stage}: {timing[-1]['seconds']} s", flush=True)

    task = data.make_task(cfg["n_train"], cfg["n_test"], seed=0)
    generic = data.make_generic(cfg["n_generic"], seed=1)
    for split in ("train", "test"):
        write_csv(out / f"data_{split}.csv",
                  [{"text": t, "label": y} for t, y in task[split]])  # fmt: skip
    write_csv(out / "data_generic.csv", [{"text": t} for t in generic])
    tokenizer, encoder = kit.load_minilm()
    sets = {}
    for split in ("train", "test"):
        sets[split] = kit.tokenize(tokenizer, [t for t, _ in task[split]])
        sets[split]["labels"] = torch.tensor([y for _, y in task[split]])
    generic_batch = kit.tokenize(tokenizer, generic)
    pretrained = kit.build(
        kit.RunConfig("pretrained", "head", n_classes=data.N_CLASSES), encoder
    )
    E0 = kit.embeddings(pretrained, generic_batch)
    W0s = attention_weights(encoder)
    lap("load model and data")

    rows, kept = [], {}
    for run in plan(cfg):
        model, log = kit.train(run, encoder, sets["train"])
        trainable, total = parameter_counts(model)
        E1 = kit.embeddings(model, generic_batch)
        measured = {
            "model_state_mb": kit.model_state_bytes(model) / 2**20,
            "step_time_ms": log["step_time_ms"],
            "final_loss": log["final_loss"],
            "accuracy": kit.accuracy(model, sets["test"]),
            **kit.agreement(E0, E1),
        }
        head = sum(p.numel() for p in model.head.parameters())
        settings = {
            "name": run.name, "method": run.method, "targets": "+".join(run.targets),
            "r": run.r, "alpha": run.alpha, "rslora": int(run.use_rslora),
            "lr": run.lr, "steps": run.steps, "batch": run.batch,
            "trainable": trainable - head, "total": total,
        }  # fmt: skip
        rows.append(settings | {key: r6(v) for key, v in measured.items()})
        if run.name in ("full", "qv_r8", "qv_r64"):
            kept[run.name] = model
        lap(f"train {run.name}")
    write_csv(out / "runs.csv", rows)

    W1s = attention_weights(kept["full"].encoder)
    write_csv(out / "spectra.csv", spectra_rows(W0s, W1s))
    write_csv(out / "grassmann.csv", grassmann_rows(kept["qv_r8"], kept["qv_r64"]))
    lora_W1s = {}
    for name, layer in lora_layers(kept["qv_r8"].encoder).items():
        key = (int(name.split(".")[2]), name.rsplit(".", 1)[-1])
        lora_W1s[key] = (layer.W0 + layer.delta_weight()).detach()
    ranks = (1, 8, 64) if not quick else (1, 8)
    full_qv = {key: W for key, W in W1s.items() if key[1] in QV}
    write_csv(out / "alignment.csv",
              alignment_rows(W0s, full_qv, "full", ranks)
              + alignment_rows(W0s, lora_W1s, "qv_r8", (1, 8)))  # fmt: skip
    lap("analyse updates")
    total = round(sum(t["seconds"] for t in timing), 1)
    timing.append({"stage": "total", "seconds": total})
    write_csv(out / "timing.csv", timing)
    print(f"total: {total} s", flush=True)


if __name__ == "__main__":
    main()
