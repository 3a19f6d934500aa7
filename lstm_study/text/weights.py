"""The character LSTM whose weights ship with the package, and the JSON sidecar that says how it was made."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import torch

from lstm_study.errors import ConfigError
from lstm_study.text.model import CharLSTM
from lstm_study.text.vocab import Vocabulary

WEIGHTS_PATH: Path = Path(__file__).resolve().parent / "weights" / "char_lstm.pt"
#: the Shakespeare chapter's small model (2 x 128, 600 steps), made by the same command
SMALL_WEIGHTS_PATH: Path = WEIGHTS_PATH.with_name("char_lstm_2x128.pt")
#: how held-out text is scored everywhere (the chapter, the sidecar): streams and window length
EVAL_BATCH, EVAL_WINDOW = 16, 128


def sidecar_path(weights: Path) -> Path:
    """The JSON file beside ``weights`` that records how they were made."""
    return Path(weights).with_suffix(".json")


def sha256(path: Path) -> str:
    """The hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def command_options(info: dict) -> dict[str, str]:
    """The options of the ``train-text`` command a sidecar records, e.g. ``{"--steps": "600"}``."""
    words = shlex.split(
        info["command"]
    )  # lstm-study train-text --output FILE --name value ...
    return dict(zip(words[2::2], words[3::2], strict=True))


@dataclass
class ShippedModel:
    """A trained model, its vocabulary and its sidecar (command, seed, machine, recorded scores)."""

    model: CharLSTM
    vocab: Vocabulary
    info: dict


def load_model(weights: Path | str = WEIGHTS_PATH) -> ShippedModel:
    """Load weights saved by ``lstm-study train-text`` (``weights_only=True``) with their sidecar."""
    weights = Path(weights)
    sidecar = sidecar_path(weights)
    if not weights.is_file() or not sidecar.is_file():
        raise ConfigError(
            f"no trained model at {weights} (with its sidecar {sidecar.name}); train one with "
            "'lstm-study train-text --output FILE.pt' or omit --weights to use the shipped one"
        )
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        vocab = Vocabulary(tuple(info["vocabulary"]))
        model = CharLSTM(**info["config"])
        model.load_state_dict(
            torch.load(weights, map_location="cpu", weights_only=True)
        )
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise ConfigError(
            f"{weights} or its sidecar cannot be read as a trained model ({error}); train it again"
        ) from None
    model.eval()
    return ShippedModel(model, vocab, info)
