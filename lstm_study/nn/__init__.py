"""Recurrent layers written from scratch, each a drop-in for its ``torch.nn`` namesake."""

from lstm_study.nn.base import RecurrentBase
from lstm_study.nn.rnn import RNN

__all__ = ["RNN", "RecurrentBase"]
