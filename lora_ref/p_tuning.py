"""P-tuning: virtual tokens produced by a small prompt encoder, then prepended.

Implements Liu et al., "GPT Understands, Too" (arXiv 2103.10385, section 3):
the continuous prompt embeddings (the paper's h_i) come from a prompt
encoder (a bidirectional LSTM followed by an MLP in the paper) applied to
trainable embeddings E_enc, rather than being free parameters. PEFT's
default encoder is an MLP. Taught in "Prefix tuning"
(docs/prefix-tuning.md, section "P-tuning"); the PEFT counterpart is
`peft.tuners.p_tuning.model.PromptEncoder` (`PromptEncoderConfig`,
peft 0.21.2), which this module matches for both encoder types.

Unlike prefix tuning, P-tuning's output enters only at the input, like
prompt tuning's soft prompt: it is prepended with
`lora_ref.prompt_tuning.prepend_virtual_tokens`.
"""

import torch
from torch import nn

from lora_ref.prompt_tuning import check_n_virtual, prepend_virtual_tokens


class PromptEncoder(nn.Module):
    """Trainable embeddings E_enc (n_virtual, d_model), passed through an encoder.

    MLP (PEFT's default): Linear(d_model, hidden) -> ReLU -> Linear(hidden,
    hidden) -> ReLU -> Linear(hidden, d_model). LSTM: a 2-layer bidirectional
    LSTM of width hidden, then Linear(2 hidden, 2 hidden) -> ReLU ->
    Linear(2 hidden, d_model).

    Args:
        n_virtual: number of virtual tokens.
        d_model: embedding width of the model.
        hidden: hidden width of the encoder (PEFT's default is d_model).
        kind: "mlp" or "lstm".
        lstm_layers: number of LSTM layers (PEFT's `encoder_num_layers`, 2).
    """

    def __init__(
        self,
        n_virtual: int,
        d_model: int,
        hidden: int | None = None,
        kind: str = "mlp",
        lstm_layers: int = 2,
    ) -> None:
        super().__init__()
        check_n_virtual(n_virtual)
        if kind not in ("mlp", "lstm"):
            raise ValueError(f"kind must be 'mlp' or 'lstm', got {kind!r}")
        hidden = d_model if hidden is None else hidden
        self.kind = kind
        # N(0, 1): nn.Embedding's default, as PEFT's PromptEncoder.embedding
        self.embedding = nn.Parameter(torch.randn(n_virtual, d_model))
        if kind == "mlp":
            self.lstm = None
            self.mlp = nn.Sequential(
                nn.Linear(d_model, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, d_model),
            )
        else:
            self.lstm = nn.LSTM(
                d_model,
                hidden,
                num_layers=lstm_layers,
                bidirectional=True,
                batch_first=True,
            )
            self.mlp = nn.Sequential(
                nn.Linear(2 * hidden, 2 * hidden),
                nn.ReLU(),
                nn.Linear(2 * hidden, d_model),
            )

    def virtual_tokens(self) -> torch.Tensor:
        """The encoded prompt, shape (n_virtual, d_model)."""
        if self.lstm is None:
            return self.mlp(self.embedding)
        states = self.lstm(self.embedding[None])[0][0]  # (n_virtual, 2 hidden)
        return self.mlp(states)

    def forward(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[encoder(E_enc); X_e] and the extended mask (`prepend_virtual_tokens`)."""
        return prepend_virtual_tokens(
            self.virtual_tokens(), inputs_embeds, attention_mask
        )
