"""The character-level LSTM language model: training by TBPTT, bits per character, sampling.

Embedding -> our stacked :class:`lstm_study.nn.LSTM` (dropout between layers) -> dropout ->
linear read-out to one logit per character. Training walks the TBPTT windows of
:mod:`lstm_study.text.batches` in order, carrying the state from one window to the next
(detached), with Adam and the gradient clipped to a norm.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import islice

import torch
from torch import Tensor, nn
from tqdm import tqdm  # not tqdm.auto: without ipywidgets it warns in every notebook

from lstm_study.errors import ConfigError, check_int
from lstm_study.nn import LSTM
from lstm_study.text.batches import streams, tbptt_windows, window_count
from lstm_study.text.vocab import Vocabulary

State = tuple[Tensor, Tensor]
LN2 = math.log(2.0)


class CharLSTM(nn.Module):
    """Embedding, a stacked LSTM and a linear read-out: logits for the next character."""

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.2,
        embedding_size: int = 32,
    ) -> None:
        super().__init__()
        check_int("vocab_size", vocab_size, minimum=2)
        self.config = {"vocab_size": vocab_size, "hidden_size": hidden_size, "num_layers": num_layers,
                       "dropout": dropout, "embedding_size": embedding_size}  # fmt: skip
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.lstm = LSTM(
            embedding_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            batch_first=True,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(
        self, codes: Tensor, state: State | None = None
    ) -> tuple[Tensor, State]:
        """Logits (batch, seq_len, vocab_size) for the character after each of ``codes``, and the final state."""
        output, state = self.lstm(self.embedding(codes), state)
        return self.head(self.drop(output)), state


def _detach(state: State) -> State:
    return state[0].detach(), state[1].detach()


@dataclass
class LanguageModelHistory:
    """Training bits per character per step, and held-out bits per character at checkpoints."""

    train_bpc: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_bpc: list[float] = field(default_factory=list)
    characters_per_step: int = 0
    #: seconds spent in training steps and scoring, over every session of a resumed run
    seconds: float = 0.0
    #: the steps after which an interrupted run was resumed
    resumed_after: list[int] = field(default_factory=list)


#: learning-rate schedules: a multiplier of the base rate at each step
SCHEDULES = ("constant", "cosine", "wsd")
#: the share of a "wsd" run (warm-up, stable, decay) over which its rate decays
WSD_DECAY = 0.2


def lr_multiplier(
    schedule: str, steps: int, warmup: int = 0, floor: float = 0.05
) -> Callable[[int], float]:
    """The multiplier of the base learning rate at step ``k`` (0-based) of ``steps``.

    A linear warm-up over ``warmup`` steps, then the constant rate; or a cosine from the base
    rate down to ``floor`` times it at the last step; or "wsd" (warm-up, stable, decay;
    Hägele et al. 2024): the constant rate, then a linear fall to ``floor`` times it over the
    last :data:`WSD_DECAY` of the steps. Until its decay starts, "wsd" is "constant" step
    for step, so a constant run can be resumed as one.
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    check_int("steps", steps)
    check_int("warmup", warmup, minimum=0)
    if warmup >= steps:
        raise ConfigError(f"warmup ({warmup}) must be fewer steps than steps ({steps})")

    def multiplier(k: int) -> float:
        if k < warmup:
            return (k + 1) / warmup
        if schedule == "constant":
            return 1.0
        if schedule == "wsd":
            decay = max(1, round(WSD_DECAY * steps))
            start = steps - decay
            return 1.0 if k < start else 1 - (1 - floor) * (k - start + 1) / decay
        progress = (k - warmup) / max(1, steps - 1 - warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return multiplier


def bits_per_character(
    model: CharLSTM,
    codes: Tensor,
    *,
    batch_size: int = 16,
    window: int = 128,
    carry_state: bool = True,
) -> float:
    """Mean -log2 P(next character) over ``codes`` split in TBPTT streams, in evaluation mode.

    With ``carry_state`` the state flows from each window into the next, as in training; without,
    every window starts from the zero state (so its first characters are predicted with no context).
    """
    return float(
        position_losses(
            model, codes, batch_size=batch_size, window=window, carry_state=carry_state
        ).mean()
    )


@torch.no_grad()
def position_losses(
    model: CharLSTM,
    codes: Tensor,
    *,
    batch_size: int = 16,
    window: int = 128,
    carry_state: bool = True,
    windows_at_once: int = 32,
    max_windows: int | None = None,
) -> Tensor:
    """Bits of every predicted character, shape (batch_size, stream length - 1), streams in order.

    Without ``carry_state`` every window starts from the zero state, so the windows are
    independent: ``windows_at_once`` of them run as one batch, which is several times faster
    and gives the same bits up to the last digits of the larger products. ``max_windows``
    scores only the first that many windows of every stream (a slice of the whole).
    """
    was_training = model.training
    model.eval()
    pairs = list(tbptt_windows(codes, batch_size, window))
    if max_windows is not None:
        check_int("max_windows", max_windows)
        pairs = pairs[:max_windows]
    losses: list[Tensor] = []
    if carry_state:
        state = None
        for x, y in pairs:
            logits, state = model(x, state)
            losses.append(_bits(logits, y))
    else:
        check_int("windows_at_once", windows_at_once)
        start = 0
        while start < len(pairs):
            width = pairs[start][0].size(1)  # only the last window may be narrower
            group = [
                pair
                for pair in pairs[start : start + windows_at_once]
                if pair[0].size(1) == width
            ]
            logits, _ = model(torch.cat([x for x, _ in group]), None)
            bits = _bits(logits, torch.cat([y for _, y in group]))
            losses.extend(bits.split(pairs[start][0].size(0)))
            start += len(group)
    model.train(was_training)
    return torch.cat(losses, dim=1)


def _bits(logits: Tensor, targets: Tensor) -> Tensor:
    """-log2 P(target) at every position of (batch, steps) targets."""
    return (
        nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        / LN2
    )


def train_language_model(
    model: CharLSTM,
    codes: Tensor,
    *,
    steps: int,
    batch_size: int = 32,
    window: int = 64,
    lr: float = 3e-3,
    clip_norm: float = 1.0,
    carry_state: bool = True,
    evaluate: Callable[[CharLSTM], float] | None = None,
    eval_every: int = 100,
    progress: bool = False,
    schedule: str = "constant",
    warmup: int = 0,
    checkpoint: Callable[[dict], None] | None = None,
    checkpoint_every: int = 200,
    resume: dict | None = None,
    weight_decay: float = 0.0,
) -> LanguageModelHistory:
    """Train ``model`` for ``steps`` TBPTT windows of ``codes`` with Adam and gradient clipping.

    The windows run through the text in order and start again from its beginning (and the zero
    state) when it is used up. ``evaluate(model)`` (held-out bits per character) runs every
    ``eval_every`` steps and after the last. The learning rate follows ``schedule`` (see
    :func:`lr_multiplier`). With ``weight_decay`` the optimiser is AdamW (Loshchilov and Hutter
    2019): every weight shrinks by ``lr * weight_decay`` of itself per step, apart from the
    gradient's update; without, it is Adam.

    Every ``checkpoint_every`` steps ``checkpoint`` receives everything the run needs to go on
    (:func:`checkpoint_state`); a run given that back as ``resume`` continues from it and ends
    with the same weights, bit for bit, as one that was never interrupted (same machine, same
    threads).
    """
    check_int("steps", steps)
    check_int("eval_every", eval_every)
    check_int("checkpoint_every", checkpoint_every)
    if not clip_norm > 0:
        raise ConfigError(f"clip_norm must be positive, got {clip_norm!r}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ConfigError(f"weight_decay must be 0 or more, got {weight_decay!r}")
    streams(codes, batch_size)  # checks there is text enough
    opt = (
        torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        if weight_decay
        else torch.optim.Adam(model.parameters(), lr=lr)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_multiplier(schedule, steps, warmup)
    )
    history = LanguageModelHistory(characters_per_step=batch_size * window)
    windows, state, done = iter(()), None, 0
    if resume is not None:
        done = int(resume["step"])
        if not 0 < done < steps:
            raise ConfigError(
                f"the checkpoint is of step {done}, outside the run's 1 to {steps - 1}"
            )
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        torch.set_rng_state(resume["rng"])
        history = LanguageModelHistory(**resume["history"])
        history.resumed_after.append(done)
        position = done % window_count(codes, batch_size, window)
        if position:  # the pass goes on where it stopped, with the state it carried
            windows = islice(tbptt_windows(codes, batch_size, window), position, None)
            state = resume["carried"]
    model.train()
    bar = tqdm(
        range(done + 1, steps + 1),
        disable=not progress,
        desc="training",
        leave=False,
        initial=done,
        total=steps,
    )
    for step in bar:
        began = time.perf_counter()
        batch = next(windows, None)
        if batch is None:  # a new pass over the text
            windows, state = tbptt_windows(codes, batch_size, window), None
            batch = next(windows)
        x, y = batch
        logits, new_state = model(x, state if carry_state else None)
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), y.reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        opt.step()
        scheduler.step()
        state = _detach(new_state)
        history.train_bpc.append(loss.item() / LN2)
        if evaluate is not None and (step % eval_every == 0 or step == steps):
            history.eval_steps.append(step)
            history.eval_bpc.append(evaluate(model))
            bar.set_postfix(valid_bpc=f"{history.eval_bpc[-1]:.3f}", refresh=False)
            model.train()
        history.seconds += time.perf_counter() - began
        if checkpoint is not None and step % checkpoint_every == 0 and step < steps:
            checkpoint(checkpoint_state(step, model, opt, scheduler, state, history))
    model.eval()
    return history


def checkpoint_state(
    step: int,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    carried: State | None,
    history: LanguageModelHistory,
) -> dict:
    """What a run needs to go on after ``step``: weights, optimiser, schedule, the state it
    carries into the next window, the random generator and the history so far."""
    return {
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": scheduler.state_dict(),
        "carried": carried,
        "rng": torch.get_rng_state(),
        "history": asdict(history),
    }


#: characters of a prompt fed to the model at once: memory stays that of one piece
PROMPT_PIECE = 256


@torch.no_grad()
def feed(model: CharLSTM, codes: Tensor) -> tuple[Tensor, State]:
    """Run ``codes`` through the model in pieces of :data:`PROMPT_PIECE`, carrying the state.

    Returns the last piece's logits and the final state: the same as one call on the whole
    text, in memory that does not grow with its length.
    """
    logits, state = None, None
    for start in range(0, len(codes), PROMPT_PIECE):
        logits, state = model(codes[None, start : start + PROMPT_PIECE], state)
    if logits is None:
        raise ConfigError("the prompt must hold at least one character")
    return logits, state


def training_bytes(
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    batch_size: int,
    window: int,
    embedding_size: int = 32,
) -> int:
    """About how many bytes training a :class:`CharLSTM` takes (float32).

    Weights, gradients and Adam's two moments (4 copies of every parameter), and what one
    window keeps for the backward pass: the gates, cell and hidden states of every layer at
    every position (about 8 hidden-sized vectors), the embeddings and three vocabulary-sized
    vectors (logits, softmax, gradient). An estimate to refuse the impossible before any
    work, not a measurement.
    """
    first = 4 * hidden_size * (embedding_size + hidden_size + 2)
    later = 4 * hidden_size * (2 * hidden_size + 2)
    parameters = (
        vocab_size * embedding_size
        + first
        + (num_layers - 1) * later
        + (hidden_size + 1) * vocab_size
    )
    positions = batch_size * window
    activations = positions * (
        num_layers * 8 * hidden_size + embedding_size + 3 * vocab_size
    )
    return 4 * (4 * parameters + activations)


@torch.no_grad()
def sample(
    model: CharLSTM,
    vocab: Vocabulary,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> str:
    """``length`` characters drawn one at a time after ``prompt``, from softmax(logits / temperature)."""
    return sample_each(model, vocab, prompt, length, (temperature,), generator)[0]


@torch.no_grad()
def sample_each(
    model: CharLSTM,
    vocab: Vocabulary,
    prompt: str,
    length: int,
    temperatures: tuple[float, ...] | list[float],
    generator: torch.Generator | None = None,
) -> list[str]:
    """One text of ``length`` characters after ``prompt`` at each temperature, drawn side by
    side: the prompt is read once, then every step feeds one character per text as a batch
    (one matrix-vector product costs about what a few do)."""
    check_int("length", length)
    temperatures = list(temperatures)
    if not temperatures:
        raise ConfigError("give at least one temperature")
    for temperature in temperatures:
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not temperature > 0
        ):
            raise ConfigError(
                f"temperature must be a number above 0, got {temperature!r}"
            )
    if not prompt:
        raise ConfigError("the prompt must hold at least one character")
    unknown = vocab.unknown_in(prompt)
    if unknown:
        raise ConfigError(
            f"the prompt holds characters outside the vocabulary: {''.join(unknown)[:20]!r}"
        )
    model.eval()
    logits, state = feed(model, vocab.encode(prompt))
    count = len(temperatures)
    logits = logits[:, -1].expand(count, -1)
    state = tuple(part.expand(-1, count, -1).contiguous() for part in state)
    divisor = torch.tensor(temperatures, dtype=torch.float64)[:, None]
    codes = []
    for _ in range(length):
        scaled = logits.double() / divisor
        if not torch.isfinite(scaled).all():
            low = min(temperatures)
            raise ConfigError(
                f"temperature {low!r} is too small: the logits divided by it "
                "overflow; use 0.01 or more"
            )
        probs = torch.softmax(scaled, dim=-1)
        drawn = torch.multinomial(probs, 1, generator=generator)  # (count, 1)
        codes.append(drawn[:, 0])
        logits, state = model(drawn, state)
        logits = logits[:, -1]
    if not codes:
        return [""] * count
    drawn_codes = torch.stack(codes, dim=1)
    return [vocab.decode(row) for row in drawn_codes]


@torch.no_grad()
def cell_states(model: CharLSTM, codes: Tensor) -> Tensor:
    """The cell state of every layer at every character of ``codes``: shape (num_layers, len, hidden)."""
    model.eval()
    with model.lstm.recording_gates() as traces:
        model(codes[None])
    return torch.stack([trace.c[0] for trace in traces])


@torch.no_grad()
def cell_states_in_pieces(
    model: CharLSTM, codes: Tensor, pieces: int, warmup: int
) -> tuple[Tensor, Tensor]:
    """:func:`cell_states`, read as ``pieces`` streams side by side, each warmed up first.

    One character at a time, a long text costs one matrix-vector product per step whatever
    the batch, so reading it as several streams at once is faster. Piece ``k`` holds the
    characters from ``k * P`` on (``P`` = the length / ``pieces``, rounded up); its stream starts
    ``warmup`` characters earlier (at the start of the text where there are fewer), so that its
    state depends little on where the reading began. Returns the states, shape
    (num_layers, len, hidden), and the *seam gaps*, shape (num_layers, hidden): at the last
    character before each piece, the |difference| between each unit's cell state that its
    stream reached after the warm-up and the one the previous stream (which started earlier)
    reached there; each unit's largest over all seams (zeros with one piece).
    """
    check_int("pieces", pieces)
    check_int("warmup", warmup, minimum=0)
    n = len(codes)
    if n == 0:
        raise ConfigError("the text must hold at least one character")
    size = -(-n // pieces)
    count = -(-n // size)  # pieces that hold characters
    length = min(n, size + warmup)
    starts = [min(max(0, k * size - warmup), n - length) for k in range(count)]
    model.eval()
    with model.lstm.recording_gates() as traces:
        model(torch.stack([codes[start : start + length] for start in starts]))
    streams = torch.stack(
        [trace.c for trace in traces]
    )  # (layers, count, length, hidden)
    states = torch.cat(
        [
            streams[:, k, k * size - start : min((k + 1) * size, n) - start]
            for k, start in enumerate(starts)
        ],
        dim=1,
    )
    gaps = torch.zeros(streams.shape[0], streams.shape[-1])
    for k in range(1, count):
        seam = k * size - 1
        here = streams[:, k, seam - starts[k]]
        before = streams[:, k - 1, seam - starts[k - 1]]
        gaps = torch.maximum(gaps, (here - before).abs())
    return states, gaps
