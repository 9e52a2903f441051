"""alpha, rank and learning rate: the alpha / r coupling and rsLoRA, measured on MiniLM.

Reads docs/assets/data/experiments/runs.csv (snippets/experiments/run_all.py).
Left: accuracy vs r for three scalings of the update (alpha = 8 fixed, so
alpha / r; alpha = 2r, so a constant 2; rsLoRA alpha / sqrt(r) with alpha =
8). Right: accuracy vs learning rate at r = 8, alpha = 8. Shown in
docs/choosing-rank.md.
"""

from snippets.figures import style  # noqa: I001  (first: backend, rcParams)
import matplotlib.pyplot as plt

from snippets import common

NAME = "exp_alpha"
RANKS = (2, 8, 32)
SCHEMES = {
    "α = 8 (scale α/r)": "",
    "α = 2r (scale 2)": "_a2r",
    "rsLoRA, α = 8 (scale α/√r)": "_rs",
}


def compute() -> tuple[list[dict], float]:
    """One row per plotted point, and the full fine-tuning accuracy."""
    runs = {
        row["name"]: row for row in common.read_csv(common.EXPERIMENTS / "runs.csv")
    }
    out = []
    for scheme, suffix in SCHEMES.items():
        for r in RANKS:
            row = runs[f"qv_r{r}{suffix}"]
            out.append(
                {
                    "panel": "scaling",
                    "scheme": scheme,
                    "r": r,
                    "lr": float(row["lr"]),
                    "accuracy": float(row["accuracy"]),
                }
            )
    lr_runs = sorted(
        (
            row
            for row in runs.values()
            if row["name"] == "qv_r8" or row["name"].startswith("qv_r8_lr")
        ),
        key=lambda row: float(row["lr"]),
    )
    for row in lr_runs:
        out.append(
            {
                "panel": "lr",
                "scheme": "α = 8 (scale α/r)",
                "r": 8,
                "lr": float(row["lr"]),
                "accuracy": float(row["accuracy"]),
            }
        )
    return out, float(runs["full"]["accuracy"])


def main(argv: list[str] | None = None) -> None:
    args = style.parse_args(__doc__, argv)
    out, full = compute()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6), sharey=True)
    for scheme in SCHEMES:
        mine = [o for o in out if o["panel"] == "scaling" and o["scheme"] == scheme]
        left.plot(
            [o["r"] for o in mine], [o["accuracy"] for o in mine], "o-", label=scheme
        )
    left.set_xscale("log", base=2)
    left.set_xlabel("rank r (log scale)")
    left.set_ylabel("test accuracy")
    left.set_title(f"Scaling of the update (lr = {out[0]['lr']:g})")
    mine = [o for o in out if o["panel"] == "lr"]
    right.plot([o["lr"] for o in mine], [o["accuracy"] for o in mine], "o-", color="C0")
    right.set_xscale("log")
    right.set_xlabel("learning rate of A, B (log scale)")
    right.set_title("Learning rate at r = 8, α = 8")
    for ax in (left, right):
        ax.axhline(full, color="k", linestyle="--", label="full fine-tuning")
    left.legend(fontsize=8, loc="lower right")
    style.save_svg(fig, NAME, args.out)
    style.save_csv(out, NAME, args.out)


if __name__ == "__main__":
    main()
