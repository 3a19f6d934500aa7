"""``train-text`` survives an interruption: checkpoints, ``--resume``, the learning-rate schedule.

A resumed run must end with the same weights, bit for bit, as a run never interrupted: the
checkpoint holds the weights, Adam's moments, the schedule, the state carried into the next
window, the random generator (dropout) and the history.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lstm_study.cli import build_parser, main
from lstm_study.errors import ConfigError
from lstm_study.runtime import seed_everything
from lstm_study.text import weights
from lstm_study.text.commands import _command as _command_of
from lstm_study.text.commands import checkpoint_path
from lstm_study.text.corpus import load_corpus
from lstm_study.text.model import (
    CharLSTM,
    bits_per_character,
    lr_multiplier,
    train_language_model,
)
from lstm_study.text.vocab import Vocabulary
from lstm_study.text.weights import EVAL_BATCH, EVAL_WINDOW

VOCAB = Vocabulary(tuple("abc<>."))
CODES = VOCAB.encode("abcab<a>cbca.cab<c>ba." * 30)


def test_constant_schedule_is_one_and_warmup_climbs_linearly():
    constant = lr_multiplier("constant", 100, warmup=4)
    assert [constant(k) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_multiplier("constant", 10)(9) == 1.0


def test_cosine_falls_from_the_rate_to_its_floor():
    cosine = lr_multiplier("cosine", 101, warmup=0, floor=0.05)
    values = [cosine(k) for k in range(101)]
    assert values[0] == 1.0 and values[-1] == pytest.approx(0.05)
    assert values[50] == pytest.approx(0.525)
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize(
    "schedule, steps, warmup",
    [("linear", 10, 0), ("cosine", 10, 10), ("cosine", 0, 0)],
)
def test_bad_schedules_are_refused(schedule, steps, warmup):
    with pytest.raises(ConfigError):
        lr_multiplier(schedule, steps, warmup)


def _train(steps: int, schedule: str = "cosine", **kwargs) -> tuple[CharLSTM, object]:
    seed_everything(3)
    model = CharLSTM(len(VOCAB), hidden_size=8, num_layers=2, dropout=0.3)
    history = train_language_model(
        model, CODES, steps=steps, batch_size=3, window=9, lr=1e-2,
        schedule=schedule, warmup=3, eval_every=4,
        evaluate=lambda m: float(sum(p.detach().sum() for p in m.parameters())),
        **kwargs,
    )  # fmt: skip
    return model, history


class Interrupted(Exception):
    """Stands for Ctrl-C in the middle of a run."""


@pytest.mark.parametrize("cut", [8, 24])  # inside a pass, and where a pass ends
def test_a_resumed_run_ends_with_the_weights_of_one_never_interrupted(cut):
    steps = 40  # 24 windows make a pass: the run wraps around the text
    whole, whole_history = _train(steps)
    saved: list[dict] = []

    def save_then_stop(state: dict) -> None:
        saved.append(state)
        if state["step"] == cut:
            raise Interrupted

    with pytest.raises(Interrupted):
        _train(steps, checkpoint=save_then_stop, checkpoint_every=cut // 2)
    assert [state["step"] for state in saved] == [cut // 2, cut]
    checkpoint = torch.load(_round_trip(saved[-1]), weights_only=True)
    resumed, history = _train(steps, resume=checkpoint)
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert history.train_bpc == whole_history.train_bpc
    assert history.eval_steps == whole_history.eval_steps
    assert history.resumed_after == [cut]


def _round_trip(state: dict) -> io.BytesIO:
    """The checkpoint as train-text writes and reads it (torch.save, weights_only load)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def _command(out, *extra):
    return [sys.executable, "-m", "lstm_study.cli", "train-text", "--output", str(out),
            "--hidden-size", "8", "--layers", "2", "--batch-size", "2", "--window", "8",
            "--steps", "800", "--eval-every", "300", "--checkpoint-every", "25",
            "--schedule", "cosine", "--warmup", "10", "--threads", "1", *extra]  # fmt: skip


@pytest.mark.slow
def test_train_text_resumes_after_a_real_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    never = tmp_path / "never.pt"
    subprocess.run(_command(never), check=True, capture_output=True, env=env)
    cut = tmp_path / "cut.pt"
    run = subprocess.Popen(
        _command(cut), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    deadline = time.monotonic() + 120
    while not checkpoint_path(cut).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode != 0, "the run ended before it was interrupted"
    assert "--resume" in err.decode() and checkpoint_path(cut).exists()
    assert not cut.exists()
    done = subprocess.run(_command(cut, "--resume"), capture_output=True, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert not checkpoint_path(cut).exists(), "a finished run removes its checkpoint"
    assert weights.sha256(cut) == weights.sha256(never)
    info = json.loads(cut.with_suffix(".json").read_text())
    assert info["resumed_after_steps"] and info["resumed_after_steps"][0] % 25 == 0


def test_a_checkpoint_left_behind_is_neither_overwritten_nor_ignored(tmp_path, capsys):
    out = tmp_path / "m.pt"
    checkpoint_path(out).write_bytes(b"a run's checkpoint")
    assert main(["train-text", "--output", str(out), "--steps", "3"]) == 1
    err = capsys.readouterr().err
    assert "unfinished run" in err and "--resume" in err
    assert checkpoint_path(out).read_bytes() == b"a run's checkpoint"
    assert main(["train-text", "--output", str(out), "--steps", "3", "--resume"]) == 1
    assert "is not a train-text checkpoint" in capsys.readouterr().err


def test_resume_refuses_a_missing_checkpoint_or_another_runs(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train-text", "--output", str(out), "--resume"]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    torch.save(
        {"command": "lstm-study train-text --output m.pt --hidden-size 16 --threads 1"},
        checkpoint_path(out),
    )
    argv = ["train-text", "--output", str(out), "--hidden-size", "8", "--resume"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--hidden-size 16 (checkpoint) vs 8 (now)" in err


def test_warmup_must_be_shorter_than_the_run(tmp_path, capsys):
    argv = ["train-text", "--output", str(tmp_path / "m.pt"), "--steps", "5"]
    assert main([*argv, "--warmup", "5"]) == 1
    assert (
        "--warmup (5) must be fewer steps than --steps (5)" in capsys.readouterr().err
    )


@pytest.mark.parametrize("decay", ["-0.1", "nan", "inf"])
def test_a_bad_weight_decay_is_refused_before_training(tmp_path, capsys, decay):
    argv = ["train-text", "--output", str(tmp_path / "m.pt"), "--weight-decay", decay]
    assert main(argv) == 1
    assert "--weight-decay must be 0 or more" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_recorded_command_names_weight_decay_only_where_it_is_used(tmp_path):
    base = ["train-text", "--output", str(tmp_path / "m.pt")]
    assert "--weight-decay" not in _recorded_command(base)
    assert _recorded_command([*base, "--weight-decay", "0.1"]).endswith(
        "--weight-decay 0.1"
    )


def test_half_precision_weights_are_scored_as_stored(tmp_path):
    argv = ["train-text", "--hidden-size", "16", "--steps", "3", "--eval-every", "3"]
    assert main([*argv, "--output", str(tmp_path / "full.pt")]) == 0
    assert (
        main(
            [*argv, "--output", str(tmp_path / "half.pt"), "--weights-dtype", "float16"]
        )
        == 0
    )
    full, half = (weights.load_model(tmp_path / f"{n}.pt") for n in ("full", "half"))
    stored = torch.load(tmp_path / "half.pt", weights_only=True)
    assert all(
        v.dtype == torch.float16 for v in stored.values() if v.is_floating_point()
    )
    assert (tmp_path / "half.pt").stat().st_size < 0.7 * (
        tmp_path / "full.pt"
    ).stat().st_size
    # loaded into float32 parameters: the float16 values, exactly
    for name, value in half.model.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, stored[name].float())
        # the same run: rounding moved each weight by at most float16's half step
        torch.testing.assert_close(
            value, full.model.state_dict()[name], rtol=1e-3, atol=1e-4
        )
    # the record's score is that of the rounded weights, as loaded
    live = bits_per_character(
        half.model, half.vocab.encode(load_corpus("test")), batch_size=EVAL_BATCH,
        window=EVAL_WINDOW,
    )  # fmt: skip
    assert live == pytest.approx(half.info["test_bpc"], abs=1e-6)


def test_wsd_is_constant_until_its_decay_then_falls_to_the_floor():
    wsd, constant = (
        lr_multiplier("wsd", 100, warmup=5),
        lr_multiplier("constant", 100, 5),
    )
    assert [wsd(k) for k in range(80)] == [constant(k) for k in range(80)]
    assert wsd(80) < 1.0 and wsd(99) == pytest.approx(0.05)
    assert all(wsd(k) > wsd(k + 1) for k in range(80, 99))


def test_a_constant_run_resumed_as_wsd_with_more_steps_is_a_wsd_run():
    """Until its decay starts a wsd run is a constant one: a constant run's checkpoint from
    before that point goes on as the wsd run, bit for bit."""
    steps = 50  # wsd decays over steps 40 to 49
    fresh, _ = _train(steps, schedule="wsd")
    saved: list[dict] = []

    def save_then_stop(state: dict) -> None:
        saved.append(state)
        raise Interrupted

    with pytest.raises(Interrupted):  # the first run: constant, 30 steps planned
        _train(30, schedule="constant", checkpoint=save_then_stop, checkpoint_every=12)
    resumed, history = _train(steps, schedule="wsd", resume=saved[-1])
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert history.resumed_after == [12]


def _recorded_command(argv: list[str]) -> str:
    """The command line train-text records for ``argv`` (every option spelled out)."""
    return _command_of(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "now, refused",
    [
        (["--schedule", "cosine"], True),  # its rate falls from the first step on
        (["--schedule", "wsd", "--steps", "300"], False),  # constant until step 240
        (
            ["--schedule", "wsd", "--steps", "40"],
            True,
        ),  # decays from step 32: before 35
        (["--hidden-size", "64"], True),
        (["--weight-decay", "0.1"], True),
    ],
)
def test_resume_accepts_a_schedule_change_only_where_the_rates_already_used_agree(
    tmp_path, capsys, now, refused
):
    out = tmp_path / "m.pt"
    base = ["train-text", "--output", str(out), "--steps", "100", "--hidden-size", "8"]
    recorded = _recorded_command([*base, "--schedule", "constant"])
    torch.save({"command": recorded, "step": 35}, checkpoint_path(out))
    argv = [*base, *now, "--resume"]
    assert main(argv) == 1  # the fake checkpoint holds no weights: refused either way
    err = capsys.readouterr().err
    assert ("is of another run" in err) == refused, err
    if not refused:
        assert "is not a train-text checkpoint" in err
