"""``lstm-study compare-text``: the LSTM, a Transformer and minLSTM on the same text and budget.

Three character models of about 0.8 million parameters each (:data:`SIZES`) train on the
training plays, with the same vocabulary and the same TBPTT batches (32 streams, windows of 64
characters; the recurrent models carry their state from one window to the next, the
Transformer sees its window only). The command runs four stages, each resumable:

1. calibration: each model's training step is timed on this machine and its number of steps
   fixed so that it trains for the same wall-clock time (:data:`BUDGET_SECONDS`); the figures
   are stored, and every later run is a pure function of its key (steps fixed, never "stop
   after T seconds");
2. tuning: each model's learning rate chosen on the validation plays from :data:`RATES`, with
   runs of :data:`TUNE_FRACTION` of its steps, one seed (:data:`TUNE_SEED`);
3. the runs: each model at its chosen rate for :data:`RUN_FRACTION` of its calibrated steps,
   :data:`SEEDS`; validation bits per character at fixed checkpoints and at the step every
   model reaches (equal characters, at about equal parameters), test bits per character at
   the end (equal time), how far back the gradient reaches;
4. generation (after the tuning: it times untrained models, whose speed and state do not
   depend on their weights): the characters per second and the state each model holds while
   it writes :data:`GENERATION_LENGTH` characters.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lstm_study.errors import ConfigError
from lstm_study.experiments.runner import Sweep, entries, load, run_sweep
from lstm_study.files import check_outputs, write_atomically
from lstm_study.machine import cpu_description
from lstm_study.parallel import ENVIRONMENT
from lstm_study.runtime import seed_everything
from lstm_study.text.batches import streams, tbptt_windows
from lstm_study.text.corpus import load_corpus
from lstm_study.text.minlstm import CharMinLSTM
from lstm_study.text.model import CharLSTM
from lstm_study.text.transformer import CharTransformer, generate
from lstm_study.text.vocab import Vocabulary

MODELS = ("lstm", "transformer", "minlstm")
RECURRENT = ("lstm", "minlstm")
#: each model's size: about 0.8 million parameters each (the LSTM is chapter 6's 2 x 256)
SIZES = {
    "lstm": {"hidden_size": 256, "num_layers": 2, "dropout": 0.0},
    "transformer": {"d_model": 128, "num_layers": 4, "num_heads": 4, "context": 64},
    "minlstm": {"width": 128, "num_layers": 4},
}
#: the declared learning-rate grid, searched on the validation plays
RATES = {
    "lstm": (1e-3, 3e-3, 1e-2),
    "transformer": (3e-4, 1e-3, 3e-3),
    "minlstm": (1e-3, 3e-3, 1e-2),
}
TUNE_SEED = 100
SEEDS = (0, 1, 2)
#: seconds of training (steps only, evaluation excluded) each model gets, by calibration
BUDGET_SECONDS = 120.0
#: tuning runs take this share of a model's calibrated steps
TUNE_FRACTION = 1 / 3
#: the test runs take this share of the calibrated steps: all of them (a smaller share lets a
#: shared machine finish the race sooner, at the price of equal time)
RUN_FRACTION = 1.0
GENERATION_LENGTH = 2000
GENERATION_PROMPT = "ROMEO.\n"
SETTINGS = {
    "batch_size": 32,
    "window": 64,
    "eval_every": 50,
    "valid_chars": 40_000,
    "test_chars": None,  # all of the test plays
    "eval_streams": 16,
    "clip_norm": 1.0,
    "horizon_sequences": 32,
    "horizon_length": 128,
}
QUICK = {
    "budget_seconds": 0.6,
    "sizes": {
        "lstm": {"hidden_size": 16, "num_layers": 2, "dropout": 0.0},
        "transformer": {"d_model": 16, "num_layers": 2, "num_heads": 2, "context": 16},
        "minlstm": {"width": 16, "num_layers": 2},
    },
    "settings": {
        "batch_size": 8,
        "window": 16,
        "eval_every": 5,
        "valid_chars": 3000,
        "test_chars": 3000,
        "horizon_sequences": 4,
        "horizon_length": 24,
    },
    "max_steps": 12,
    "generation_length": 50,
}
DEFAULT_DIR = Path(__file__).resolve().parent
FILES = {
    "calibration": "after_lstm_calibration.json",
    "tune": "after_lstm_tune.json",
    "runs": "after_lstm_runs.json",
    "generation": "after_lstm_generation.json",
}


@functools.cache
def data() -> tuple[Vocabulary, Tensor, Tensor, Tensor]:
    """The vocabulary of the training plays and the codes of the three splits."""
    train = load_corpus("train")
    vocab = Vocabulary.build(train)
    return (
        vocab,
        vocab.encode(train),
        vocab.encode(load_corpus("valid")),
        vocab.encode(load_corpus("test")),
    )


def build(model: str, vocab_size: int, sizes: dict[str, dict[str, Any]]) -> nn.Module:
    """A fresh model of kind ``model`` (lstm, transformer, minlstm) at the declared size."""
    size = sizes[model]
    if model == "lstm":
        return CharLSTM(vocab_size, **size)
    if model == "transformer":
        return CharTransformer(vocab_size, **size)
    if model == "minlstm":
        return CharMinLSTM(vocab_size, **size)
    raise ConfigError(f"model must be one of {MODELS}, got {model!r}")


def parameter_count(net: nn.Module) -> int:
    """How many numbers the model learns."""
    return sum(p.numel() for p in net.parameters())


def _detach(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(t.detach() for t in state)
    return state.detach()


def _loss(net: nn.Module, model: str, x: Tensor, y: Tensor, state: Any):
    logits, new_state = net(x, state if model in RECURRENT else None)
    loss = nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), y.reshape(-1)
    )
    return loss, (_detach(new_state) if model in RECURRENT else None)


@torch.no_grad()
def position_bits(
    net: nn.Module, model: str, codes: Tensor, n_streams: int, window: int = 128
) -> Tensor:
    """Bits of every predicted character of ``codes`` cut in ``n_streams`` streams.

    Every model scores the same characters: all but the first of each stream. The recurrent
    models walk each stream in windows, carrying their state; the Transformer reads windows
    of its context that overlap by half, and scores each character in the window where it
    has at least half a context before it (the first window: all of them).
    """
    was_training = net.training
    net.eval()
    data = streams(codes, n_streams)
    if model in RECURRENT:
        state, losses = None, []
        for start in range(0, data.size(1) - 1, window):
            x, y = (
                data[:, start : start + window],
                data[:, start + 1 : start + window + 1],
            )
            x = x[:, : y.size(1)]
            logits, state = net(x, state)
            losses.append(
                nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
            )
        bits = torch.cat(losses, dim=1)
    else:
        context = net.context
        stride = context // 2
        length = data.size(1)
        if length <= context + 1:
            raise ConfigError(
                f"streams of {length} characters are too short for a context of {context}"
            )
        starts = list(range(0, length - context, stride))
        if starts[-1] + context < length - 1:
            starts.append(length - 1 - context)
        bits = data.new_zeros(data.shape, dtype=torch.float32)[:, 1:]
        scored_to = 0  # targets 1..scored_to are done
        for start in starts:
            x = data[:, start : start + context]
            y = data[:, start + 1 : start + context + 1]
            logits, _ = net(x)
            loss = nn.functional.cross_entropy(
                logits.transpose(1, 2), y, reduction="none"
            )
            first = scored_to + 1  # the first target (index into data) not yet scored
            bits[:, first - 1 : start + context] = loss[:, first - start - 1 :]
            scored_to = start + context
    net.train(was_training)
    return bits / math.log(2.0)


def horizon(
    net: nn.Module, model: str, codes: Tensor, sequences: int, length: int
) -> list[float]:
    """Mean ``||d loss_t / d e_{t-k}||`` for k = 0 .. length - 1 (t the last position).

    ``e`` is the input embedding; the sequences start at evenly spaced places in ``codes`` from
    the zero state; the Transformer's sequences are its context long (beyond it: zero).
    """
    net.eval()
    if model == "transformer":
        length = min(length, net.context)
    step = (codes.numel() - length - 1) // sequences
    starts = torch.arange(sequences) * step
    x = torch.stack([codes[s : s + length] for s in starts.tolist()])
    y = torch.stack([codes[s + length] for s in starts.tolist()])
    e = net.embedding(x).detach().requires_grad_()
    if model == "lstm":
        out, _ = net.lstm(e)
        logits = net.head(out[:, -1])
    elif model == "minlstm":
        out, _ = net.stack(e)
        logits = net.head(net.norm(out[:, -1]))
    else:
        h = e + net.position[:length]
        for block in net.blocks:
            h, _ = block(h)
        logits = net.head(net.norm(h[:, -1]))
    # one loss per sequence; the sum's gradient with respect to e_b is that sequence's own
    loss = nn.functional.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, e)
    norms = grad.norm(dim=-1).mean(dim=0).flip(0)  # entry k: k characters back
    return [float(v) for v in norms]


def run(
    *,
    model: str,
    lr: float,
    seed: int,
    split: str,
    steps: dict[str, int],
    read_at: int | None,
    sizes: dict[str, dict[str, Any]],
    batch_size: int,
    window: int,
    eval_every: int,
    valid_chars: int,
    test_chars: int | None,
    eval_streams: int,
    clip_norm: float,
    horizon_sequences: int,
    horizon_length: int,
) -> dict[str, Any]:
    """Train one model for its fixed steps; a pure function of its arguments (but ``seconds``).

    ``split="valid"``: the validation curve (tuning). ``split="test"``: also the test bits per
    character at the end and the horizon. ``read_at`` adds a validation checkpoint.
    """
    seed_everything(seed, threads=1)
    vocab, train, valid, test = data()
    valid, test = valid[:valid_chars], test[:test_chars]
    net = build(model, len(vocab), sizes)
    total = steps[model]
    checkpoints = set(range(eval_every, total + 1, eval_every)) | {total}
    if read_at is not None and read_at <= total:
        checkpoints.add(read_at)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    windows, state = iter(()), None
    curve_steps, curve_bpc, train_bpc = [], [], []
    result: dict[str, Any] = {"parameters": parameter_count(net), "steps": total}
    seconds = 0.0
    net.train()
    for step in range(1, total + 1):
        began = time.perf_counter()
        batch = next(windows, None)
        if batch is None:  # a new pass over the text, from the zero state
            windows, state = tbptt_windows(train, batch_size, window), None
            batch = next(windows)
        loss, state = _loss(net, model, *batch, state)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), clip_norm)
        opt.step()
        seconds += time.perf_counter() - began
        train_bpc.append(loss.item() / math.log(2.0))
        if step in checkpoints:
            curve_steps.append(step)
            bits = position_bits(net, model, valid, eval_streams)
            curve_bpc.append(float(bits.mean()))
    result.update(
        characters=total * batch_size * window,
        valid_bpc=curve_bpc[-1],
        curve={"steps": curve_steps, "valid_bpc": curve_bpc},
        train_bpc_last_50=sum(train_bpc[-50:]) / len(train_bpc[-50:]),
        seconds=round(seconds, 2),
    )
    if split == "test":
        result["test_bpc"] = float(position_bits(net, model, test, eval_streams).mean())
        result["horizon"] = horizon(
            net, model, valid, horizon_sequences, horizon_length
        )
    return result


def step_seconds(model: str, sizes: dict[str, dict[str, Any]], batch_size: int, window: int,
                 repeats: int = 10) -> float:  # fmt: skip
    """The median seconds of one training step of ``model`` on the first windows, 1 thread."""
    seed_everything(0, threads=1)
    vocab, train, _, _ = data()
    net = build(model, len(vocab), sizes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    windows, state, times = tbptt_windows(train, batch_size, window), None, []
    for n in range(repeats + 3):
        began = time.perf_counter()
        loss, state = _loss(net, model, *next(windows), state)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if n >= 3:  # the first steps warm the allocator up
            times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2]


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "cpu": cpu_description()["name"],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "threads": 1,
        "torch": torch.__version__,
        "load_average_1min": load[0],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def calibrate(
    path: Path, budget: float, sizes: dict, settings: dict, command: str,
    max_steps: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The stored calibration at ``path`` if it is for this budget and these sizes; else a new one."""
    declared = {"budget_seconds": budget, "sizes": sizes, "batch_size": settings["batch_size"],
                "window": settings["window"], "max_steps": max_steps}  # fmt: skip
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("declared") != json.loads(json.dumps(declared)):
            raise ConfigError(
                f"{path} holds a calibration for other settings; name another --dir, "
                "or delete the four after_lstm files there to start again"
            )
        return stored
    began = time.perf_counter()
    seconds = {
        model: step_seconds(model, sizes, settings["batch_size"], settings["window"])
        for model in MODELS
    }
    steps = {model: max(2, math.floor(budget / s)) for model, s in seconds.items()}
    if max_steps is not None:
        steps = {model: min(n, max_steps) for model, n in steps.items()}
    record = {
        "declared": declared,
        "command": command,
        "machine": _machine(),
        "step_seconds": seconds,
        "steps": steps,
        "calibration_seconds": round(time.perf_counter() - began, 1),
    }
    write_atomically(path, json.dumps(record, indent=1) + "\n", "the calibration")
    return record


def tune_sweep(calibration: dict, settings: dict, sizes: dict) -> Sweep:
    """Every model at every rate of its grid, a share of its steps, on the validation plays."""
    steps = {
        m: max(2, math.floor(n * TUNE_FRACTION))
        for m, n in calibration["steps"].items()
    }
    keys = tuple(
        {"model": m, "lr": lr, "seed": TUNE_SEED, "split": "valid"}
        for m in MODELS
        for lr in RATES[m]
    )
    return Sweep("after-lstm-tune", run, keys,
                 {**settings, "sizes": sizes, "steps": steps, "read_at": None})  # fmt: skip


def chosen_rates(tuned: dict) -> dict[str, float]:
    """Each model's rate with the lowest validation bits per character in the tuning runs."""
    chosen = {}
    for model in MODELS:
        runs = entries(tuned, model=model)
        if len(runs) < len(RATES[model]):
            raise ConfigError(
                f"the tuning of {model} is unfinished; run the command again"
            )
        chosen[model] = min(runs, key=lambda r: r["valid_bpc"])["key"]["lr"]
    return chosen


def run_steps(calibration: dict) -> dict[str, int]:
    """Each model's steps in the test runs: :data:`RUN_FRACTION` of its calibrated steps."""
    return {
        m: max(2, math.floor(n * RUN_FRACTION)) for m, n in calibration["steps"].items()
    }


def read_at(calibration: dict) -> int:
    """The step every model reaches: equal characters for all (the fewest steps of any)."""
    return min(run_steps(calibration).values())


def test_sweep(calibration: dict, chosen: dict, settings: dict, sizes: dict) -> Sweep:
    """Each model at its chosen rate, every seed, scored on the test plays."""
    # seed by seed: a sweep stopped early leaves every model with the same seeds
    keys = tuple(
        {"model": m, "lr": chosen[m], "seed": seed, "split": "test"}
        for seed in SEEDS
        for m in MODELS
    )
    return Sweep("after-lstm-runs", run, keys, {**settings, "sizes": sizes,
                 "steps": run_steps(calibration), "read_at": read_at(calibration)})  # fmt: skip


def state_bytes(state: Any) -> int:
    """Bytes of the tensors a recurrent model carries from one character to the next."""
    tensors = state if isinstance(state, tuple) else (state,)
    return sum(t.numel() * t.element_size() for t in tensors)


@torch.no_grad()
def generation_cost(
    net: nn.Module, model: str, way: str, prompt: Tensor, length: int, seed: int = 0
) -> dict[str, Any]:
    """Seconds and state bytes for writing ``length`` characters after ``prompt``.

    ``way``: "state" (a recurrent model, one character at a time, carrying its state;
    minLSTM in its sequential form), "cache" or "no cache" (the Transformer).
    """
    net.eval()
    generator = torch.Generator().manual_seed(seed)
    began = time.perf_counter()
    if model == "transformer":
        codes, held = generate(
            net, prompt, length, use_cache=way == "cache", generator=generator
        )
    else:
        kwargs = {"form": "sequential"} if model == "minlstm" else {}
        logits, state = net(prompt[None], None, **kwargs)
        held, drawn = state_bytes(state), []
        for _ in range(length):
            probs = torch.softmax(logits[0, -1].double(), dim=-1)
            drawn.append(int(torch.multinomial(probs, 1, generator=generator)))
            logits, state = net(torch.tensor([[drawn[-1]]]), state, **kwargs)
            held = max(held, state_bytes(state))
        codes = torch.tensor(drawn)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "characters_per_second": length / seconds,
            "state_bytes": held, "characters": int(codes.numel())}  # fmt: skip


WAYS = (("lstm", "state"), ("transformer", "no cache"), ("transformer", "cache"),
        ("minlstm", "state"))  # fmt: skip


def measure_generation(sizes: dict, length: int, command: str) -> dict[str, Any]:
    """Each model (untrained, seed 0: speed and memory do not depend on the weights' values)
    writing ``length`` characters, each way it can."""
    seed_everything(0, threads=1)
    vocab = data()[0]
    prompt = vocab.encode(GENERATION_PROMPT)
    results = []
    for model, way in WAYS:
        seed_everything(0, threads=1)
        net = build(model, len(vocab), sizes)
        results.append({"model": model, "way": way,
                        **generation_cost(net, model, way, prompt, length)})  # fmt: skip
    return {"command": command, "machine": _machine(), "length": length, "prompt": GENERATION_PROMPT,
            "results": results}  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare-text`` subcommand."""
    parser = subparsers.add_parser(
        "compare-text",
        help="the LSTM, a Transformer and minLSTM on Shakespeare, same data and budget "
        "(resumable; results committed with the book)",
        description="Calibrate each model's steps to the same training time, choose each "
        "model's rate on the validation plays, train every seed and score it on the test "
        "plays, then time generation. Resumes where its files stop.",
    )
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="folder of the four results files (default: the package's)")  # fmt: skip
    parser.add_argument(
        "--limit", type=int, default=None, help="stop after this many new runs"
    )
    parser.add_argument("--quick", action="store_true",
                        help="tiny models and budget: checks that it runs, not what it finds")  # fmt: skip
    parser.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    if args.limit is not None and not 1 <= args.limit <= 100_000:
        raise ConfigError(f"--limit must be between 1 and 100000, got {args.limit}")
    paths = {name: args.dir / file for name, file in FILES.items()}
    check_outputs({f"{name} results": path for name, path in paths.items()})
    command = (
        shlex.join(["lstm-study", *sys.argv[1:]]) if sys.argv[1:] else "compare-text"
    )
    settings, sizes, budget = dict(SETTINGS), SIZES, BUDGET_SECONDS
    max_steps, length = None, GENERATION_LENGTH
    if args.quick:
        settings.update(QUICK["settings"])
        sizes, budget = QUICK["sizes"], QUICK["budget_seconds"]
        max_steps, length = QUICK["max_steps"], QUICK["generation_length"]
    # equal time holds for one run at a time: no parallel workers
    previous = os.environ.get(ENVIRONMENT)
    os.environ[ENVIRONMENT] = "1"
    try:
        return _stages(args, paths, command, settings, sizes, budget, max_steps, length)
    finally:
        if previous is None:
            os.environ.pop(ENVIRONMENT, None)
        else:
            os.environ[ENVIRONMENT] = previous


def _stages(args, paths, command, settings, sizes, budget, max_steps, length) -> int:
    """Calibration, tuning, the runs and generation, each skipped where its file is done."""
    calibration = calibrate(
        paths["calibration"], budget, sizes, settings, command, max_steps
    )
    left = args.limit
    before = len(load(paths["tune"])["runs"]) if paths["tune"].exists() else 0
    tuned = run_sweep(tune_sweep(calibration, settings, sizes), paths["tune"],
                      command=command, limit=left)  # fmt: skip
    if left is not None:
        left -= len(tuned["runs"]) - before
        if left <= 0:
            return 0
    if not paths["generation"].exists():  # untrained models: it needs no run
        record = measure_generation(sizes, length, command)
        write_atomically(paths["generation"], json.dumps(record, indent=1) + "\n",
                         "the generation timings")  # fmt: skip
    tested_sweep = test_sweep(calibration, chosen_rates(tuned), settings, sizes)
    before = len(load(paths["runs"])["runs"]) if paths["runs"].exists() else 0
    run_sweep(tested_sweep, paths["runs"], command=command, limit=left)
    return 0
