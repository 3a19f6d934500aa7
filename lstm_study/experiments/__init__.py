"""Sweeps too large for a chapter's build, run from ``lstm-study`` commands; results are committed here."""
