"""The forecaster: ``torch.nn.LSTM`` with a linear head, trained with early stopping on a later block."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lstm_study.errors import ConfigError, check_int
from lstm_study.models import SequenceRegressor
from lstm_study.runtime import resolve_device

#: the largest value each count may take: far beyond any sensible run, well below an out-of-memory
LIMITS = {
    "hidden_size": 4096,
    "num_layers": 16,
    "epochs": 10_000,
    "patience": 10_000,
    "batch_size": 1_000_000,
}


@dataclass(frozen=True)
class TrainConfig:
    """Model size and optimisation settings, fixed before any test day is seen."""

    hidden_size: int = 16
    num_layers: int = 1
    epochs: int = 10
    patience: int = 2
    batch_size: int = 512
    lr: float = 3e-3
    # dropout on the last layer's output and between layers, in training only
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "epochs", "patience", "batch_size"):
            # the upper bounds refuse absurd values before they exhaust memory or time
            check_int(name, getattr(self, name), maximum=LIMITS[name])
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")


class DropoutRegressor(SequenceRegressor):
    """A :class:`SequenceRegressor` that drops out the last step's output before the head."""

    def __init__(self, recurrent: nn.Module, outputs: int, dropout: float) -> None:
        super().__init__(recurrent, outputs)
        # no parameters: the state_dict keys are those of a SequenceRegressor
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, lookback, features) to (batch, outputs)."""
        output, _ = self.recurrent(x)
        return self.head(self.dropout(output[:, -1]))


@dataclass
class FitHistory:
    """Per-epoch training and validation losses, and the epoch whose weights were kept."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


def build_model(
    n_features: int,
    config: TrainConfig,
    seed: int,
    device: torch.device,
    outputs: int = 1,
) -> nn.Module:
    """Return an LSTM regressor (``outputs`` values per window) whose weights depend only on ``seed``."""
    # fork_rng keeps the caller's global random state untouched by our seeding.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lstm = nn.LSTM(
            n_features,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            # torch drops out between layers only, and warns when there is one layer
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        if config.dropout > 0:
            model = DropoutRegressor(lstm, outputs, config.dropout)
        else:
            model = SequenceRegressor(lstm, outputs)
    return model.to(device)


def predict(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """Run the model on windows ``x`` (n, lookback, features) and return (n,) predictions."""
    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(x, dtype=torch.float32, device=device))
    return out.squeeze(-1).double().cpu().numpy()


def fit(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
    description: str = "epochs",
    initial_state: dict[str, torch.Tensor] | None = None,
    outputs: int = 1,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[nn.Module, FitHistory]:
    """Train on the training block with Adam and MSE (or ``loss(output, target)``); keep the weights of the best validation epoch.

    Training stops after ``patience`` epochs without a better validation loss. The validation
    block lies after the training block and before the test fold, so the stopping rule never
    looks at a test day. ``initial_state`` warm-starts from an earlier fold's weights (trained
    on earlier days only), so a retrain only has to adapt to the newest month. With ``outputs``
    above 1 (one per forecast step) ``y_train`` and ``y_val`` are (n, outputs).
    """
    device = resolve_device(device)
    criterion = loss or nn.functional.mse_loss
    model = build_model(x_train.shape[-1], config, seed, device, outputs)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=device)
    xv = torch.as_tensor(x_val, dtype=torch.float32, device=device)
    yv = torch.as_tensor(y_val, dtype=torch.float32, device=device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(seed)
    history = FitHistory()
    best_loss, best_state, stale = float("inf"), copy.deepcopy(model.state_dict()), 0
    bar = tqdm(
        range(config.epochs),
        desc=description,
        leave=False,
        disable=None if progress is None else not progress,
    )  # None: tqdm draws on a terminal only
    # Dropout draws from torch's global generator: seed it per fit, and give the caller
    # its own state back. The seed is the caller's: the walk-forward passes
    # 10_000 * seed + fold index, so warm-started folds draw different dropout masks.
    # Without dropout nothing is seeded or drawn here, and the numbers stay as before.
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, enabled=config.dropout > 0):
        if config.dropout > 0:
            torch.manual_seed(seed)
        for epoch in bar:
            model.train()
            order = torch.randperm(len(xt), generator=generator).to(device)
            total = 0.0
            for start in range(0, len(xt), config.batch_size):
                batch = order[start : start + config.batch_size]
                optimiser.zero_grad()
                batch_loss = criterion(model(xt[batch]).squeeze(-1), yt[batch])
                batch_loss.backward()
                optimiser.step()
                total += float(batch_loss.detach()) * len(batch)
            history.train_loss.append(total / len(xt))
            model.eval()
            with torch.no_grad():
                val_loss = float(criterion(model(xv).squeeze(-1), yv))
            history.val_loss.append(val_loss)
            bar.set_postfix(val=f"{val_loss:.4f}")
            if val_loss < best_loss:
                best_loss, best_state, stale, history.best_epoch = (
                    val_loss,
                    copy.deepcopy(model.state_dict()),
                    0,
                    epoch,
                )
            else:
                stale += 1
                if stale >= config.patience:
                    break
    bar.close()
    model.load_state_dict(best_state)
    return model, history
