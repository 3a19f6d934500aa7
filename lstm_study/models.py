"""Small models built from a recurrent layer and a linear read-out."""

from __future__ import annotations

from torch import Tensor, nn

from lstm_study.errors import ConfigError


class SequenceRegressor(nn.Module):
    """A batch-first recurrent layer followed by a linear head.

    With ``per_step=False`` the head reads the last step's output and returns
    (batch, out_features); with ``per_step=True`` it reads every step and returns
    (batch, seq_len, out_features). Works with ``lstm_study.nn`` and ``torch.nn``
    recurrent layers alike.
    """

    def __init__(self, recurrent: nn.Module, out_features: int = 1, *, per_step: bool = False) -> None:
        super().__init__()
        if not getattr(recurrent, "batch_first", False):
            raise ConfigError("SequenceRegressor needs a recurrent layer built with batch_first=True")
        directions = 2 if getattr(recurrent, "bidirectional", False) else 1
        self.recurrent = recurrent
        self.per_step = per_step
        self.head = nn.Linear(recurrent.hidden_size * directions, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Map (batch, seq_len, input_size) to the head's output."""
        output, _ = self.recurrent(x)
        return self.head(output if self.per_step else output[:, -1])
