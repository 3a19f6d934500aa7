"""``lstm-study train-text`` and ``generate``: the shipped weights, their record, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from lstm_study.cli import main
from lstm_study.errors import ConfigError
from lstm_study.text import commands, weights
from lstm_study.text.corpus import load_corpus
from lstm_study.text.vocab import Vocabulary


@pytest.mark.parametrize("path", [weights.WEIGHTS_PATH, weights.SMALL_WEIGHTS_PATH])
def test_shipped_weights_match_their_recorded_sha256_and_size_limit(path):
    info = json.loads(weights.sidecar_path(path).read_text())
    assert weights.sha256(path) == info["weights_sha256"]
    assert (
        path.stat().st_size <= 10 * 1000**2
    )  # at most 10 MB in the repository (issue 26)
    for key in (
        "command",
        "seed",
        "machine",
        "torch",
        "date",
        "training_seconds",
        "vocabulary",
        "test_bpc",
    ):
        assert key in info
    assert info["command"].startswith("lstm-study train-text ")
    # the vocabulary is the one the training plays give
    assert tuple(info["vocabulary"]) == Vocabulary.build(load_corpus("train")).chars
    torch.load(path, weights_only=True)  # plain tensors only
    # the record's command names the model it made
    options = weights.command_options(info)
    assert options["--output"] == str(path.relative_to(path.parents[3]))
    assert int(options["--hidden-size"]) == info["config"]["hidden_size"]
    assert (
        int(options["--steps"])
        * int(options["--batch-size"])
        * int(options["--window"])
        == info["characters_trained"]
    )


def test_generate_prints_a_sample_from_the_shipped_model(capsys):
    assert (
        main(
            ["generate", "--prompt", "ROMEO", "--length", "60", "--temperature", "0.8"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("ROMEO") and len(out) == len("ROMEO") + 60 + 1


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [(["--temperature", "0"], 1, "--temperature must be from 0.01 to 100"),
     (["--temperature", "-0.5"], 1, "--temperature must be from 0.01 to 100"),
     (["--temperature", "nan"], 1, "--temperature must be from 0.01 to 100"),
     (["--length", "0"], 2, "argument --length: must be from 1 to 100,000, got 0"),
     (["--length", "-3"], 2, "argument --length: must be from 1 to 100,000, got -3"),
     (["--prompt", "ROMEO 1595"], 1, "characters the model does not know: '159'"),
     (["--prompt", ""], 1, "--prompt holds nothing")],
)  # fmt: skip
def test_generate_bad_arguments_get_one_line_errors(capsys, argv, status, message):
    try:
        code = main(["generate", *argv])
    except SystemExit as exit_:
        code = exit_.code
    assert code == status
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_generate_without_weights_says_how_to_train(capsys, tmp_path):
    assert main(["generate", "--weights", str(tmp_path / "none.pt")]) == 1
    assert "lstm-study train-text" in capsys.readouterr().err


@pytest.mark.slow
def test_train_text_writes_weights_and_a_sidecar_that_load_back(tmp_path, capsys):
    out = tmp_path / "tiny.pt"
    argv = [
        "train-text",
        "--output",
        str(out),
        "--hidden-size",
        "8",
        "--steps",
        "3",
        "--eval-every",
        "2",
    ]
    assert main(argv) == 0
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["weights_sha256"] == weights.sha256(out) and info["curve"]["steps"] == [
        2,
        3,
    ]
    shipped = weights.load_model(out)
    assert (
        shipped.model.config["hidden_size"] == 8
        and len(shipped.vocab) == info["config"]["vocab_size"]
    )
    assert main(["generate", "--weights", str(out), "--length", "5"]) == 0
    # chapter 6's live slice: the run's first steps again, from its record alone
    assert (
        weights.replay_start(out, steps=2).eval_bpc[-1] == info["curve"]["valid_bpc"][0]
    )
    with pytest.raises(ConfigError, match="not at 1"):
        weights.replay_start(out, steps=1)
    assert weights.score_on_test(out) == pytest.approx(info["test_bpc"], abs=1e-6)


def test_train_text_refuses_bad_outputs_before_training(tmp_path, capsys):
    assert main(["train-text", "--output", str(tmp_path / "model.bin")]) == 1
    assert "must end in .pt" in capsys.readouterr().err
    assert main(["train-text", "--output", str(tmp_path / "missing" / "m.pt")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_resumed_changes_name_what_changed_and_refuse_what_resume_refuses():
    base = (
        "lstm-study train-text --output a.pt --hidden-size 8 --steps 100 "
        "--schedule wsd --warmup 0 --lr 0.003"
    )
    record = {
        "command": base.replace("a.pt", "b.pt").replace("--steps 100", "--steps 120"),
        "earlier_commands": [
            {"command": base, "until_step": 20},
            {"command": base.replace("a.pt", "b.pt"), "until_step": 50},
        ],
    }
    assert commands.resumed_changes(record) == [
        (20, {"--output": ("a.pt", "b.pt")}),
        (50, {"--steps": ("100", "120")}),
    ]
    assert commands.resumed_changes({"command": base}) == []
    # the shipped record: moved to the package and shortened before its decay
    shipped = json.loads(weights.sidecar_path(weights.WEIGHTS_PATH).read_text())
    assert commands.resumed_changes(shipped) == [
        (
            1900,
            {
                "--output": (
                    ".cache/runs/char_lstm.pt",
                    "lstm_study/text/weights/char_lstm.pt",
                ),
                "--steps": ("6000", "5400"),
            },
        )
    ]
    # the one shipped before it: switched from the constant rate to wsd before its decay
    adam = json.loads(weights.ADAM_RUN_PATH.read_text())
    assert commands.resumed_changes(adam) == [
        (3400, {"--schedule": ("constant", "wsd")})
    ]
    # another rate, or a length whose decay began before the step it changed at
    for changed, step in ((base.replace("0.003", "0.01"), 20),
                          (base.replace("--steps 100", "--steps 60"), 50)):  # fmt: skip
        bad = {
            "command": changed,
            "earlier_commands": [{"command": base, "until_step": step}],
        }
        with pytest.raises(ConfigError, match="resume refuses"):
            commands.resumed_changes(bad)


def test_option_changes_name_each_option_that_differs_on_both_sides():
    before = "lstm-study train-text --output a.pt --steps 100 --lr 0.003"
    after = "lstm-study train-text --output b.pt --steps 100 --weight-decay 0.1"
    assert weights.option_changes(before, after) == {
        "--lr": ("0.003", None),
        "--output": ("a.pt", "b.pt"),
        "--weight-decay": (None, "0.1"),
    }
    assert weights.option_changes(before, before) == {}


def test_changes_words_leave_out_the_speed_and_say_the_rest():
    shipped = "lstm-study train-text --output a.pt --steps 6000 --threads 1"
    longer = "lstm-study train-text --output b.pt --steps 9000 --threads 2"
    decayed = f"{shipped} --weight-decay 0.1"
    changes = weights.option_changes
    assert weights.changes_words(changes(shipped, longer)) == (
        "9,000 steps instead of 6,000"
    )
    assert weights.changes_words(changes(shipped, decayed)) == (
        "AdamW with weight decay 0.1 instead of Adam"
    )
    assert weights.changes_words(changes(decayed, longer)) == (
        "9,000 steps instead of 6,000; Adam instead of AdamW with weight decay 0.1"
    )
    assert weights.changes_words(changes(shipped, shipped.replace("a.pt", "c.pt"))) == (
        "the same command"
    )
    assert weights.changes_words({"--lr": ("0.003", "0.001")}) == (
        "--lr 0.001 instead of 0.003"
    )


def test_cores_words_say_the_threads_a_record_trained_on():
    said = [weights.cores_words({"machine": {"threads": n}}) for n in (1, 2, 8)]
    assert said == ["one core", "two cores", "8 cores"]
