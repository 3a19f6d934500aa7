"""The shipped model's bits on every test character, scored once by a kept command.

Scoring the shipped 2 x 512 LSTM on the 221,000 characters of the test plays takes about 15 s
on one core, and the Shakespeare chapter needs it twice: with the state carried from window
to window, as in training, and with the state reset at every window. Both are scored by

    python scripts/score_shipped.py

and committed beside the weights (:data:`BITS_PATH`, half precision, with the weights'
sha256, the machine and the time). The chapter reads them (:func:`load` refuses bits of other
weights) and re-scores the first windows of every stream live (:func:`agrees`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lstm_study.errors import ConfigError
from lstm_study.files import write_atomically
from lstm_study.text.model import CharLSTM, position_losses
from lstm_study.text.weights import EVAL_BATCH, EVAL_WINDOW, WEIGHTS_PATH, sha256

BITS_PATH = WEIGHTS_PATH.with_name("char_lstm_test_bits.npz")
#: the two ways of scoring: the state carried across windows, or reset at each
MODES = {"carried": True, "reset": False}
#: how far a live bit may land from the committed one: half precision keeps 11 significant
#: bits, so a value below 32 bits is stored within 32 / 2**11 = 0.016 of what was computed
TOLERANCE = 0.02


def score(model: CharLSTM, codes: Tensor, max_windows: int | None = None) -> dict:
    """Bits of every predicted character in both modes, (EVAL_BATCH, characters) each."""
    return {
        mode: position_losses(
            model,
            codes,
            batch_size=EVAL_BATCH,
            window=EVAL_WINDOW,
            carry_state=carry,
            max_windows=max_windows,
        )
        for mode, carry in MODES.items()
    }


def write(path: Path, bits: dict[str, Tensor], info: dict[str, Any]) -> Path:
    """Store ``bits`` in half precision with ``info`` (JSON) in one .npz, atomically."""
    if set(bits) != set(MODES):
        raise ConfigError(f"need the bits of {sorted(MODES)}, got {sorted(bits)}")
    arrays = {mode: values.numpy().astype(np.float16) for mode, values in bits.items()}

    def save(handle: io.BufferedWriter) -> None:
        np.savez_compressed(handle, info=np.array(json.dumps(info)), **arrays)

    return write_atomically(Path(path), save, "the test bits")


def load(
    path: Path | str = BITS_PATH, weights: Path | str = WEIGHTS_PATH
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The committed bits (float32) and their record; refused if made from other weights."""
    path = Path(path)
    try:
        with np.load(path) as found:
            info = json.loads(str(found["info"]))
            bits = {
                mode: torch.from_numpy(found[mode].astype(np.float32)) for mode in MODES
            }
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(
            f"{path} cannot be read as test bits ({error}); "
            "run python scripts/score_shipped.py"
        ) from None
    if info.get("weights_sha256") != sha256(Path(weights)):
        raise ConfigError(
            f"{path} was scored from other weights than {weights}; "
            "run python scripts/score_shipped.py"
        )
    return bits, info


def agrees(live: dict[str, Tensor], committed: dict[str, Tensor]) -> bool:
    """Whether live bits of the first windows match the committed ones within TOLERANCE."""
    return all(
        torch.allclose(
            live[mode], committed[mode][:, : live[mode].size(1)], rtol=0, atol=TOLERANCE
        )
        for mode in MODES
    )
