"""The language-model chapter: Shakespeare's plays, a character vocabulary, TBPTT batches,
n-gram baselines, and a character-level LSTM that is trained, scored, sampled and looked into.

Data flow: :func:`load_corpus` -> :class:`Vocabulary` -> :func:`tbptt_windows` -> :class:`CharLSTM`
-> :func:`bits_per_character`, :func:`sample`; :class:`KneserNey` scores the same codes.
"""

from lstm_study.text.batches import streams, tbptt_windows, window_count
from lstm_study.text.corpus import load_corpus, split_plays
from lstm_study.text.model import (
    CharLSTM,
    bits_per_character,
    cell_states,
    cell_states_in_pieces,
    position_losses,
    sample,
    sample_each,
    train_language_model,
)
from lstm_study.text.ngram import KneserNey, best_order
from lstm_study.text.vocab import Vocabulary
from lstm_study.text.weights import load_model

__all__ = [
    "CharLSTM", "KneserNey", "Vocabulary", "best_order", "bits_per_character", "cell_states",
    "cell_states_in_pieces", "load_corpus", "load_model", "position_losses", "sample", "sample_each", "split_plays", "streams", "tbptt_windows", "train_language_model",
    "window_count",
]  # fmt: skip
