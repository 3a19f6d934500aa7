"""The synthetic tasks keep their contracts: shapes, where the answer lies, reproducibility."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.tasks import adding_problem, delayed_recall


@pytest.mark.parametrize("seq_len", [2, 3, 10, 101])
def test_adding_problem_shapes_and_markers(seq_len):
    x, y = adding_problem(64, seq_len, generator=torch.Generator().manual_seed(0))
    assert x.shape == (64, seq_len, 2) and y.shape == (64, 1)
    assert x.dtype == y.dtype == torch.float32
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    half = seq_len // 2
    # exactly two markers: one in each half
    assert (markers[:, :half].sum(1) == 1).all() and (
        markers[:, half:].sum(1) == 1
    ).all()


def test_adding_problem_target_is_the_marked_sum():
    x, y = adding_problem(100, 30, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(y[:, 0], (x[..., 0] * x[..., 1]).sum(1))


def test_adding_problem_is_reproducible_with_a_generator():
    a = adding_problem(8, 20, generator=torch.Generator().manual_seed(5))
    b = adding_problem(8, 20, generator=torch.Generator().manual_seed(5))
    c = adding_problem(8, 20, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_adding_problem_markers_cover_both_halves():
    x, _ = adding_problem(4000, 10, generator=torch.Generator().manual_seed(2))
    positions = x[..., 1].sum(0)
    assert (positions > 0).all()  # every position gets marked sometimes


def test_adding_problem_constant_one_scores_about_one_sixth():
    _, y = adding_problem(20000, 50, generator=torch.Generator().manual_seed(3))
    assert (y - 1).square().mean().item() == pytest.approx(1 / 6, abs=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(batch_size=0, seq_len=10),
        dict(batch_size=4, seq_len=1),
        dict(batch_size=4, seq_len=2.5),
    ],
)
def test_adding_problem_refuses_bad_sizes(kwargs):
    with pytest.raises(ConfigError):
        adding_problem(**kwargs)


def test_delayed_recall_target_lies_lag_steps_before_the_end():
    x, y = delayed_recall(16, 7, generator=torch.Generator().manual_seed(0))
    assert x.shape == (16, 12, 1) and y.shape == (16, 1)
    torch.testing.assert_close(y, x[:, 12 - 1 - 7])
    assert ((x >= -1) & (x <= 1)).all()


def test_delayed_recall_is_reproducible_and_checks_lag():
    a = delayed_recall(4, 3, seq_len=10, generator=torch.Generator().manual_seed(1))
    b = delayed_recall(4, 3, seq_len=10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ConfigError, match="lag"):
        delayed_recall(4, 10, seq_len=10)
