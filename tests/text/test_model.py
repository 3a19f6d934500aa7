"""The character LSTM: it learns, carrying the state helps, sampling honours its arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.runtime import seed_everything
from lstm_study.text.batches import tbptt_windows
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
from lstm_study.text.vocab import Vocabulary

# a text whose next character depends on one far back: after "<x" the copy ">x" comes 12 steps later
VOCAB = Vocabulary(tuple("abc<>."))


def periodic_text(repeats: int = 200) -> str:
    return "abcabcabcabc." * repeats


@pytest.mark.slow
def test_training_lowers_held_out_bits_per_character():
    seed_everything(0)
    codes = VOCAB.encode(periodic_text())
    model = CharLSTM(len(VOCAB), hidden_size=16, dropout=0.0)
    before = bits_per_character(model, codes, batch_size=4, window=16)
    history = train_language_model(model, codes, steps=150, batch_size=4, window=16, lr=1e-2,
                                   evaluate=lambda m: bits_per_character(m, codes, batch_size=4, window=16),
                                   eval_every=50)  # fmt: skip
    assert history.eval_steps == [50, 100, 150]
    assert history.eval_bpc[-1] < 0.3 < 2.0 < before
    # with the state carried, nothing is predicted without context; resetting costs bits
    assert (
        bits_per_character(model, codes, batch_size=4, window=4, carry_state=False)
        > history.eval_bpc[-1] + 0.1
    )


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_weight_decay_shrinks_a_weight_without_gradient_by_lr_times_decay_per_step(
    weight_decay,
):
    # "<" and ">" never occur in the text: their embedding rows get no gradient, so
    # Adam leaves them alone and AdamW only shrinks them, by lr * decay per step
    seed_everything(0)
    codes = VOCAB.encode(periodic_text(20))
    model = CharLSTM(len(VOCAB), hidden_size=8, dropout=0.0)
    unused = VOCAB.encode("<>")
    before = model.embedding.weight.detach()[unused].clone()
    used = VOCAB.encode("a")
    used_before = model.embedding.weight.detach()[used].clone()
    train_language_model(model, codes, steps=20, batch_size=4, window=8, lr=1e-2,
                         weight_decay=weight_decay)  # fmt: skip
    after = model.embedding.weight.detach()[unused]
    torch.testing.assert_close(after, before * (1 - 1e-2 * weight_decay) ** 20)
    assert not torch.equal(model.embedding.weight.detach()[used], used_before)


@pytest.mark.parametrize("weight_decay", [-0.1, math.nan, math.inf])
def test_training_refuses_a_bad_weight_decay(weight_decay):
    model = CharLSTM(len(VOCAB), hidden_size=8)
    with pytest.raises(ConfigError, match="weight_decay"):
        train_language_model(model, VOCAB.encode(periodic_text(5)), steps=1,
                             batch_size=2, window=4, weight_decay=weight_decay)  # fmt: skip


def test_position_losses_cover_every_target_once():
    model = CharLSTM(len(VOCAB), hidden_size=4)
    codes = VOCAB.encode(periodic_text(3))
    losses = position_losses(model, codes, batch_size=3, window=5)
    assert losses.shape == (3, len(codes) // 3 - 1) and (losses > 0).all()


def test_carrying_the_state_equals_one_long_pass():
    seed_everything(1)
    model = CharLSTM(len(VOCAB), hidden_size=8, dropout=0.0).eval()
    codes = VOCAB.encode(periodic_text(4))[:41]
    whole = position_losses(model, codes, batch_size=1, window=1000)
    windowed = position_losses(model, codes, batch_size=1, window=7)
    torch.testing.assert_close(windowed, whole)
    assert not torch.allclose(
        position_losses(model, codes, batch_size=1, window=7, carry_state=False), whole
    )


@pytest.mark.parametrize("at_once", [1, 2, 3, 100])
def test_reset_windows_run_together_score_as_one_by_one(at_once):
    seed_everything(2)
    model = CharLSTM(len(VOCAB), hidden_size=8, dropout=0.0).eval()
    codes = VOCAB.encode(periodic_text(5))[:200]  # 3 streams of 66: a last window of 2
    one_by_one = []
    for x, y in tbptt_windows(codes, 3, 7):
        logits, _ = model(x, None)
        one_by_one.append(
            torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), y, reduction="none"
            )
            / math.log(2)
        )
    together = position_losses(
        model, codes, batch_size=3, window=7, carry_state=False, windows_at_once=at_once
    )
    torch.testing.assert_close(together, torch.cat(one_by_one, dim=1))


def test_sample_is_reproducible_and_uses_the_vocabulary():
    model = CharLSTM(len(VOCAB), hidden_size=8)
    draws = [
        sample(model, VOCAB, "abc", 30, 1.0, torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert (
        draws[0] == draws[1]
        and len(draws[0]) == 30
        and set(draws[0]) <= set(VOCAB.chars) | {"\ufffd"}
    )


@pytest.mark.parametrize(
    ("prompt", "length", "temperature", "message"),
    [("abc", 10, 0.0, "temperature"), ("abc", 10, -1.0, "temperature"), ("abc", 0, 1.0, "length"),
     ("abz", 10, 1.0, "outside the vocabulary"), ("", 10, 1.0, "prompt")],
)  # fmt: skip
def test_sample_refuses_bad_arguments(prompt, length, temperature, message):
    with pytest.raises(ConfigError, match=message):
        sample(CharLSTM(len(VOCAB), hidden_size=4), VOCAB, prompt, length, temperature)


def test_cell_states_have_one_row_per_layer_and_character():
    model = CharLSTM(len(VOCAB), hidden_size=5, num_layers=2)
    assert cell_states(model, VOCAB.encode("abc.abc")).shape == (2, 7, 5)


def test_cell_states_in_pieces_with_a_warm_up_that_covers_the_text_are_the_states():
    seed_everything(0)
    model = CharLSTM(len(VOCAB), hidden_size=6, num_layers=2)
    codes = VOCAB.encode(periodic_text(3)[:37])
    whole = cell_states(model, codes)
    for pieces, warmup in ((1, 0), (4, 37), (5, 100), (37, 40)):
        states, gaps = cell_states_in_pieces(model, codes, pieces, warmup)
        assert states.shape == whole.shape
        torch.testing.assert_close(states, whole, rtol=0, atol=1e-6)
        assert gaps.shape == (2, 6) and gaps.max() < 1e-6
    states, _ = cell_states_in_pieces(model, codes, pieces=4, warmup=3)
    torch.testing.assert_close(states[:, :10], whole[:, :10], rtol=0, atol=1e-6)


def test_the_seam_gap_shows_a_state_that_does_not_forget():
    seed_everything(0)
    codes = VOCAB.encode(periodic_text(20))
    model = CharLSTM(len(VOCAB), hidden_size=6, num_layers=1)
    whole = cell_states(model, codes)
    states, gaps = cell_states_in_pieces(model, codes, pieces=4, warmup=60)
    assert (
        gaps.max() < 1e-4 and (states - whole).abs().max() < 1e-4
    )  # an untrained cell forgets
    with torch.no_grad():  # the forget gate open, the input gate half open: c adds up
        model.lstm.bias_ih_l0[model.lstm.gate_rows("f")] = 30.0
    whole = cell_states(model, codes)
    states, gaps = cell_states_in_pieces(model, codes, pieces=4, warmup=60)
    assert gaps.max() > 1.0 and (states - whole).abs().max() > 1.0


@pytest.mark.parametrize(
    ("pieces", "warmup", "text", "message"),
    [(0, 10, "abc", "pieces"), (2, -1, "abc", "warmup"), (2, 10, "", "at least one")],
)
def test_cell_states_in_pieces_refuses_bad_arguments(pieces, warmup, text, message):
    model = CharLSTM(len(VOCAB), hidden_size=4)
    with pytest.raises(ConfigError, match=message):
        cell_states_in_pieces(model, VOCAB.encode(text), pieces, warmup)


def test_text_features_mark_stage_directions_speakers_and_columns():
    from lstm_study.text.units import text_features

    text = "**HAM**\nTo be _Aside_ or\n"
    f = text_features(text)
    assert (
        "".join(c for c, s in zip(text, f["inside a stage direction"]) if s)
        == "_Aside_"
    )
    assert (
        "".join(c for c, s in zip(text, f["inside a speaker's name"]) if s) == "**HAM**"
    )
    assert f["position in the line"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7] + list(
        range(17)
    )


def test_correlations_find_a_unit_that_copies_the_feature():
    from lstm_study.text.units import best_units

    feature = (torch.arange(50) % 7 < 3).double().numpy()
    states = torch.randn(2, 50, 4)
    states[1, :, 2] = torch.from_numpy(feature) * -3 + 1
    row = best_units(states, {"f": feature})[0]
    assert (row["layer"], row["unit"]) == (1, 2) and row[
        "correlation"
    ] == pytest.approx(-1.0)


def test_correlations_are_pearson_for_every_unit_and_zero_for_a_constant_one():
    from lstm_study.text.units import correlations

    generator = torch.Generator().manual_seed(3)
    states = torch.randn(2, 200, 3, generator=generator)
    states[0, :, 1] = 5.0
    feature = torch.randn(200, generator=generator).numpy() + states[1, :, 0].numpy()
    r = correlations(states, feature)
    for layer, unit in ((0, 0), (0, 2), (1, 0), (1, 1), (1, 2)):
        expected = np.corrcoef(states[layer, :, unit].numpy(), feature)[0, 1]
        assert r[layer, unit] == pytest.approx(expected, abs=1e-6)
    assert r[0, 1] == 0.0 and r[1, 0] > 0.5


def test_texts_drawn_side_by_side_follow_their_own_temperature():
    seed_everything(0)
    model = CharLSTM(len(VOCAB), hidden_size=8)
    greedy = sample(model, VOCAB, "abc", 30, 0.01, torch.Generator().manual_seed(0))
    texts = sample_each(
        model, VOCAB, "abc", 30, (0.01, 3.0, 0.01), torch.Generator().manual_seed(5)
    )
    assert [len(text) for text in texts] == [30, 30, 30]
    assert (
        texts[0] == texts[2] == greedy
    )  # near zero: the most likely character each step
    assert texts[1] != greedy
    with pytest.raises(ConfigError, match="at least one temperature"):
        sample_each(model, VOCAB, "abc", 3, ())
    with pytest.raises(ConfigError, match="above 0"):
        sample_each(model, VOCAB, "abc", 3, (1.0, -1.0))
