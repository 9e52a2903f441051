"""Where AdaLoRA's rank budget went: final rank of every adapted module.

Figure for docs/adalora.md ("Where the budget went"). The task is built so
the answer is known: a "teacher" is the random-weight 2-layer tiny Llama of
`lora_ref.tiny_llama` with two planted rank-4 changes (as large as the
weight itself, in Frobenius norm), one in layer 0's v_proj and one in
layer 1's up_proj. A student (the same model without the changes) gets
AdaLoRA on all seven linear layers of both blocks (14 modules, initial rank
6, target average rank 2: the budget falls from 84 to 28 triplets) and
learns to match the teacher's next-token distribution (KL divergence plus
0.5 × the orthogonal regulariser) on 16 fixed random sequences of 16
tokens: AdamW, lr 1e-2, 150 steps with tinit = 20 and tfinal = 30. Three
seeds (adapter initialisation and token batch). About a minute on one CPU
thread; a tiny model because the run must be cheap and the planted changes
make the allocation checkable.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import copy

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from lora_ref import RankAllocator, apply_adalora, orthogonal_regularizer, tiny_llama

NAME = "adalora_ranks"
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PLANTED = {"model.layers.0.self_attn.v_proj": 4, "model.layers.1.mlp.up_proj": 4}
INIT_R, TARGET_R = 6, 2
TOTAL, TINIT, TFINAL = 150, 20, 30
LR = 1e-2
SEEDS = (0, 1, 2)


def teacher_and_student() -> tuple[torch.nn.Module, torch.nn.Module]:
    """The tiny Llama with the planted changes (teacher) and without (student)."""
    student = tiny_llama(seed=0)
    teacher = copy.deepcopy(student)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, rank in PLANTED.items():
            W = teacher.get_submodule(name).weight  # (d, k)
            d, k = W.shape
            change = torch.randn(d, rank, generator=g) @ torch.randn(
                rank, k, generator=g
            )
            W += W.norm() / change.norm() * change
    return teacher, student


def run(seed: int) -> dict[str, int]:
    """Train one student with AdaLoRA; return the final rank of each module."""
    teacher, student = teacher_and_student()
    torch.manual_seed(seed)
    layers = apply_adalora(student, MODULES, r=INIT_R, alpha=8)
    allocator = RankAllocator(
        layers, target_r=TARGET_R, total_step=TOTAL, tinit=TINIT, tfinal=TFINAL
    )
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR)
    ids = torch.randint(0, 128, (16, 16), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        target = F.log_softmax(teacher(input_ids=ids).logits, dim=-1)
    for step in range(TOTAL):
        log_probs = F.log_softmax(student(input_ids=ids).logits, dim=-1)
        kl = F.kl_div(log_probs, target, log_target=True, reduction="batchmean")
        loss = kl + 0.5 * orthogonal_regularizer(layers)
        loss.backward()
        opt.step()
        allocator.update_and_allocate(step)
        opt.zero_grad()
    return {name: layer.rank() for name, layer in layers.items()}


def compute() -> list[dict]:
    rows = []
    for seed in SEEDS:
        for name, rank in run(seed).items():
            layer = int(name.split(".")[2])
            module = name.rsplit(".", 1)[-1]
            rows.append(
                {
                    "seed": seed,
                    "layer": layer,
                    "module": module,
                    "planted_change": name in PLANTED,
                    "final_rank": rank,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    torch.set_num_threads(1)  # bit-reproducible sums
    rows = compute()
    labels = [f"{layer}.{m.removesuffix('_proj')}" for layer in (0, 1) for m in MODULES]
    fig, ax = plt.subplots(figsize=(8.4, 3.4))
    width = 0.8 / len(SEEDS)
    for i, seed in enumerate(SEEDS):
        ranks = [row["final_rank"] for row in rows if row["seed"] == seed]
        xs = [j + (i - 1) * width for j in range(len(labels))]
        ax.bar(xs, ranks, width, label=f"seed {seed}")
    planted = {f"{n.split('.')[2]}.{n.rsplit('.', 1)[1][:-5]}" for n in PLANTED}
    for j, label in enumerate(labels):
        if label in planted:
            ax.annotate("planted", (j, INIT_R + 0.2), ha="center", fontsize=8)
    ax.axhline(
        TARGET_R, color="k", ls="--", lw=1, label=f"target average r = {TARGET_R}"
    )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_xlabel("module (layer.projection)")
    ax.set_ylabel("final rank (kept triplets)")
    ax.set_ylim(0, INIT_R + 2)
    ax.set_title(
        f"AdaLoRA on a tiny Llama: budget {INIT_R * 14} → {TARGET_R * 14} triplets",
        fontsize=10,
    )
    ax.legend(fontsize=8, ncols=4, loc="upper center")
    style.save_csv(rows, NAME, args.out)
    style.save_svg(fig, NAME, args.out)


if __name__ == "__main__":
    main()
