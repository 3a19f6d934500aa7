"""Shared test settings: fixed threads so float results are reproducible, and no worker pool.

Tests replace functions with monkeypatch, which a worker process would not see, so every test
trains in its own process (``LSTM_STUDY_WORKERS=1``); tests/test_parallel.py turns the pool
on where it is the subject.
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_worker_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTM_STUDY_WORKERS", "1")
