"""One base, many adapters, drawn to scale. Figure for docs/many-adapters.md (hub).

Each disc's area is proportional to bytes. Left: the tutorial's base model
and the four task adapters, sized from the committed files. Right: LLaMA-7B
in bf16 with four LoRA adapters (r = 8 on q_proj and v_proj, fp32, as PEFT
saves them), sized by lora_ref.counts and lora_ref.budget.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import math

import matplotlib.pyplot as plt
from matplotlib.patches import Circle

from lora_ref.budget import adapter_bytes
from lora_ref.counts import SHAPES, lora_trainable_params, total_params

NAME = "hub_adapters"
ASSETS = style.ROOT / "snippets" / "tutorial" / "assets"
ADAPTERS = style.ROOT / "snippets" / "many_adapters" / "assets"
TASKS = ("zh", "en", "from_zh", "from_en")


def compute() -> list[dict]:
    """Bytes of each base and adapter (files for the tutorial, counts for 7B)."""
    rows = [
        {
            "panel": "tutorial",
            "part": "base",
            "bytes": (ASSETS / "base" / "model.safetensors").stat().st_size,
        }
    ]
    for task in TASKS:
        size = (ADAPTERS / task / "adapter_model.safetensors").stat().st_size
        rows.append({"panel": "tutorial", "part": task, "bytes": size})
    llama = SHAPES["LLaMA-7B"]
    rows.append({"panel": "LLaMA-7B", "part": "base", "bytes": 2 * total_params(llama)})
    t = lora_trainable_params(llama, ["q_proj", "v_proj"], 8)
    for task in ("task 1", "task 2", "task 3", "task 4"):
        rows.append({"panel": "LLaMA-7B", "part": task, "bytes": adapter_bytes(t)})
    return rows


def human(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def draw(ax: plt.Axes, rows: list[dict], title: str) -> None:
    base = next(r for r in rows if r["part"] == "base")
    spokes = [r for r in rows if r["part"] != "base"]
    R = 1.0  # radius of the base disc; area ∝ bytes
    ax.add_patch(Circle((0, 0), R, color="tab:blue", alpha=0.8))
    ax.text(0, 0, f"base\n{human(base['bytes'])}", ha="center", va="center")
    for i, r in enumerate(spokes):
        angle = math.pi / 4 + i * math.pi / 2
        x, y = 2.1 * math.cos(angle), 2.1 * math.sin(angle)
        radius = R * math.sqrt(r["bytes"] / base["bytes"])
        ax.plot([R * math.cos(angle), x], [R * math.sin(angle), y], color="0.6")
        ax.add_patch(Circle((x, y), max(radius, 0.01), color="tab:orange"))
        ax.text(
            x,
            y - radius - 0.12,
            f"{r['part']}\n{human(r['bytes'])}",
            ha="center",
            va="top",
            fontsize=8,
        )
    ax.set_xlim(-2.8, 2.8)
    ax.set_ylim(-3.0, 2.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    draw(
        axes[0],
        [r for r in rows if r["panel"] == "tutorial"],
        "tutorial model + 4 adapters (r = 8, all linear)",
    )
    draw(
        axes[1],
        [r for r in rows if r["panel"] == "LLaMA-7B"],
        "LLaMA-7B bf16 + 4 adapters (r = 8, q, v)",
    )
    fig.suptitle(
        "One base, many adapters: disc area proportional to bytes", fontsize=10
    )
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
