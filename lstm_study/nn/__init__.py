"""Recurrent layers written from scratch, each a drop-in for its ``torch.nn`` namesake."""

from lstm_study.nn.base import RecurrentBase
from lstm_study.nn.gru import GRU
from lstm_study.nn.lstm import LSTM, VARIANTS, GateTrace
from lstm_study.nn.parity import ParityReport, check_parity
from lstm_study.nn.rnn import RNN

__all__ = [
    "GRU",
    "GateTrace",
    "LSTM",
    "ParityReport",
    "RNN",
    "RecurrentBase",
    "VARIANTS",
    "check_parity",
]
