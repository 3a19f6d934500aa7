"""The generators behind chapter 4: lookahead_labels and next_step_windows."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.tasks import IGNORE_INDEX, lookahead_labels, next_step_windows


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "lookahead, seq_len, num_symbols", [(0, 5, 2), (3, 16, 4), (7, 8, 10)]
)
def test_label_is_the_symbol_lookahead_steps_later(lookahead, seq_len, num_symbols):
    x, y = lookahead_labels(
        32, lookahead, seq_len=seq_len, num_symbols=num_symbols, generator=_gen()
    )
    assert x.shape == (32, seq_len, num_symbols) and x.dtype == torch.float32
    assert y.shape == (32, seq_len) and y.dtype == torch.long
    assert torch.equal(x.sum(-1), torch.ones(32, seq_len))  # one-hot
    symbols = x.argmax(-1)
    labelled = seq_len - lookahead
    assert torch.equal(y[:, :labelled], symbols[:, lookahead:])
    assert (y[:, labelled:] == IGNORE_INDEX).all()


def test_symbols_are_uniform_and_labels_independent_of_the_past():
    """The facts the chance level 1/K rests on, checked on a large sample (about 5 standard errors)."""
    num_symbols, n = 4, 20_000
    x, y = lookahead_labels(n, 2, seq_len=6, num_symbols=num_symbols, generator=_gen(1))
    symbols = x.argmax(-1)
    frequencies = (
        torch.bincount(symbols.flatten(), minlength=num_symbols).double()
        / symbols.numel()
    )
    assert (frequencies - 1 / num_symbols).abs().max() < 0.01
    # Any rule reading the past scores 1/K; try the obvious ones: copy the current or previous symbol.
    standard_error = (0.25 * 0.75 / n) ** 0.5
    for rule in (symbols[:, 1:4], symbols[:, 0:3]):
        accuracy = (rule == y[:, 1:4]).double().mean().item()
        assert abs(accuracy - 1 / num_symbols) < 5 * standard_error


def test_same_generator_seed_gives_the_same_batch():
    a = lookahead_labels(8, 2, generator=_gen(5))
    b = lookahead_labels(8, 2, generator=_gen(5))
    c = lookahead_labels(8, 2, generator=_gen(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_cross_entropy_skips_the_unlabelled_positions():
    x, y = lookahead_labels(4, 3, seq_len=6, num_symbols=3, generator=_gen())
    logits = torch.randn(4, 6, 3)
    full = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), y.reshape(-1))
    kept = torch.nn.functional.cross_entropy(
        logits[:, :3].reshape(-1, 3), y[:, :3].reshape(-1)
    )
    assert torch.allclose(full, kept)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(batch_size=0, lookahead=1),
        dict(batch_size=4, lookahead=-1),
        dict(batch_size=4, lookahead=16),
        dict(batch_size=4, lookahead=1, seq_len=0),
        dict(batch_size=4, lookahead=1, num_symbols=1),
        dict(batch_size=4, lookahead=True),
    ],
)
def test_lookahead_labels_rejects_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        lookahead_labels(**kwargs)


def test_next_step_windows_pair_each_input_with_the_following_value():
    series = torch.arange(10.0)
    x, y = next_step_windows(series, 4)
    assert x.shape == y.shape == (6, 4, 1)
    for i in range(6):
        assert torch.equal(x[i, :, 0], series[i : i + 4])
        assert torch.equal(y[i, :, 0], series[i + 1 : i + 5])
    # every target but the last is also an input of the same window: the door a backward pass walks through
    assert torch.equal(y[:, :-1], x[:, 1:])


def test_next_step_windows_do_not_alias_the_series():
    series = torch.arange(6.0)
    x, _ = next_step_windows(series, 3)
    x[0, 0, 0] = 100.0
    assert series[0] == 0.0


@pytest.mark.parametrize(
    "series, length",
    [
        (torch.arange(5.0), 5),
        (torch.zeros(3, 2), 1),
        (torch.arange(5.0), 0),
        ([1.0, 2.0, 3.0], 1),
    ],
)
def test_next_step_windows_rejects_bad_arguments(series, length):
    with pytest.raises(ConfigError):
        next_step_windows(series, length)
