"""What the comparison figures (snippets/figures/fig_compare_*.py) share.

Typed access to compare.py's committed CSVs (docs/assets/data/compare/), a
marker and colour per family, short point labels, and `pareto_panel`: every
setting at its chosen learning rate as a point with min-max bars over seeds,
each point labelled, and the Pareto frontier (tables.pareto_front) drawn.
"""

import matplotlib.pyplot as plt

from snippets import common
from snippets.experiments import tables

COMPARE = common.DATA / "compare"
SHORT = {
    "head_only": "head only", "full": "full FT", "lora_qv_r8": "LoRA r8",
    "lora_all_r8": "LoRA all r8", "lora_qv_r64": "LoRA r64",
    "rslora_qv_r64": "rsLoRA r64", "dora": "DoRA", "pissa": "PiSSA",
    "loraplus": "LoRA+", "vera": "VeRA", "adalora": "AdaLoRA",
    "dylora": "DyLoRA", "qlora": "QLoRA", "ia3": "IA³", "prompt": "prompt",
    "ptuning": "P-tuning", "prefix": "prefix", "houlsby": "Houlsby",
    "pfeiffer": "Pfeiffer", "bitfit": "BitFit",
}  # fmt: skip
FAMILIES = {  # legend entry: (marker, colour, settings)
    "full fine-tuning": ("s", "k", ("full",)),
    "LoRA and its variants": ("o", "C0", ("lora_qv_r8", "lora_all_r8",
                              "lora_qv_r64", "rslora_qv_r64", "dora", "pissa",
                              "loraplus", "vera", "adalora", "dylora", "qlora")),
    "IA³": ("^", "C2", ("ia3",)),
    "prompt, P-tuning, prefix": ("v", "C3", ("prompt", "ptuning", "prefix")),
    "bottleneck adapters": ("P", "C4", ("houlsby", "pfeiffer")),
    "BitFit": ("X", "C1", ("bitfit",)),
    "frozen encoder (head only)": ("D", "0.5", ("head_only",)),
}  # fmt: skip
TEXT_KEYS = ("name", "method", "targets", "label", "lrs_run", "lr_choice", "module",
             "options")  # fmt: skip


def read(name: str) -> list[dict]:
    """A compare CSV, numbers as floats (text columns stay text)."""
    out = []
    for row in common.read_csv(COMPARE / f"{name}.csv"):
        out.append({k: v if k in TEXT_KEYS else float(v) for k, v in row.items()})
    return out


def chosen() -> list[dict]:
    """summary.csv's rows at each setting's validated learning rate."""
    return [row for row in read("summary") if row["chosen"] == 1]


def style_of(name: str) -> tuple[str, str]:
    """(marker, colour) of a setting's family."""
    for marker, color, names in FAMILIES.values():
        if name in names:
            return marker, color
    raise ValueError(f"no family for setting {name!r}")


def points(rows: list[dict], x: str, y: str = "accuracy") -> list[dict]:
    """One point per row: mean and min-max of metrics `x` and `y`."""
    out = []
    for row in rows:
        p = {"name": row["name"], "label": SHORT[row["name"]]}
        for axis, metric in (("x", x), ("y", y)):
            if f"{metric}_mean" in row:
                p |= {axis: row[f"{metric}_mean"], f"{axis}_min": row[f"{metric}_min"],
                      f"{axis}_max": row[f"{metric}_max"]}  # fmt: skip
            else:  # a per-setting number without spread (e.g. trainable)
                value = row[metric]
                p |= {axis: value, f"{axis}_min": value, f"{axis}_max": value}
        out.append(p)
    return out


def mark_frontier(pts: list[dict], lower_x_is_better: bool) -> None:
    """Set p["frontier"]: no other point is at least as good on both axes and
    better on one (accuracy up; x up, or down if `lower_x_is_better`)."""
    sign = -1.0 if lower_x_is_better else 1.0
    signed = [{"i": i, "x": sign * p["x"], "y": p["y"]} for i, p in enumerate(pts)]
    front = {q["i"] for q in tables.pareto_front(signed, "x", "y")}
    for i, p in enumerate(pts):
        p["frontier"] = int(i in front)


def pareto_panel(ax: plt.Axes, pts: list[dict], log_x: bool = False) -> None:
    """Points with min-max bars, a label on each, the frontier as a band."""
    front = sorted((p for p in pts if p["frontier"]), key=lambda p: p["x"])
    ax.plot([p["x"] for p in front], [p["y"] for p in front], "-", color="0.6",
            linewidth=6, alpha=0.5, zorder=0, label="Pareto frontier")  # fmt: skip
    for family, (marker, color, names) in FAMILIES.items():
        mine = [p for p in pts if p["name"] in names]
        if not mine:
            continue
        xerr = [
            [p["x"] - p["x_min"] for p in mine],
            [p["x_max"] - p["x"] for p in mine],
        ]
        yerr = [
            [p["y"] - p["y_min"] for p in mine],
            [p["y_max"] - p["y"] for p in mine],
        ]
        ax.errorbar([p["x"] for p in mine], [p["y"] for p in mine], xerr=xerr,
                    yerr=yerr, fmt=marker, color=color, markersize=8,
                    elinewidth=1, alpha=0.85, label=family)  # fmt: skip
    if log_x:
        ax.set_xscale("log")
    label_points(ax, pts)


def label_points(ax: plt.Axes, pts: list[dict], size: float = 9.5) -> None:
    """Label every point, each label placed where it overlaps least.

    Deterministic: candidate offsets around the point, scored by the overlap
    of an estimated text box with the labels already placed and with the
    markers (in display pixels), points taken from left to right.
    """
    fig = ax.figure
    fig.canvas.draw()  # fixes limits and transforms
    to_px = ax.transData.transform
    marks = [to_px((p["x"], p["y"])) for p in pts]
    placed = []
    offsets = [(6, 4), (6, -12), (-6, 4), (-6, -12), (6, 12), (-6, 12),
               (6, -20), (-6, -20), (0, 16), (0, -24)]  # fmt: skip
    scale = fig.dpi / 72  # points to pixels
    for p, (px, py) in sorted(zip(pts, marks, strict=True), key=lambda t: t[1][0]):
        width = 0.58 * size * len(p["label"]) * scale
        height = 1.2 * size * scale
        best = None
        for dx, dy in offsets:
            x0 = px + dx * scale - (width if dx < 0 else 0)
            y0 = py + dy * scale
            box = (x0, y0, x0 + width, y0 + height)
            cost = sum(overlap(box, b) for b in placed)
            cost += sum(overlap(box, (mx - 5, my - 5, mx + 5, my + 5))
                        for mx, my in marks)  # fmt: skip
            if best is None or cost < best[0] - 1e-9:
                best = (cost, dx, dy, box)
        _, dx, dy, box = best
        placed.append(box)
        ax.annotate(p["label"], (p["x"], p["y"]), textcoords="offset points",
                    xytext=(dx, dy), fontsize=size,
                    ha="right" if dx < 0 else "left")  # fmt: skip


def overlap(a: tuple, b: tuple) -> float:
    """Area shared by two boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def legend_below(fig: plt.Figure, ax: plt.Axes) -> None:
    """The families' legend under the axes."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=10)
