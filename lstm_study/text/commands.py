"""The ``lstm-study train-text`` and ``lstm-study generate`` commands: the shipped character LSTM."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import math
import os
import platform
import shlex
import sys
import warnings
from pathlib import Path

import torch

from lstm_study.arguments import PROMPT_LIMIT, count, threads
from lstm_study.errors import ConfigError
from lstm_study.files import check_outputs, write_atomically, write_together
from lstm_study.runtime import available_memory, seed_everything
from lstm_study.text.corpus import SNAPSHOT_PATH as CORPUS_PATH
from lstm_study.text.corpus import load_corpus
from lstm_study.text.model import (
    SCHEDULES,
    CharLSTM,
    bits_per_character,
    lr_multiplier,
    sample,
    train_language_model,
    training_bytes,
)
from lstm_study.text.vocab import Vocabulary
from lstm_study.text.weights import (
    EVAL_BATCH,
    EVAL_WINDOW,
    SPEED_OPTIONS,
    WEIGHTS_PATH,
    command_options,
    is_sidecar,
    load_model,
    option_changes,
    sidecar_path,
)

#: the temperatures generate takes: below the lowest the logits overflow (and it is greedy
#: decoding already), above the highest every character is about as likely
TEMPERATURES = (0.01, 100.0)

#: held-out characters scored at each learning-curve checkpoint (the start of the validation plays)
CURVE_CHARACTERS = 40_000


def cpu_model() -> str:
    """The processor's name from /proc/cpuinfo (or what ``platform`` says where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-text`` and ``generate`` subcommands."""
    train = subparsers.add_parser(
        "train-text",
        help="train the character-level LSTM on Shakespeare's training plays and save its weights",
        description="Train a stacked character LSTM on the training plays by truncated backpropagation "
        "through time, then score it on the test plays; writes FILE.pt and FILE.json (how it was made), "
        "both or neither.",
    )
    train.add_argument(
        "--output", required=True, metavar="FILE.pt", help="where to write the weights"
    )
    train.add_argument("--hidden-size", type=count("--hidden-size"), default=256)
    train.add_argument("--layers", type=count("--layers"), default=2)
    train.add_argument("--dropout", type=float, default=0.2)
    train.add_argument(
        "--steps",
        type=count("--steps"),
        default=1000,
        help="TBPTT windows to train on (default 1000)",
    )
    train.add_argument(
        "--batch-size",
        type=count("--batch-size"),
        default=32,
        help="parallel streams (default 32)",
    )
    train.add_argument(
        "--window",
        type=count("--window"),
        default=64,
        help="characters per window (default 64)",
    )
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="AdamW's decoupled weight decay; 0 trains with Adam (default 0)",
    )
    train.add_argument(
        "--eval-every",
        type=count("--eval-every"),
        default=100,
        help="steps between validation scores (default 100)",
    )
    train.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="constant",
        help="the learning rate over the run: constant, or a cosine down to 5%% of --lr "
        "(default constant)",
    )
    train.add_argument(
        "--warmup",
        type=count("--warmup"),
        default=0,
        help="steps of linear warm-up at the start (default 0)",
    )
    train.add_argument("--seed", type=count("--seed"), default=0)
    train.add_argument(
        "--threads",
        type=threads,
        default=1,
        help="at most the cores this machine gives the process (default 1)",
    )
    train.add_argument(
        "--weights-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="how the weights are stored: float16 halves the file; either way they are "
        "scored in float32, after the rounding (default float32)",
    )
    train.add_argument(
        "--checkpoint-every",
        type=count("--checkpoint-every"),
        default=200,
        help="steps between checkpoints (FILE.ckpt, removed when the run ends; default 200)",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="go on from FILE.ckpt, the last checkpoint of the same command cut short",
    )
    train.set_defaults(handler=run_train)

    generate = subparsers.add_parser(
        "generate",
        help="print text sampled from the trained character LSTM",
        description="Feed PROMPT to the trained character LSTM and print LENGTH characters drawn after it.",
    )
    generate.add_argument(
        "--prompt",
        default="ROMEO",
        help=f"text to start from, at most {PROMPT_LIMIT:,} characters (default ROMEO)",
    )
    generate.add_argument(
        "--length",
        type=count("--length"),
        default=400,
        help="characters to draw (default 400)",
    )
    generate.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help=f"from {TEMPERATURES[0]} to {TEMPERATURES[1]}; lower is safer (default 0.8)",
    )
    generate.add_argument("--seed", type=count("--seed"), default=0)
    generate.add_argument(
        "--weights",
        metavar="FILE.pt",
        default=str(WEIGHTS_PATH),
        help="default: the shipped model",
    )
    generate.set_defaults(handler=run_generate)


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces ``args``, every option spelled out."""
    options = [
        "hidden-size",
        "layers",
        "dropout",
        "steps",
        "batch-size",
        "window",
        "lr",
        "eval-every",
        "schedule",
        "warmup",
        "seed",
        "threads",
        "weights-dtype",
    ]
    words = ["lstm-study", "train-text", "--output", args.output]
    for name in options:
        words += [f"--{name}", str(getattr(args, name.replace("-", "_")))]
    if args.weight_decay:  # named only where used: records made before it read the same
        words += ["--weight-decay", str(args.weight_decay)]
    return shlex.join(words)


def _check_memory(args: argparse.Namespace, vocab_size: int) -> None:
    """Refuse a model that would not fit in the memory the machine has free, before training."""
    needed = training_bytes(
        vocab_size, args.hidden_size, args.layers, args.batch_size, args.window
    )
    free = available_memory()
    if free is not None and needed > free:
        raise ConfigError(
            f"--hidden-size {args.hidden_size} --layers {args.layers} --batch-size "
            f"{args.batch_size} --window {args.window} needs about {needed / 1e9:,.1f} GB "
            f"to train, more than the {free / 1e9:,.1f} GB this machine has free; make "
            "one of them smaller"
        )


def checkpoint_path(output: Path) -> Path:
    """Where ``train-text --output FILE.pt`` keeps its checkpoint while it runs."""
    return Path(output).with_suffix(".ckpt")


#: options that may differ between a run and its resumption: they change the speed, and
#: --threads the order in which floats are summed (the last digits), nothing else; --output
#: may move with its checkpoint, which lies beside it
RESUMABLE_CHANGES = SPEED_OPTIONS


#: options that set the learning rate's schedule: a resumed run may change them when the
#: rate they give agrees, step for step, with the recorded one over every step already run
SCHEDULE_OPTIONS = ("--steps", "--schedule", "--warmup")


def _multipliers(options: dict[str, str], steps_done: int) -> list[float] | None:
    """The rate multipliers of steps 0 .. ``steps_done`` under a command's options."""
    try:
        multiplier = lr_multiplier(
            options.get("--schedule", "constant"),
            int(options["--steps"]),
            int(options.get("--warmup", 0)),
        )
    except (ConfigError, KeyError, ValueError):
        return None
    return [multiplier(k) for k in range(steps_done + 1)]


def _same_run(recorded: str, current: str, steps_done: int = 0) -> list[str]:
    """The options (other than :data:`RESUMABLE_CHANGES`) in which two commands differ.

    A difference in :data:`SCHEDULE_OPTIONS` does not count when both commands give the same
    rate at every step up to ``steps_done``: the steps already run are then the ones the
    current command would run.
    """
    words = [command_options({"command": c}) for c in (recorded, current)]
    differ = [
        name
        for name in sorted(set(words[0]) | set(words[1]))
        if name not in RESUMABLE_CHANGES and words[0].get(name) != words[1].get(name)
    ]
    if set(differ) <= set(SCHEDULE_OPTIONS):
        before, now = (_multipliers(w, steps_done) for w in words)
        if before is not None and before == now:
            differ = []
    return [
        f"{name} {words[0].get(name)} (checkpoint) vs {words[1].get(name)} (now)"
        for name in differ
    ]


def resumed_changes(info: dict) -> list[tuple[int, dict[str, tuple[str, str]]]]:
    """How a recorded run's command changed each time it was resumed: (step, changes).

    ``changes`` maps each option that differs from the next command (a later resumption's,
    or the record's own) to its (before, after) values. Every change is one ``--resume``
    accepts (:func:`_same_run`): it moves the files, or changes the speed, or gives the
    same learning rate at every step already run; anything else is a :class:`ConfigError`.
    """
    earlier = info.get("earlier_commands", [])
    commands = [run["command"] for run in earlier] + [info["command"]]
    found = []
    for n, run in enumerate(earlier):
        refused = _same_run(commands[n], commands[n + 1], int(run["until_step"]))
        if refused:
            raise ConfigError(
                f"the record was resumed after step {run['until_step']} with a change "
                f"that --resume refuses: {'; '.join(refused)}"
            )
        found.append(
            (int(run["until_step"]), option_changes(commands[n], commands[n + 1]))
        )
    return found


#: what a checkpoint holds (lstm_study.text.model.checkpoint_state, and the command)
CHECKPOINT_KEYS = {"step", "model", "optimizer", "scheduler", "carried", "rng", "history",
                   "command"}  # fmt: skip


def _load_checkpoint(args: argparse.Namespace, path: Path, command: str) -> dict | None:
    """The checkpoint to resume from, or None for a fresh run; refuses every mix-up."""
    if not args.resume:
        if path.exists():
            raise ConfigError(
                f"{path} holds the checkpoint of an unfinished run: add --resume to go "
                "on from it, or delete it to start again"
            )
        return None
    if not path.exists():
        raise ConfigError(
            f"--resume: there is no checkpoint at {path} (a run writes one every "
            "--checkpoint-every steps and removes it when it ends); run without --resume"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved = torch.load(path, map_location="cpu", weights_only=True)
        saved_command = saved["command"]
    except Exception:  # noqa: BLE001 - a cut or foreign file: say which and what to do
        raise ConfigError(
            f"{path} is not a train-text checkpoint (cut short, or another file): "
            "delete it and run without --resume"
        ) from None
    done = saved.get("step", 0) if isinstance(saved, dict) else 0
    differences = _same_run(saved_command, command, int(done))
    if differences:
        raise ConfigError(
            f"--resume: {path} is of another run ({'; '.join(differences)}); give the "
            "same options (a schedule may change only where it gives the same rates over "
            "the steps already run), or delete it to start again"
        )
    if not CHECKPOINT_KEYS <= set(saved):
        raise ConfigError(
            f"{path} is not a train-text checkpoint (it lacks "
            f"{', '.join(sorted(CHECKPOINT_KEYS - set(saved)))}): delete it and run "
            "without --resume"
        )
    if saved_command != command:  # a compatible change: keep what ran before it
        saved["earlier_commands"] = [
            *saved.get("earlier_commands", []),
            {"command": saved_command, "until_step": done},
        ]
    return saved


def _check_sidecar(sidecar: Path) -> None:
    """Refuse to replace a file at the sidecar's path that a train-text run did not write."""
    if sidecar.exists() and not is_sidecar(sidecar):
        raise ConfigError(
            f"{sidecar} exists and is not the record of a model written by train-text: "
            "writing the weights' record there would destroy it; move it, or choose "
            "another --output"
        )


def run_train(args: argparse.Namespace) -> int:
    """Train, score on the test plays, write the weights and the sidecar, both or neither."""
    if not (0 <= args.dropout < 1 and math.isfinite(args.lr) and args.lr > 0):
        raise ConfigError(
            f"--dropout must be in [0, 1) and --lr above 0; got {args.dropout} and {args.lr}"
        )
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise ConfigError(f"--weight-decay must be 0 or more, got {args.weight_decay}")
    output = Path(args.output)
    if output.suffix != ".pt":
        raise ConfigError(
            f"--output must end in .pt (the sidecar goes beside it as .json), got {output}"
        )
    if args.warmup >= args.steps:
        raise ConfigError(
            f"--warmup ({args.warmup}) must be fewer steps than --steps ({args.steps})"
        )
    checkpoint_file = checkpoint_path(output)
    check_outputs(
        {
            "--output": output,
            "its record": sidecar_path(output),
            "its checkpoint": checkpoint_file,
        },
        {"plays file": CORPUS_PATH},
    )
    _check_sidecar(sidecar_path(output))
    command = _command(args)
    resume = _load_checkpoint(args, checkpoint_file, command)
    seed_everything(args.seed, threads=args.threads)
    train_text = load_corpus("train")
    vocab = Vocabulary.build(train_text)
    _check_memory(args, len(vocab))
    codes, valid = (
        vocab.encode(train_text),
        vocab.encode(load_corpus("valid"))[:CURVE_CHARACTERS],
    )
    model = CharLSTM(
        len(vocab),
        args.hidden_size,
        args.layers,
        args.dropout if args.layers > 1 else 0.0,
    )

    def score(trained: CharLSTM) -> float:
        return bits_per_character(
            trained, valid, batch_size=EVAL_BATCH, window=EVAL_WINDOW
        )

    earlier = resume.get("earlier_commands", []) if resume else []

    def save(state: dict) -> None:
        state["command"] = command
        state["earlier_commands"] = earlier
        write_atomically(
            checkpoint_file, lambda handle: torch.save(state, handle), "the checkpoint"
        )

    try:
        history = train_language_model(
            model, codes, steps=args.steps, batch_size=args.batch_size, window=args.window,
            lr=args.lr, evaluate=score, eval_every=args.eval_every, progress=True,
            schedule=args.schedule, warmup=args.warmup, checkpoint=save,
            checkpoint_every=args.checkpoint_every, resume=resume,
            weight_decay=args.weight_decay,
        )  # fmt: skip
    except KeyboardInterrupt:
        if checkpoint_file.exists():
            print(
                f"interrupted; go on from the last checkpoint ({checkpoint_file}) with "
                "the same command and --resume",
                file=sys.stderr,
            )
        raise
    elapsed = history.seconds
    if args.weights_dtype == "float16":  # score what is stored: the rounded weights
        stored = {k: v.half() if v.is_floating_point() else v
                  for k, v in model.state_dict().items()}  # fmt: skip
        model.load_state_dict(stored)  # copies into the float32 parameters
    else:
        stored = model.state_dict()
    test_bpc = bits_per_character(
        model,
        vocab.encode(load_corpus("test")),
        batch_size=EVAL_BATCH,
        window=EVAL_WINDOW,
    )
    buffer = io.BytesIO()
    torch.save(stored, buffer)
    weights = buffer.getvalue()
    info = {
        "command": command,
        "seed": args.seed,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": args.threads,
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(), "platform": platform.platform()},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "training_seconds": round(elapsed, 1),
        "resumed_after_steps": history.resumed_after,
        "earlier_commands": earlier,
        "config": model.config,
        "vocabulary": list(vocab.chars),
        "characters_trained": args.steps * args.batch_size * args.window,
        "test_bpc": test_bpc,
        "evaluation": {"batch_size": EVAL_BATCH, "window": EVAL_WINDOW, "carry_state": True},
        "curve": {"characters": CURVE_CHARACTERS, "steps": history.eval_steps, "valid_bpc": history.eval_bpc},
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }  # fmt: skip
    # both or neither; the record goes last and holds the weights' sha256, so that a pair
    # cut apart by a crash between the two renames is told apart when it is loaded
    write_together(
        {
            output: (weights, "the weights"),
            sidecar_path(output): (json.dumps(info, indent=1) + "\n", "the record"),
        }
    )
    checkpoint_file.unlink(missing_ok=True)
    print(
        f"trained for {elapsed:.0f} s; test bits per character {test_bpc:.3f}; wrote {output} and {sidecar_path(output).name}"
    )
    return 0


def run_generate(args: argparse.Namespace) -> int:
    """Print ``--length`` characters sampled after ``--prompt``."""
    low, high = TEMPERATURES
    if not low <= args.temperature <= high:  # NaN too
        raise ConfigError(
            f"--temperature must be from {low} to {high} (try 0.5 to 1.5), "
            f"got {args.temperature:g}"
        )
    if len(args.prompt) > PROMPT_LIMIT:
        raise ConfigError(
            f"--prompt holds {len(args.prompt):,} characters, more than {PROMPT_LIMIT:,}; "
            "the model's memory of the text fades long before that: give its last lines"
        )
    shipped = load_model(args.weights)
    unknown = shipped.vocab.unknown_in(args.prompt)
    if not args.prompt or unknown:
        what = (
            f"characters the model does not know: {''.join(unknown)[:20]!r}"
            if unknown
            else "nothing"
        )
        raise ConfigError(
            f"--prompt holds {what}; use letters, spaces and common punctuation"
        )
    generator = seed_everything(args.seed)
    text = sample(
        shipped.model,
        shipped.vocab,
        args.prompt,
        args.length,
        args.temperature,
        generator,
    )
    sys.stdout.write(args.prompt + text + "\n")
    return 0
