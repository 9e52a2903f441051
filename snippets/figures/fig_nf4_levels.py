"""The 16 levels of NF4 against int4 and FP4, on the absmax-scaled range [-1, 1].

Figure for docs/qlora.md ("Three 4-bit formats"). Levels from lora_ref.nf4:
NF4_CODE (bitsandbytes' table, QLoRA appendix E), FP4_LEVELS (bitsandbytes'
FP4: 1 sign, 2 exponent and 1 mantissa bit) and INT4_LEVELS (k / 7, symmetric
absmax int4). The curve is the N(0, 1) density the NF4 levels follow.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt
import torch

from lora_ref.nf4 import FP4_LEVELS, INT4_LEVELS, NF4_CODE

NAME = "nf4_levels"
FORMATS = {"int4": INT4_LEVELS, "FP4": FP4_LEVELS, "NF4": NF4_CODE}


def compute() -> list[dict]:
    return [
        {"format": fmt, "index": i, "level": round(v, 8)}
        for fmt, levels in FORMATS.items()
        for i, v in enumerate(levels.tolist())
    ]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    for y, fmt in enumerate(FORMATS):
        levels = [r["level"] for r in rows if r["format"] == fmt]
        ax.plot(levels, [y] * len(levels), "|", markersize=18, mew=2)
        ax.plot(levels, [y] * len(levels), "o", markersize=4, color="black")
    ax.set_yticks(range(len(FORMATS)), [f"{f} ({len(v.unique())})"
                                        for f, v in FORMATS.items()])  # fmt: skip
    ax.set_ylim(-0.6, len(FORMATS) + 0.4)
    # the standard normal density, squeezed into [-1, 1] the way NF4 does
    x = torch.linspace(-1, 1, 401)
    z = x * 1.848  # Φ⁻¹(0.9677083) ≈ 1.848 standard deviations map to 1
    density = torch.exp(-(z**2) / 2)
    ax.fill_between(x, len(FORMATS) - 0.5, len(FORMATS) - 0.5 + 0.8 * density,
                    alpha=0.3, label="N(0, 1) density (scaled)")  # fmt: skip
    ax.set_xlabel("level (weight / absmax of its block)")
    ax.set_title("Distinct levels of three 4-bit formats", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", visible=False)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
