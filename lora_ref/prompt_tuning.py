"""Prompt tuning: a trainable soft prompt prepended to the input embeddings.

Implements Lester, Al-Rfou and Constant, "The Power of Scale for
Parameter-Efficient Prompt Tuning" (EMNLP 2021, arXiv 2104.08691), section 2:
the embedded input X_e (s × d_model) becomes [E_soft; X_e], with the soft
prompt E_soft (n_virtual × d_model) the only trained tensor; section 2.1 lists
the initialisations (random, sampled vocabulary, text). Taught in the chapter
"Prompt tuning" (docs/prompt-tuning.md); the PEFT counterpart is
`peft.tuners.prompt_tuning.model.PromptEmbedding` with
`PeftModelForCausalLM.forward` (peft 0.21.2), which this module matches.

The model itself is never touched: it is called with `inputs_embeds`, so this
module works with any Hugging Face model that accepts them.
"""

import math

import torch
from torch import nn


def check_n_virtual(n_virtual: int) -> None:
    """Raise `ValueError` unless the number of virtual tokens is a positive int."""
    if isinstance(n_virtual, bool) or not isinstance(n_virtual, int) or n_virtual <= 0:
        raise ValueError(
            f"n_virtual (the number of virtual tokens) must be a positive integer, "
            f"got {n_virtual!r}"
        )


def prepend_virtual_tokens(
    virtual: torch.Tensor,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[E_soft; X_e]: put the same virtual tokens in front of every sequence.

    Args:
        virtual: the virtual-token embeddings, shape (n_virtual, d_model).
        inputs_embeds: the embedded batch, shape (n, s, d_model).
        attention_mask: (n, s) or None. The virtual tokens are always attended
            to, so the mask gets n_virtual leading ones (as PEFT does).

    Returns:
        The embeddings (n, n_virtual + s, d_model) and the mask (n, n_virtual + s).
    """
    n = inputs_embeds.shape[0]
    n_virtual = virtual.shape[0]
    prompt = virtual.to(inputs_embeds.dtype).expand(n, -1, -1)  # (n, n_virtual, d)
    embeds = torch.cat([prompt, inputs_embeds], dim=1)  # (n, n_virtual + s, d)
    if attention_mask is None:
        return embeds, None
    ones = attention_mask.new_ones(n, n_virtual)
    return embeds, torch.cat([ones, attention_mask], dim=1)


def pad_labels(labels: torch.Tensor, n_virtual: int) -> torch.Tensor:
    """Labels (n, s) -> (n, n_virtual + s) with -100 (ignored) at the virtual tokens."""
    pad = labels.new_full((labels.shape[0], n_virtual), -100)
    return torch.cat([pad, labels], dim=1)


def repeat_to_length(token_ids: list[int], n_virtual: int) -> list[int]:
    """PEFT's text initialisation: truncate, or repeat the ids until n_virtual long."""
    check_n_virtual(n_virtual)
    if not token_ids:
        raise ValueError("the initialisation text has no tokens")
    reps = math.ceil(n_virtual / len(token_ids))
    return (list(token_ids) * reps)[:n_virtual]


class SoftPrompt(nn.Module):
    """n_virtual trainable embeddings put in front of every input.

    Worked shapes: on LLaMA-7B (d_model = 4096), 20 virtual tokens are a
    (20, 4096) tensor: 81,920 trainable numbers, the whole adapter.

    Args:
        n_virtual: number of virtual tokens.
        d_model: embedding width of the model.
        dtype: dtype of the soft prompt (PEFT keeps float32).
        device: where to create it.
    """

    def __init__(
        self,
        n_virtual: int,
        d_model: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        check_n_virtual(n_virtual)
        # N(0, 1): nn.Embedding's default, which is PEFT's RANDOM initialisation
        self.soft_prompt = nn.Parameter(
            torch.randn(n_virtual, d_model, dtype=dtype, device=device)
        )

    @classmethod
    def from_token_ids(
        cls, word_embeddings: torch.Tensor, token_ids: list[int], n_virtual: int
    ) -> "SoftPrompt":
        """Initialise from the embeddings of real tokens (Lester et al. section 2.1).

        The ids are truncated or repeated to n_virtual, as PEFT's TEXT init does.

        Args:
            word_embeddings: the model's input embedding matrix (n_vocab, d_model).
            token_ids: ids of the tokenized initialisation text.
            n_virtual: number of virtual tokens.
        """
        ids = torch.tensor(repeat_to_length(token_ids, n_virtual))
        prompt = cls(n_virtual, word_embeddings.shape[1], device="meta")
        init = word_embeddings.detach()[ids.to(word_embeddings.device)].float()
        prompt.soft_prompt = nn.Parameter(init.clone())  # float32, as PEFT's
        return prompt

    @property
    def n_virtual(self) -> int:
        return self.soft_prompt.shape[0]

    def forward(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[E_soft; X_e] and the extended mask; see `prepend_virtual_tokens`."""
        return prepend_virtual_tokens(self.soft_prompt, inputs_embeds, attention_mask)
