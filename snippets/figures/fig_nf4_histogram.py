"""Are pretrained weights normal? MiniLM's linear weights against N(0, 1).

Figure for docs/qlora.md ("Why normal quantiles"). Every weight of the 36
linear layers of all-MiniLM-L6-v2's encoder (10.6 million numbers), divided by
the standard deviation of its matrix, binned on [-8, 8] (log scale, so the
tails show), against the standard normal density.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import math

import matplotlib.pyplot as plt
import torch

from snippets.qlora.weights import minilm_linear_weights

NAME = "nf4_histogram"
BINS = 128  # on [-8, 8]


def compute() -> list[dict]:
    edges = torch.linspace(-8, 8, BINS + 1)
    z = torch.cat([(W / W.std()).flatten() for W in minilm_linear_weights().values()])
    counts = torch.histc(z, bins=BINS, min=-8, max=8)
    width = (edges[1] - edges[0]).item()
    rows = []
    for i, count in enumerate(counts.tolist()):
        center = (edges[i].item() + edges[i + 1].item()) / 2
        rows.append(
            {
                "bin_center": round(center, 4),
                "minilm_density": round(count / (z.numel() * width), 8),
                "normal_density": round(
                    math.exp(-(center**2) / 2) / math.sqrt(2 * math.pi), 8
                ),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    rows = compute()
    x = [r["bin_center"] for r in rows]
    fig, ax = plt.subplots()
    ax.step(x, [r["minilm_density"] for r in rows], where="mid",
            label="MiniLM linear weights / std of their matrix")  # fmt: skip
    ax.plot(x, [r["normal_density"] for r in rows], "--", label="N(0, 1)")
    ax.set_yscale("log")
    ax.set_ylim(1e-7, 1)
    ax.set_xlabel("weight in standard deviations of its matrix")
    ax.set_ylabel("density (log scale)")
    ax.legend(loc="upper right", fontsize=8)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
