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

    def __init__(
        self, recurrent: nn.Module, out_features: int = 1, *, per_step: bool = False
    ) -> None:
        super().__init__()
        if not getattr(recurrent, "batch_first", False):
            raise ConfigError(
                "SequenceRegressor needs a recurrent layer built with batch_first=True"
            )
        directions = 2 if getattr(recurrent, "bidirectional", False) else 1
        self.recurrent = recurrent
        self.per_step = per_step
        self.head = nn.Linear(recurrent.hidden_size * directions, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Map (batch, seq_len, input_size) to the head's output."""
        output, _ = self.recurrent(x)
        return self.head(output if self.per_step else output[:, -1])


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def matching_bidirectional_hidden_size(
    recurrent_cls: type[nn.Module],
    input_size: int,
    hidden_size: int,
    out_features: int = 1,
    num_layers: int = 1,
) -> int:
    """Hidden size per direction for which a bidirectional regressor has about as many parameters as a unidirectional one.

    Both are :class:`SequenceRegressor` models (recurrent layer plus linear head) built with
    ``recurrent_cls`` (``lstm_study.nn.LSTM``, ``torch.nn.LSTM``, ...); of the sizes
    ``1..hidden_size`` the one whose count is closest wins, the smaller on a tie.
    """

    def total(size: int, bidirectional: bool) -> int:
        layer = recurrent_cls(
            input_size, size, num_layers, batch_first=True, bidirectional=bidirectional
        )
        return count_parameters(SequenceRegressor(layer, out_features))

    target = total(hidden_size, False)
    return min(
        range(1, hidden_size + 1), key=lambda size: abs(total(size, True) - target)
    )


def regressor(
    kind: str, input_size: int, hidden: int, *, forget_bias: float = 0.0
) -> SequenceRegressor:
    """A fresh batch-first ``"RNN"`` or ``"LSTM"`` of ``hidden`` units with a linear read-out.

    The LSTM's forget-gate bias is raised by ``forget_bias`` (gate order i, f, g, o: f is the
    second block of ``bias_ih_l0``). A module-level function, so that
    ``functools.partial(regressor, ...)`` pickles into :mod:`lstm_study.parallel`'s workers.
    """
    import torch

    from lstm_study.nn import LSTM, RNN  # the layers import nothing from here

    if kind == "RNN":
        return SequenceRegressor(RNN(input_size, hidden, batch_first=True))
    if kind != "LSTM":
        raise ConfigError(f"kind must be 'RNN' or 'LSTM', got {kind!r}")
    layer = LSTM(input_size, hidden, batch_first=True)
    with torch.no_grad():
        layer.bias_ih_l0[hidden : 2 * hidden] += forget_bias
    return SequenceRegressor(layer)
