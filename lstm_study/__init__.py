"""A Study on LSTM: the tested package behind the book's chapters."""

__version__ = "0.1.0"
