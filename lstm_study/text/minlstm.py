"""The character-level minLSTM language model: embedding, minLSTM blocks, a linear read-out.

The same interface as :class:`lstm_study.text.model.CharLSTM`: ``model(codes, state)`` gives the
logits of the next character after each code and the final state, which the next TBPTT window
(or the next generated character) carries on from.
"""

from __future__ import annotations

from torch import Tensor, nn

from lstm_study.errors import check_int
from lstm_study.nn.minlstm import MinStack


class CharMinLSTM(nn.Module):
    """Embedding -> :class:`~lstm_study.nn.minlstm.MinStack` -> LayerNorm -> linear read-out."""

    def __init__(
        self,
        vocab_size: int,
        width: int = 128,
        num_layers: int = 4,
        kind: str = "minlstm",
        expansion: int = 4,
    ) -> None:
        super().__init__()
        check_int("vocab_size", vocab_size, minimum=2)
        self.config = {"vocab_size": vocab_size, "width": width, "num_layers": num_layers,
                       "kind": kind, "expansion": expansion}  # fmt: skip
        self.embedding = nn.Embedding(vocab_size, width)
        self.stack = MinStack(width, num_layers, kind, expansion)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)

    def forward(
        self, codes: Tensor, state: Tensor | None = None, form: str = "parallel"
    ) -> tuple[Tensor, Tensor]:
        """Logits (batch, seq_len, vocab_size) and the state (num_layers, batch, width)."""
        out, state = self.stack(self.embedding(codes), state, form)
        return self.head(self.norm(out)), state
