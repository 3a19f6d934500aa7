"""Looking inside the character LSTM: which cell tracks which property of the text.

Each property is a number per character computed from the Markdown alone (inside a stage direction
``_..._``, inside a speaker's name ``**...**``, the position in the line); a unit tracks it when the
unit's cell state correlates with it across a long stretch of held-out text.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def text_features(text: str) -> dict[str, np.ndarray]:
    """Per character: 1.0 inside ``_..._`` or ``**...**`` (markers included), and its column in the line."""
    stage, speaker, column = (np.zeros(len(text)) for _ in range(3))
    in_stage = in_speaker = False
    col, n = 0, 0
    while n < len(text):
        if text.startswith(
            "**", n
        ):  # both stars of the marker take the state they open or close
            in_speaker = not in_speaker
            for k in (n, n + 1):
                speaker[k], stage[k], column[k] = 1.0, in_stage, col + k - n
            col, n = col + 2, n + 2
            continue
        char = text[n]
        if char == "_":
            in_stage = not in_stage
        stage[n] = 1.0 if in_stage or char == "_" else 0.0
        speaker[n] = float(in_speaker)
        column[n] = col
        col = 0 if char == "\n" else col + 1
        n += 1
    return {
        "inside a stage direction": stage,
        "inside a speaker's name": speaker,
        "position in the line": column,
    }


class _Centred:
    """Every unit's values, centred once, as a (len, layers * units) matrix, and their norms."""

    def __init__(self, states: Tensor) -> None:
        layers, length, units = states.shape
        self.shape = (layers, units)
        # in torch: NumPy's fresh 160 MB arrays cost more in page faults than the arithmetic
        x = states.detach().permute(1, 0, 2).reshape(length, -1).double()
        x -= x.mean(dim=0)
        self.x = x
        self.norms = (x * x).sum(dim=0).sqrt().numpy()

    def correlations(self, feature: np.ndarray) -> np.ndarray:
        """Pearson correlation of every unit with ``feature``, shape (layers, units)."""
        f = np.asarray(feature, dtype=np.float64)
        f = f - f.mean()
        denominator = self.norms * np.sqrt(f @ f)
        r = np.divide(
            (torch.from_numpy(f) @ self.x).numpy(),
            denominator,
            out=np.zeros(denominator.shape),
            where=denominator > 0,
        )
        return r.reshape(self.shape)


def correlations(states: Tensor, feature: np.ndarray) -> np.ndarray:
    """Pearson correlation of every unit's value with ``feature``: states (layers, len, units) -> (layers, units)."""
    return _Centred(states).correlations(feature)


def best_units(
    states: Tensor, features: dict[str, np.ndarray]
) -> list[dict[str, object]]:
    """For each feature, the (layer, unit) whose state correlates most strongly with it, and the runner-up."""
    centred, rows = _Centred(states), []
    for name, feature in features.items():
        r = centred.correlations(feature)
        order = np.argsort(-np.abs(r), axis=None)
        layer, unit = np.unravel_index(order[0], r.shape)
        rows.append({"property": name, "layer": int(layer), "unit": int(unit), "correlation": float(r[layer, unit]),
                     "next best |correlation|": float(np.abs(r).flat[order[1]])})  # fmt: skip
    return rows
