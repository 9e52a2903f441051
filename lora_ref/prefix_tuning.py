"""Prefix tuning and P-tuning v2: trained keys and values in front of every layer's.

Implements Li and Liang, "Prefix-Tuning: Optimizing Continuous Prompts for
Generation" (ACL 2021, arXiv 2101.00190), section 4.2 (the activations of the
prefix positions are free parameters P_θ at every layer) and section 4.3 (the
reparameterisation P_θ = MLP_θ(P'_θ)); P-tuning v2 (Liu et al., ACL 2022,
arXiv 2110.07602, section 3) is the same "deep prompt" applied to understanding
tasks. Taught in "Prefix tuning" (docs/prefix-tuning.md); the PEFT counterpart
is `peft.tuners.prefix_tuning.model.PrefixEncoder` with
`PeftModel.get_prompt` (peft 0.21.2), which this module matches.

Layout: the table is PEFT's, (n_virtual, n_layers · 2 · d_kv) with
d_kv = a_kv · head_dim; column block 2i holds layer i's keys, block 2i + 1 its
values. `key_values(n)` turns it into one (K, V) pair per layer, each
(n, a_kv, n_virtual, head_dim): the layout of a transformers KV cache.
"""

import torch
from torch import nn

from lora_ref.prompt_tuning import check_n_virtual


class PrefixTuning(nn.Module):
    """Per-layer prefix keys and values, optionally produced by an MLP.

    Worked shapes: LLaMA-7B has 32 layers and d_kv = 32 heads × 128 = 4096, so
    20 virtual tokens are a (20, 32 · 2 · 4096) table: 5,242,880 numbers.

    Args:
        n_layers: number of transformer layers.
        n_virtual: number of virtual tokens (prefix length).
        n_kv_heads: key/value heads per layer (a_kv; fewer than the query
            heads under grouped-query attention).
        head_dim: width of one head.
        projection_hidden: None for a free table (PEFT's
            `prefix_projection=False`); else the hidden width of the
            reparameterisation MLP Embedding -> Linear -> tanh -> Linear.
        dtype: dtype of the parameters.
    """

    def __init__(
        self,
        n_layers: int,
        n_virtual: int,
        n_kv_heads: int,
        head_dim: int,
        projection_hidden: int | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        check_n_virtual(n_virtual)
        for name, value in {
            "n_layers": n_layers,
            "n_kv_heads": n_kv_heads,
            "head_dim": head_dim,
        }.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.n_layers, self.n_virtual = n_layers, n_virtual
        self.n_kv_heads, self.head_dim = n_kv_heads, head_dim
        d_kv = n_kv_heads * head_dim
        width = n_layers * 2 * d_kv  # keys and values of every layer, side by side
        # N(0, 1): nn.Embedding's default, as PEFT's PrefixEncoder
        if projection_hidden is None:
            self.prefix = nn.Parameter(torch.randn(n_virtual, width, dtype=dtype))
            self.embedding, self.mlp = None, None
        else:
            self.prefix = None
            self.embedding = nn.Parameter(torch.randn(n_virtual, d_kv, dtype=dtype))
            self.mlp = nn.Sequential(
                nn.Linear(d_kv, projection_hidden, dtype=dtype),
                nn.Tanh(),
                nn.Linear(projection_hidden, width, dtype=dtype),
            )

    def table(self) -> torch.Tensor:
        """P_θ, shape (n_virtual, n_layers · 2 · d_kv): free, or MLP(P'_θ)."""
        if self.mlp is None:
            return self.prefix
        return self.mlp(self.embedding)  # (n_virtual, d_kv) -> (n_virtual, width)

    def key_values(self, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One (K_prefix, V_prefix) per layer, each (n, a_kv, n_virtual, head_dim)."""
        table = self.table().view(
            self.n_virtual, self.n_layers * 2, self.n_kv_heads, self.head_dim
        )
        table = table.permute(1, 2, 0, 3)  # (2 · n_layers, a_kv, n_virtual, head_dim)
        table = table.unsqueeze(1).expand(-1, n, -1, -1, -1)  # add the batch axis
        return [(table[2 * i], table[2 * i + 1]) for i in range(self.n_layers)]


def extend_attention_mask(attention_mask: torch.Tensor, n_virtual: int) -> torch.Tensor:
    """(n, s) -> (n, n_virtual + s): every token may attend to every prefix position."""
    ones = attention_mask.new_ones(attention_mask.shape[0], n_virtual)
    return torch.cat([ones, attention_mask], dim=1)


def attend_with_prefix(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_prefix: torch.Tensor,
    v_prefix: torch.Tensor,
) -> torch.Tensor:
    """One head of causal attention over [K_prefix; K] and [V_prefix; V].

    softmax(q [K_prefix; K]ᵀ / √head_dim) [V_prefix; V], where token t sees all
    prefix positions and the real tokens up to t. Shapes: q, k, v are
    (s, head_dim); the prefixes are (n_virtual, head_dim). Returns (s, head_dim).
    """
    s, n_virtual = q.shape[0], k_prefix.shape[0]
    keys = torch.cat([k_prefix, k])  # (n_virtual + s, head_dim)
    values = torch.cat([v_prefix, v])  # (n_virtual + s, head_dim)
    scores = q @ keys.T / q.shape[-1] ** 0.5  # (s, n_virtual + s)
    causal = torch.ones(s, s, dtype=torch.bool, device=q.device).tril()
    visible = torch.cat([causal.new_ones(s, n_virtual), causal], dim=1)
    scores = scores.masked_fill(~visible, float("-inf"))
    return scores.softmax(dim=-1) @ values  # (s, head_dim)
