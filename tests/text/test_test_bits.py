"""The committed test bits: stored and read back, refused when stale or corrupt, checked live."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.runtime import seed_everything
from lstm_study.text import test_bits
from lstm_study.text.model import CharLSTM
from lstm_study.text.vocab import Vocabulary
from lstm_study.text.weights import load_model

VOCAB = Vocabulary(tuple("abc<>."))


@pytest.fixture
def scored(monkeypatch):
    monkeypatch.setattr(test_bits, "EVAL_BATCH", 3)
    monkeypatch.setattr(test_bits, "EVAL_WINDOW", 5)
    seed_everything(0)
    model = CharLSTM(len(VOCAB), hidden_size=8, dropout=0.0).eval()
    codes = VOCAB.encode("abcabc<a>.abca<b>." * 10)
    return model, codes, test_bits.score(model, codes)


def test_bits_round_trip_in_half_precision(scored, tmp_path):
    _, _, bits = scored
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    info = {"weights_sha256": test_bits.sha256(weights), "machine": "here"}
    path = test_bits.write(tmp_path / "bits.npz", bits, info)
    back, found = test_bits.load(path, weights)
    assert found == info
    for mode in test_bits.MODES:
        assert back[mode].dtype == torch.float32
        assert torch.allclose(back[mode], bits[mode], atol=test_bits.TOLERANCE)
    assert test_bits.agrees(bits, back)


def test_bits_of_other_weights_or_a_corrupt_file_are_refused(scored, tmp_path):
    _, _, bits = scored
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    path = test_bits.write(tmp_path / "bits.npz", bits, {"weights_sha256": "0" * 64})
    with pytest.raises(ConfigError, match="other weights"):
        test_bits.load(path, weights)
    path.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="cannot be read"):
        test_bits.load(path, weights)
    with pytest.raises(ConfigError, match="need the bits"):
        test_bits.write(tmp_path / "x.npz", {"carried": bits["carried"]}, {})


def test_a_slice_scores_as_the_first_windows_of_the_whole_and_a_shift_is_caught(scored):
    model, codes, bits = scored
    live = test_bits.score(model, codes, max_windows=2)
    for mode in test_bits.MODES:
        assert live[mode].shape == (3, 10)
        torch.testing.assert_close(live[mode], bits[mode][:, :10])
    assert test_bits.agrees(live, bits)
    shifted = {mode: values + 0.05 for mode, values in bits.items()}
    assert not test_bits.agrees(live, shifted)


def test_the_committed_bits_belong_to_the_shipped_weights_and_match_their_record():
    bits, info = test_bits.load()
    recorded = load_model().info["test_bpc"]
    assert abs(bits["carried"].mean().item() - recorded) < 1e-3
    assert abs(info["bpc"]["carried"] - recorded) < 1e-3
    assert bits["reset"].mean() > bits["carried"].mean()
