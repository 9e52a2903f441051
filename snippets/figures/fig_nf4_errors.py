"""Quantization error of int4, FP4, NF4 and NF4 + double quantization on MiniLM.

Figure for docs/qlora.md ("Measured on real weights"). All 36 linear weights
of all-MiniLM-L6-v2's encoder are quantized with an absmax per block of 64 and
dequantized (lora_ref.nf4; NF4 is bit-identical to bitsandbytes); plotted is
the relative error ||W_q - W||_F / ||W||_F over all of them together.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.qlora.weights import errors, minilm_linear_weights

NAME = "nf4_errors"


def compute() -> list[dict]:
    return [
        {k: round(v, 8) if isinstance(v, float) else v for k, v in row.items()}
        for row in errors(minilm_linear_weights())
    ]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    names = [r["format"] for r in rows]
    values = [100 * r["relative_error"] for r in rows]
    bars = ax.barh(names, values, color=["C0", "C1", "C2", "C2"])
    ax.bar_label(bars, [f"{v:.2f} %" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(values) * 1.2)
    ax.set_xlabel(r"relative error $\|W_q - W\|_F \,/\, \|W\|_F$ (%)")
    ax.set_title("MiniLM, 36 linear weights, blocks of 64", fontsize=10)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
