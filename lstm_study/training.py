"""The small training loop the theory chapters share: Adam, MSE, optional gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm import tqdm  # not tqdm.auto: without ipywidgets it warns in every notebook that imports this

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
) -> TrainingHistory:
    """Train ``model`` on fresh batches from ``make_batch(batch_size)`` for ``steps`` steps.

    Stops early and marks the history ``diverged`` when the loss becomes NaN or infinite.
    With ``clip_norm`` set, the gradient is rescaled to that norm when it is larger
    (Pascanu et al., 2013, algorithm 1). Batches are moved to the model's device.
    """
    check_int("steps", steps)
    check_int("batch_size", batch_size)
    optimisers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if optimizer not in optimisers:
        raise ConfigError(f"optimizer must be one of {sorted(optimisers)}, got {optimizer!r}")
    device = next(model.parameters()).device
    opt = optimisers[optimizer](model.parameters(), lr=lr)
    history = TrainingHistory()
    model.train()
    for _ in tqdm(range(steps), disable=not progress, desc="training", leave=False):
        x, y = make_batch(batch_size)
        loss = loss_fn(model(x.to(device)), y.to(device))
        if not torch.isfinite(loss):
            history.diverged = True
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip_norm if clip_norm is not None else math.inf)
        history.loss.append(loss.item())
        history.grad_norm.append(norm.item())
        if not torch.isfinite(norm):
            history.diverged = True
            break
        opt.step()
    model.eval()
    return history


@torch.no_grad()
def evaluate(
    model: nn.Module, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.mse_loss
) -> float:
    """Loss of ``model`` on one fixed batch, in evaluation mode."""
    model.eval()
    device = next(model.parameters()).device
    return loss_fn(model(x.to(device)), y.to(device)).item()


def sequence_cross_entropy(logits: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean cross-entropy over every labelled position of (batch, seq_len, classes) logits.

    ``targets`` is (batch, seq_len) of class indices; positions holding ``ignore_index``
    (``lstm_study.tasks.IGNORE_INDEX``) do not count.
    """
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=ignore_index
    )


@torch.no_grad()
def accuracy_by_position(model: nn.Module, x: Tensor, y: Tensor, ignore_index: int = -100) -> Tensor:
    """Share of correct arg-max predictions at each position, shape (seq_len,); NaN where no label."""
    model.eval()
    device = next(model.parameters()).device
    predicted = model(x.to(device)).argmax(-1).cpu()
    labelled = y != ignore_index
    correct = ((predicted == y) & labelled).sum(0).double()
    return torch.where(labelled.any(0), correct / labelled.sum(0).clamp(min=1), torch.nan)
