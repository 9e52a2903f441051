"""Trainable parameters, full fine-tuning vs LoRA, on a linear and a log axis.

One data set, two figures: on a linear axis LoRA's bars (r = 8 on q_proj and
v_proj) are invisible; on a log axis the orders of magnitude are readable.
Counts from lora_ref.counts (equal to meta-device models; tests check).
Used in docs/why-peft.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from lora_ref.counts import SHAPES, lora_trainable_params, total_params

MODELS = ("LLaMA-7B", "LLaMA-13B", "LLaMA-33B", "LLaMA-65B", "Llama-2-70B")


def rows() -> list[dict]:
    """Total and LoRA (q, v, r = 8) parameter counts of each model."""
    return [
        {
            "model": m,
            "full": total_params(SHAPES[m]),
            "lora_qv_r8": lora_trainable_params(SHAPES[m], ["q_proj", "v_proj"], 8),
        }
        for m in MODELS
    ]


def draw(data: list[dict], log: bool) -> plt.Figure:
    """Bars of both counts per model, on a log or a linear axis."""
    fig, ax = plt.subplots()
    x = range(len(data))
    ax.bar(
        [i - 0.2 for i in x],
        [r["full"] / 1e9 for r in data],
        width=0.4,
        label="full fine-tuning (all parameters)",
    )
    ax.bar(
        [i + 0.2 for i in x],
        [r["lora_qv_r8"] / 1e9 for r in data],
        width=0.4,
        label="LoRA, r = 8 on q_proj, v_proj",
    )
    ax.set_xticks(list(x), [r["model"] for r in data], fontsize=8)
    if log:
        ax.set_yscale("log")
        ax.set_ylabel("trainable parameters (billions, log scale)")
        ax.set_title("Log axis: both bars readable")
    else:
        ax.set_ylabel("trainable parameters (billions)")
        ax.set_title("Linear axis: LoRA's bars vanish")
    ax.legend(fontsize=8)
    return fig


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    data = rows()
    style.save_svg(draw(data, log=False), "params_scale_linear", args.out)
    style.save_svg(draw(data, log=True), "params_scale_log", args.out)
    for name in ("params_scale_linear", "params_scale_log"):
        style.save_csv(data, name, args.out)  # the same data beside each SVG


if __name__ == "__main__":
    main()
