"""The small training loop the theory chapters share: Adam, MSE, optional gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm import (
    tqdm,  # not tqdm.auto: without ipywidgets it warns in every notebook that imports this
)

from lstm_study.errors import ConfigError, check_int

BatchMaker = Callable[[int], tuple[Tensor, Tensor]]


@dataclass
class TrainingHistory:
    """What happened during training: the loss and the gradient norm (before clipping) per step."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    diverged: bool = False

    def final_loss(self, last: int = 50) -> float:
        """Mean loss over the last ``last`` steps (``nan`` if training diverged)."""
        if self.diverged or not self.loss:
            return math.nan
        tail = self.loss[-last:]
        return sum(tail) / len(tail)


def train(
    model: nn.Module,
    make_batch: BatchMaker,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-2,
    clip_norm: float | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.mse_loss,
    optimizer: str = "adam",
    progress: bool = False,
    on_step: Callable[[int, nn.Module], None] | None = None,
) -> TrainingHistory:
    """Train ``model`` on fresh batches from ``make_batch(batch_size)`` for ``steps`` steps.

    Stops early and marks the history ``diverged`` when the loss becomes NaN or infinite.
    With ``clip_norm`` set, the gradient is rescaled to that norm when it is larger
    (Pascanu et al., 2013, algorithm 1). Batches are moved to the model's device.
    ``on_step(k, model)``, when given, is called after the k-th update (k = 1, 2, ...), to
    measure the model during training; it must leave the parameters and their gradients
    as it found them.
    """
    check_int("steps", steps)
    check_int("batch_size", batch_size)
    optimisers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if optimizer not in optimisers:
        raise ConfigError(
            f"optimizer must be one of {sorted(optimisers)}, got {optimizer!r}"
        )
    device = next(model.parameters()).device
    opt = optimisers[optimizer](model.parameters(), lr=lr)
    history = TrainingHistory()
    model.train()
    for step in tqdm(range(steps), disable=not progress, desc="training", leave=False):
        x, y = make_batch(batch_size)
        loss = loss_fn(model(x.to(device)), y.to(device))
        if not torch.isfinite(loss):
            history.diverged = True
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(
            model.parameters(), clip_norm if clip_norm is not None else math.inf
        )
        history.loss.append(loss.item())
        history.grad_norm.append(norm.item())
        if not torch.isfinite(norm):
            history.diverged = True
            break
        opt.step()
        if on_step is not None:
            on_step(step + 1, model)
            model.train()
    model.eval()
    return history


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.mse_loss,
) -> float:
    """Loss of ``model`` on one fixed batch, in evaluation mode."""
    model.eval()
    device = next(model.parameters()).device
    return loss_fn(model(x.to(device)), y.to(device)).item()


def sequence_cross_entropy(
    logits: Tensor, targets: Tensor, ignore_index: int = -100
) -> Tensor:
    """Mean cross-entropy over every labelled position of (batch, seq_len, classes) logits.

    ``targets`` is (batch, seq_len) of class indices; positions holding ``ignore_index``
    (``lstm_study.tasks.IGNORE_INDEX``) do not count.
    """
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=ignore_index,
    )


@torch.no_grad()
def accuracy_by_position(
    model: nn.Module, x: Tensor, y: Tensor, ignore_index: int = -100
) -> Tensor:
    """Share of correct arg-max predictions at each position, shape (seq_len,); NaN where no label."""
    model.eval()
    device = next(model.parameters()).device
    predicted = model(x.to(device)).argmax(-1).cpu()
    labelled = y != ignore_index
    correct = ((predicted == y) & labelled).sum(0).double()
    return torch.where(
        labelled.any(0), correct / labelled.sum(0).clamp(min=1), torch.nan
    )


def train_on_adding(
    make_model: Callable[[], nn.Module],
    length: int,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    lr: float,
    clip_norm: float | None = None,
) -> tuple[nn.Module, TrainingHistory]:
    """Chapter 3's protocol: seed everything with ``seed``, build, train on the adding problem.

    Each of ``steps`` Adam steps draws a fresh batch of ``length``-step sequences from the
    generator the seed gives. Returns the trained model and its history; a pure function of
    its arguments, so independent runs can go to :func:`lstm_study.parallel.run_all`.
    """
    from lstm_study.runtime import seed_everything  # runtime imports nothing from here
    from lstm_study.tasks import adding_problem

    batches = seed_everything(seed)
    model = make_model()
    history = train(
        model,
        lambda n: adding_problem(n, length, generator=batches),
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        clip_norm=clip_norm,
    )
    return model, history


def recall_by_lag(
    make_model: Callable[[], nn.Module],
    lags: list[int],
    *,
    steps: int = 300,
    lr: float = 3e-3,
    test_size: int = 2000,
    seed: int = 0,
    test_seed: int = 1234,
    valid_seed: int | None = None,
    **train_options: object,
) -> list[dict[str, float]]:
    """Train a fresh model per lag on delayed recall and score it on held-out sequences.

    Chapter 1's protocol: for each lag, seeds reset to ``seed``, ``steps`` Adam steps on fresh
    batches, then the test MSE and R² = 1 - MSE / (1/3) on ``test_size`` sequences drawn from one
    generator seeded ``test_seed`` and shared by the lags in order; ``train_options`` (for
    example ``batch_size``, ``clip_norm``) go to :func:`train`. Returns one row per lag.
    With ``valid_seed``, each row also holds ``"valid r2"``, the R² on as many validation
    sequences from a generator seeded ``valid_seed``: the score to choose a setting by, so
    that the test sequences choose nothing.
    """
    from lstm_study.runtime import seed_everything  # runtime imports nothing from here
    from lstm_study.tasks import delayed_recall

    test_generator = torch.Generator().manual_seed(test_seed)
    valid_generator = (
        None if valid_seed is None else torch.Generator().manual_seed(valid_seed)
    )
    rows = []
    for lag in lags:
        generator = seed_everything(seed)
        model = make_model()
        data = lambda b, lag=lag: delayed_recall(b, lag, generator=generator)  # noqa: E731
        train(model, data, steps=steps, lr=lr, **train_options)
        x_test, y_test = delayed_recall(test_size, lag, generator=test_generator)
        mse = evaluate(model, x_test, y_test)
        rows.append({"lag": lag, "test MSE": mse, "r2": 1 - mse / (1 / 3)})
        if valid_generator is not None:
            x_valid, y_valid = delayed_recall(test_size, lag, generator=valid_generator)
            rows[-1]["valid r2"] = 1 - evaluate(model, x_valid, y_valid) / (1 / 3)
    return rows
