"""Summaries and page tables from the kit's runs: mean and min-max over seeds.

`summarise` turns runs.csv's rows into summary.csv (one row per setting,
learning rate and training-set size); `write_tables` turns summary.csv and
spectra.csv into the `table_*.csv` files the chapters render with
mkdocs-table-reader-plugin. Rerun the tables alone, without training:

    .venv/bin/python -m snippets.experiments.tables [--out DIR]

The spread shown is min-max over the seeds (3 in the full kit). Two settings
are called different only when their min-max ranges do not overlap.
"""

import statistics
from collections import Counter, defaultdict
from pathlib import Path

from snippets.common import EXPERIMENTS, argument_parser, r6, read_csv, write_csv

LABELS = {
    "head_only": "frozen encoder (head only)",
    "full": "full fine-tuning",
    "qv_r1": "LoRA q, v, r = 1",
    "qv_r4": "LoRA q, v, r = 4",
    "qv_r8": "LoRA q, v, r = 8",
    "qv_r16": "LoRA q, v, r = 16",
    "qv_r64": "LoRA q, v, r = 64",
    "qkvo_r4": "LoRA q, k, v, o, r = 4",
    "all_r2": "LoRA all linear, r = 2",
    "qv_r64_a2r": "LoRA q, v, r = 64, α = 2r",
    "qv_r64_rs": "LoRA q, v, r = 64, rsLoRA",
}
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
METRICS = ("accuracy", "val_accuracy", "val_loss", "similarity_spearman",
           "embedding_cosine", "step_time_ms", "peak_mib")  # fmt: skip


def summarise(rows: list[dict], chosen: dict[str, float]) -> list[dict]:
    """One row per (setting, lr, n_examples): mean, min, max of each metric."""
    groups = defaultdict(list)
    for row in rows:
        key = (row["name"], float(row["lr"]), int(row["n_examples"]))
        groups[key].append(row)
    out = []
    for (name, lr, n), group in groups.items():
        first = group[0]
        row = {key: first[key] for key in
               ("name", "method", "targets", "r", "alpha", "rslora")}  # fmt: skip
        row |= {"lr": lr, "n_examples": n, "trainable": first["trainable"],
                "seeds": len(group), "chosen": int(chosen.get(name) == lr)}  # fmt: skip
        for metric in METRICS:
            values = [float(g[metric]) for g in group]
            row[f"{metric}_mean"] = r6(statistics.fmean(values))
            row[f"{metric}_min"] = r6(min(values))
            row[f"{metric}_max"] = r6(max(values))
        out.append(row)
    return out


def spread(row: dict, metric: str, digits: int = 3) -> str:
    """'mean (min–max)' of a summary row's metric."""
    f = f"{{:.{digits}f}}"
    mean, low, high = (f.format(float(row[f"{metric}_{s}"]))
                       for s in ("mean", "min", "max"))  # fmt: skip
    return f"{mean} ({low}–{high})"


def compare(a: dict, b: dict, metric: str = "accuracy") -> str:
    """'higher' / 'lower' if a's min-max range clears b's, else 'within spread'."""
    if float(a[f"{metric}_min"]) > float(b[f"{metric}_max"]):
        return "higher"
    if float(a[f"{metric}_max"]) < float(b[f"{metric}_min"]):
        return "lower"
    return "within spread"


def lr_text(lr: float) -> str:
    """3 × 10⁻⁴ style: readable, and not re-parsed as a number by the table."""
    mantissa, exponent = f"{lr:e}".split("e")
    mantissa = f"{float(mantissa):.3g}"
    power = "10" + str(int(exponent)).translate(SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa} × {power}"


def pareto_front(points: list[dict], x: str, y: str) -> list[dict]:
    """Points no other point beats on both x and y (higher is better on both)."""
    front = []
    for p in points:
        dominated = any(
            q[x] >= p[x] and q[y] >= p[y] and (q[x] > p[x] or q[y] > p[y])
            for q in points
        )
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p[x])


def pareto_points(summary: list[dict]) -> list[dict]:
    """Every (setting, lr) at full data: gain over the frozen encoder, ρ kept.

    The gain is measured from the frozen encoder (head only) at the head
    learning rate its own sweep chose on validation.
    """
    full_data = [s for s in summary if int(s["n_examples"]) == 0]
    # the baseline is the frozen encoder at the head lr validation chose
    head = next(s for s in full_data if s["name"] == "head_only" and int(s["chosen"]))
    base = float(head["accuracy_mean"])
    points = []
    for s in full_data:
        points.append({
            "name": s["name"], "method": s["method"], "r": int(s["r"]),
            "lr": float(s["lr"]), "chosen": int(s["chosen"]),
            "gain": r6(float(s["accuracy_mean"]) - base),
            "gain_min": r6(float(s["accuracy_min"]) - base),
            "gain_max": r6(float(s["accuracy_max"]) - base),
            "retained": float(s["similarity_spearman_mean"]),
            "retained_min": float(s["similarity_spearman_min"]),
            "retained_max": float(s["similarity_spearman_max"]),
        })  # fmt: skip
    front = {(p["name"], p["lr"]) for p in pareto_front(points, "retained", "gain")}
    for p in points:
        p["frontier"] = int((p["name"], p["lr"]) in front)
    return points


def label(s: dict) -> str:
    """A summary row's setting as the tables name it (head only: whose lr)."""
    text = LABELS.get(s["name"], s["name"])
    return text + ", lr of the head" if s["method"] == "head" else text


def write_tables(out: Path) -> None:
    """The table_*.csv files the chapters render, from out/summary.csv etc."""
    summary = read_csv(out / "summary.csv")
    full_data = [s for s in summary if int(s["n_examples"]) == 0]
    chosen = {s["name"]: s for s in full_data if s["chosen"] == "1"}
    best_full = chosen["full"]

    sweeps = []  # every learning rate of every setting
    n_lrs = Counter(s["name"] for s in full_data)

    def how_chosen(s: dict) -> str:
        if n_lrs[s["name"]] > 1:
            return "✓" if s["chosen"] == "1" else "·"
        if s["name"].endswith(("_a2r", "_rs")):  # the alpha rules: lr * γ held
            return "derived (lr·γ as α = 8's)"
        return "only value"

    for s in full_data:
        sweeps.append({
            "setting": label(s), "lr": lr_text(float(s["lr"])),
            "seeds": s["seeds"],
            "validation accuracy": spread(s, "val_accuracy"),
            "test accuracy": spread(s, "accuracy"),
            "chosen on validation": how_chosen(s),
        })  # fmt: skip
    write_csv(out / "table_sweeps.csv", sweeps)

    def best_row(s: dict) -> dict:
        return {
            "setting": label(s),
            "trainable": f"{int(s['trainable']):,}",
            "lr (chosen)": lr_text(float(s["lr"])),
            "test accuracy": spread(s, "accuracy"),
            "vs full FT": "—" if s is best_full else compare(s, best_full),
            "similarity kept (Spearman)": spread(s, "similarity_spearman"),
            "step (ms)": f"{float(s['step_time_ms_mean']):.0f}",
            "peak memory (MiB)": f"{float(s['peak_mib_mean']):.0f}",
        }

    groups = {
        "rank": ("head_only", "full", "qv_r1", "qv_r4", "qv_r8", "qv_r16", "qv_r64"),
        "targets": ("full", "qv_r8", "qkvo_r4", "all_r2"),
        "alpha": ("qv_r64", "qv_r64_a2r", "qv_r64_rs"),
    }
    for table, names in groups.items():
        if not any(n in chosen for n in names[2:]):
            continue  # e.g. the target sets, when the grid left them out
        rows = [best_row(chosen[n]) for n in names if n in chosen]
        if table == "alpha":
            for row, n in zip(rows, (n for n in names if n in chosen), strict=True):
                s = chosen[n]
                scaling = 8 / int(s["r"]) ** 0.5 if s["rslora"] == "1" else (
                    float(s["alpha"]) / int(s["r"]))  # fmt: skip
                row["scaling γ"] = f"{scaling:g}"
                row["lr × γ"] = f"{float(s['lr']) * scaling:.2g}"
                base = chosen["qv_r64"]
                row["vs α = 8"] = "—" if s is base else compare(s, base)
        write_csv(out / f"table_{table}.csv", rows)

    sizes = []  # data-size ablation, at each method's chosen lr
    by_size = defaultdict(dict)
    for s in summary:
        if s["name"] in ("full", "qv_r8") and s["chosen"] == "1":
            by_size[int(s["n_examples"])][s["name"]] = s
    for n in sorted(by_size, key=lambda n: n or 10**9):
        full, lora = by_size[n].get("full"), by_size[n].get("qv_r8")
        if full is None or lora is None:
            continue
        sizes.append({
            "training sentences": n or "all",
            "full fine-tuning": spread(full, "accuracy"),
            "LoRA q, v, r = 8": spread(lora, "accuracy"),
            "LoRA vs full": compare(lora, full),
            "kept, full (Spearman)": spread(full, "similarity_spearman"),
            "kept, LoRA (Spearman)": spread(lora, "similarity_spearman"),
        })  # fmt: skip
    n_all = sum(1 for _ in read_csv(out / "data_train.csv"))
    for row in sizes:
        if row["training sentences"] == "all":
            row["training sentences"] = f"all ({n_all})"
    write_csv(out / "table_data_size.csv", sizes)

    points = pareto_points(summary)
    front = [p for p in points if p["frontier"]]
    write_csv(out / "table_pareto.csv", [
        {"setting": LABELS.get(p["name"], p["name"]), "lr": lr_text(p["lr"]),
         "gain over frozen encoder": f"{p['gain']:.3f} "
                                     f"({p['gain_min']:.3f}–{p['gain_max']:.3f})",
         "similarity kept (Spearman)": f"{p['retained']:.3f} "
                                f"({p['retained_min']:.3f}–{p['retained_max']:.3f})"}
        for p in front
    ])  # fmt: skip

    energy = defaultdict(list)  # (kind, r) -> energies over matrices and seeds
    for row in read_csv(out / "spectra.csv"):
        energy[(row["kind"], int(row["r"]))].append(float(row["energy"]))
    rows = []
    for r in (1, 2, 4, 8, 16, 32, 64):
        real, rand = energy[("finetune", r)], energy[("gaussian", r)]
        rows.append({
            "r": r,
            "real ΔW": f"{statistics.fmean(real):.3f} "
                       f"({min(real):.3f}–{max(real):.3f})",
            "Gaussian, same shape and norm": f"{statistics.fmean(rand):.3f} "
                                             f"({min(rand):.3f}–{max(rand):.3f})",
        })  # fmt: skip
    write_csv(out / "table_energy.csv", rows)
    write_csv(out / "table_grassmann.csv", grassmann_table(out))
    write_csv(out / "table_alignment.csv", alignment_table(out))


def per_seed_range(values_by_seed: dict) -> str:
    """'mean (min–max)' of per-seed means."""
    means = [statistics.fmean(v) for v in values_by_seed.values()]
    return f"{statistics.fmean(means):.3f} ({min(means):.3f}–{max(means):.3f})"


def grassmann_table(out: Path) -> list[dict]:
    """φ(i, j) at four corners, mean of 6 layers, min-max over seeds."""
    phi = defaultdict(lambda: defaultdict(list))  # (module, i, j) -> seed -> φs
    for row in read_csv(out / "grassmann.csv"):
        key = (row["module"], int(row["i"]), int(row["j"]))
        phi[key][row["seed"]].append(float(row["phi"]))
    rows = []
    for i, j in ((1, 1), (1, 64), (8, 8), (8, 64)):
        row = {"i": i, "j": j}
        for module in ("query", "value"):
            row[f"φ, W_{module[0]}"] = per_seed_range(phi[(module, i, j)])
        row["two random subspaces"] = f"{max(i, j) / 384:.3f}"
        rows.append(row)
    return rows


def alignment_table(out: Path) -> list[dict]:
    """LoRA Table 7 at r = 8: projections of W0, mean of W_q, W_v of 6 layers."""
    columns = {"‖ΔW‖_F": "norm_delta_w", "‖UᵀW0V‖_F, U, V of ΔW": "proj_delta_w",
               "U, V of W0": "proj_w0", "U, V random": "proj_random"}  # fmt: skip
    by = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for row in read_csv(out / "alignment.csv"):
        if row["r"] != "8":
            continue
        mine = by[row["source"]]
        for column in columns.values():
            mine[column][row["seed"]].append(float(row[column]))
        factor = float(row["norm_delta_w"]) / float(row["proj_delta_w"])
        mine["factor"][row["seed"]].append(factor)
        above = float(row["proj_delta_w"]) > float(row["proj_random"])
        mine["above"][row["seed"]].append(float(above))
    rows = []
    for source, label in (("full", "full fine-tuning"), ("qv_r8", "LoRA q, v, r = 8")):
        mine = by[source]
        row = {"update": label}
        row |= {name: per_seed_range(mine[c]) for name, c in columns.items()}
        row["amplification ‖ΔW‖_F / ‖UᵀW0V‖_F"] = per_seed_range(mine["factor"])
        above = sum(sum(v) for v in mine["above"].values())
        total = sum(len(v) for v in mine["above"].values())
        row["ΔW's directions above random"] = f"{above:.0f} of {total}"
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--out", type=Path, default=EXPERIMENTS, help="the kit's folder"
    )
    args = parser.parse_args(argv)
    write_tables(args.out)


if __name__ == "__main__":
    main()
