"""Tiny models shared by the chapters, the tests and the figure scripts.

Nothing here is downloaded: `TinyMLP` is plain PyTorch, and `tiny_llama`
builds a randomly initialised Llama from a `transformers.LlamaConfig`
(transformers, from the `dev` extra, is imported only when it is called, so
`import lora_ref` needs only torch). The MLP has the `lin0` / `lin1` names
that PEFT's own tests use for their MLP.
"""

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # for the annotations only
    from transformers import LlamaConfig, LlamaForCausalLM


class TinyMLP(nn.Module):
    """x -> lin0 -> ReLU -> lin1: two linear layers to put LoRA on.

    Args:
        k: input features.
        hidden: width of the hidden layer.
        d: output features.
    """

    def __init__(self, k: int = 16, hidden: int = 32, d: int = 4) -> None:
        super().__init__()
        self.lin0 = nn.Linear(k, hidden)
        self.relu = nn.ReLU()
        self.lin1 = nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin1(self.relu(self.lin0(x)))  # (n, k) -> (n, hidden) -> (n, d)


def tiny_llama_config(**overrides: object) -> "LlamaConfig":
    """A 2-layer Llama config with grouped-query attention (4 heads, 2 KV heads)."""
    from transformers import LlamaConfig

    sizes = {
        "vocab_size": 128,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,  # GQA: k_proj and v_proj map 64 -> 32
        "max_position_embeddings": 64,
    }
    return LlamaConfig(**(sizes | overrides))


def tiny_llama(
    seed: int = 0, dtype: torch.dtype = torch.float32, **overrides: object
) -> "LlamaForCausalLM":
    """A random-weight `LlamaForCausalLM` from `tiny_llama_config`, in eval mode."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(**overrides)).to(dtype)
    return model.eval()
