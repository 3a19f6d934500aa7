"""Recurrent layers written from scratch, each a drop-in for its ``torch.nn`` namesake."""

from lstm_study.nn.base import RecurrentBase
from lstm_study.nn.lstm import LSTM, GateTrace
from lstm_study.nn.rnn import RNN

__all__ = ["GateTrace", "LSTM", "RNN", "RecurrentBase"]
