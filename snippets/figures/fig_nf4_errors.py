"""Quantization error of int4, FP4, NF4 and NF4 + double quantization on MiniLM.

Figure for docs/qlora.md ("Measured on real weights"). All 36 linear weights
of all-MiniLM-L6-v2's encoder are quantized with an absmax per block of 64 and
dequantized (lora_ref.nf4; NF4 is bit-identical to bitsandbytes); plotted is
the relative error ||W_q - W||_F / ||W||_F over all of them together. The CSV
also has one row per format for each encoder layer (layer 0 to 5).
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets.qlora.weights import errors, minilm_linear_weights

NAME = "nf4_errors"


def compute() -> list[dict]:
    """Rows for all 36 weights together (layer "all", plotted), then for each
    encoder layer's 6 weights (layer 0 to 5)."""
    weights = minilm_linear_weights()
    groups = {"all": weights} | {
        str(i): {
            n: W for n, W in weights.items() if n.startswith(f"encoder.layer.{i}.")
        }
        for i in range(6)
    }
    return [
        {"layer": layer}
        | {k: round(v, 8) if isinstance(v, float) else v for k, v in row.items()}
        for layer, group in groups.items()
        for row in errors(group)
    ]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    plotted = [r for r in rows if r["layer"] == "all"]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    names = [r["format"] for r in plotted]
    values = [100 * r["relative_error"] for r in plotted]
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
