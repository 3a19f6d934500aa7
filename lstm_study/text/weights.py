"""The character LSTM whose weights ship with the package, and the JSON sidecar that says how it was made."""

from __future__ import annotations

import hashlib
import json
import shlex
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from lstm_study.errors import ConfigError
from lstm_study.text.model import CharLSTM, LanguageModelHistory
from lstm_study.text.vocab import Vocabulary

WEIGHTS_PATH: Path = Path(__file__).resolve().parent / "weights" / "char_lstm.pt"
#: the Shakespeare chapter's small model (2 x 128, 600 steps), made by the same command
SMALL_WEIGHTS_PATH: Path = WEIGHTS_PATH.with_name("char_lstm_2x128.pt")
#: the record of the model shipped before this one: the same shape and settings trained with
#: Adam (no weight decay), 6,000 steps on one core; kept without its weights
ADAM_RUN_PATH: Path = WEIGHTS_PATH.with_name("char_lstm_adam.json")
#: the record of a longer run of that command (9,000 steps on two cores), kept without its
#: weights
LONGER_RUN_PATH: Path = WEIGHTS_PATH.with_name("char_lstm_9000_steps.json")
#: every full run of the shipped shape that was not shipped, kept as its record without its
#: weights, with its bits per character on all of the validation plays (the score that chose
#: the shipped run; the shipped model's own is in the test bits, scripts/score_shipped.py).
#: Scored by hand from the weights before they were dropped: the Adam run on the Xeon that
#: trained it and again on an AMD EPYC (Zen 3), the 9,000 steps on its Xeon, 7 December 2026
OTHER_RUNS: dict[Path, float] = {ADAM_RUN_PATH: 1.9008, LONGER_RUN_PATH: 1.9153}
#: the pilot runs that chose the shipped model's shape and schedule (scripts/shakespeare_search.py)
SEARCH_PATH: Path = WEIGHTS_PATH.with_name("search.json")
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
    # lstm-study train-text --output FILE --name value ...
    words = shlex.split(info["command"])
    return dict(zip(words[2::2], words[3::2], strict=True))


def option_changes(before: str, after: str) -> dict[str, tuple[str | None, str | None]]:
    """The options in which two ``train-text`` command lines differ: {option: (before, after)}.

    An option one of them does not name is None on that side.
    """
    old, new = (command_options({"command": command}) for command in (before, after))
    return {
        name: (old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    }


#: options that change a run's speed or where it writes, nothing it learns (the threads
#: change the order of the sums, the last digits)
SPEED_OPTIONS = ("--output", "--threads", "--checkpoint-every")


def changes_words(changes: dict[str, tuple[str | None, str | None]]) -> str:
    """Words for how one run's command differs from another's (:func:`option_changes`).

    Options in :data:`SPEED_OPTIONS` are left out; "the same command" if nothing else differs.
    """

    def words(option: str, before: str | None, after: str | None) -> str:
        if option == "--steps":
            return f"{int(after):,} steps instead of {int(before):,}"
        if option == "--weight-decay":
            return (
                f"AdamW with weight decay {after} instead of Adam"
                if before is None
                else f"Adam instead of AdamW with weight decay {before}"
                if after is None
                else f"weight decay {after} instead of {before}"
            )
        return f"{option} {after} instead of {before}"

    kept = [words(o, *pair) for o, pair in changes.items() if o not in SPEED_OPTIONS]
    return "; ".join(kept) if kept else "the same command"


def cores_words(info: dict) -> str:
    """The threads a sidecar's run trained on, in words: "one core", "two cores", "8 cores"."""
    threads = int(info["machine"]["threads"])
    return {1: "one core", 2: "two cores"}.get(threads, f"{threads} cores")


@dataclass
class ShippedModel:
    """A trained model, its vocabulary and its sidecar (command, seed, machine, recorded scores)."""

    model: CharLSTM
    vocab: Vocabulary
    info: dict


#: what to do about a file that is not a model of ours
TRAIN_ADVICE = (
    "train one with 'lstm-study train-text --output FILE.pt' or omit --weights to use the "
    "shipped one"
)


def is_sidecar(path: Path) -> bool:
    """Whether ``path`` holds a record written by ``lstm-study train-text``."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(info, dict)
        and str(info.get("command", "")).startswith("lstm-study train-text ")
        and "weights_sha256" in info
    )


def load_model(weights: Path | str = WEIGHTS_PATH) -> ShippedModel:
    """Load weights saved by ``lstm-study train-text`` (``weights_only=True``) with their sidecar.

    A file that is not such a model (random bytes, text, a plain pickle, a zip cut short, the
    sidecar itself) is one :class:`ConfigError` that names it; so is a pair whose weights are
    not the ones their sidecar records (by sha256).
    """
    weights = Path(weights)
    sidecar = sidecar_path(weights)
    if not weights.is_file() or not sidecar.is_file():
        raise ConfigError(
            f"no trained model at {weights} (with its sidecar {sidecar.name}); {TRAIN_ADVICE}"
        )
    if not is_sidecar(sidecar):
        raise ConfigError(
            f"{sidecar} is not the record of a model written by train-text; {TRAIN_ADVICE}"
        )
    info = json.loads(sidecar.read_text(encoding="utf-8"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own, about the same failure
            state = torch.load(weights, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError("not a state dict")
    except Exception:  # noqa: BLE001 - whatever torch or pickle says, the file is not ours
        raise ConfigError(
            f"{weights} is not a model written by train-text; {TRAIN_ADVICE}"
        ) from None
    mismatch = ConfigError(
        f"{weights} is not the model its record {sidecar.name} describes (a train-text "
        "run was cut short between writing the two, or one was replaced); train it again"
    )
    if info["weights_sha256"] != sha256(weights):
        raise mismatch
    try:
        vocab = Vocabulary(tuple(info["vocabulary"]))
        model = CharLSTM(**info["config"])
        model.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError):
        raise mismatch from None
    model.eval()
    return ShippedModel(model, vocab, info)


def replay_start(weights: Path | str, steps: int) -> LanguageModelHistory:
    """The first ``steps`` steps of the run recorded beside ``weights``, trained again here
    from its command's seed and settings, scored on the record's validation text at the end.

    A pure function of its arguments (it seeds itself), so that a worker process can run it
    (lstm_study.parallel): chapter 6's live slice of the small model's training. Compare its
    last ``eval_bpc`` with the record's curve at ``steps``.
    """
    from lstm_study.runtime import seed_everything
    from lstm_study.text.corpus import load_corpus
    from lstm_study.text.model import bits_per_character, train_language_model

    run = load_model(weights)
    options, curve = command_options(run.info), run.info["curve"]
    schedule = options.get("--schedule", "constant")
    if (
        schedule != "constant"
    ):  # its rates depend on the run's length, not just the step
        raise ConfigError(
            f"the run's {schedule!r} schedule sets each step's rate from the whole run's "
            "length: replay it with its own command instead"
        )
    if steps not in curve["steps"]:
        raise ConfigError(
            f"the record scored its validation text at steps {curve['steps'][:5]}..., "
            f"not at {steps}"
        )
    train = run.vocab.encode(load_corpus("train"))
    scored = run.vocab.encode(load_corpus("valid"))[: curve["characters"]]
    seed_everything(run.info["seed"], threads=int(options["--threads"]))
    history = train_language_model(
        CharLSTM(**run.info["config"]),
        train,
        steps=steps,
        batch_size=int(options["--batch-size"]),
        window=int(options["--window"]),
        lr=float(options["--lr"]),
        warmup=int(options.get("--warmup", 0)),
        weight_decay=float(options.get("--weight-decay", 0)),
        eval_every=steps,
        evaluate=lambda m: bits_per_character(
            m, scored, batch_size=EVAL_BATCH, window=EVAL_WINDOW
        ),
    )
    return history


def score_on_test(weights: Path | str) -> float:
    """The model's bits per character on the test plays, scored as its record's was."""
    from lstm_study.text.corpus import load_corpus
    from lstm_study.text.model import bits_per_character

    run = load_model(weights)
    codes = run.vocab.encode(load_corpus("test"))
    return bits_per_character(
        run.model, codes, batch_size=EVAL_BATCH, window=EVAL_WINDOW
    )
