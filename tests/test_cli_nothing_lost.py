"""The command line under abuse, part two (issue 27): every file a command reads is an input
(the price cache, the snapshot, the plays), the weights and their record are written as a
pair, every count is bounded before any work, intervals that leave out their point are said
to, and every message is one line."""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from lstm_study import arguments, cli
from lstm_study.data import cache, snapshot, sources, yahoo
from lstm_study.errors import ConfigError, OutputFileError
from lstm_study.files import write_together
from lstm_study.text import commands as text_commands
from lstm_study.text import weights
from lstm_study.text.model import (
    PROMPT_PIECE,
    CharLSTM,
    LanguageModelHistory,
    feed,
    sample,
)
from tests.forecast.conftest import price_table

QUICK = ["--seeds", "1", "--epochs", "1", "--device", "cpu"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; the exit status, stdout and stderr."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:  # would be a usage error that escaped the parser
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def cached_msft(tmp_path, monkeypatch) -> Path:
    """A cache folder (through $LSTM_STUDY_DATA_DIR) holding MSFT; Yahoo unreachable."""
    folder = tmp_path / "data"
    frame = sources.load_prices("MSFT", source="snapshot")
    path = cache.write_cache(frame, "MSFT", folder)
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(folder))
    monkeypatch.setattr(yahoo, "reachable", lambda timeout=3.0: False)
    return path


@pytest.fixture
def quick_training(monkeypatch):
    """train-text with the training and the scoring replaced by nothing: it only writes."""

    def train(model, codes, **settings):
        return LanguageModelHistory(eval_steps=[1], eval_bpc=[5.0])

    monkeypatch.setattr(text_commands, "train_language_model", train)
    monkeypatch.setattr(text_commands, "bits_per_character", lambda *a, **k: 5.0)


# --- 1. The price cache and the snapshot are inputs ---------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        lambda c, t: ["forecast", "--ticker", "MSFT", "--source", "cache", *QUICK,
                      "--json", str(c)],
        lambda c, t: ["backtest", "--ticker", "MSFT", "--source", "auto", *QUICK,
                      "--json", str(t / "o.json"), "--predictions", str(c)],
        lambda c, t: ["forecast", "--ticker", "msft", "--source", "snapshot", *QUICK,
                      "--json", str(t / "link.json")],
    ],
    ids=["forecast --json", "backtest --predictions", "through a link"],
)  # fmt: skip
def test_an_output_that_is_the_price_cache_is_refused(
    cached_msft, tmp_path, capsys, argv
):
    os.symlink(cached_msft, tmp_path / "link.json")
    before = cached_msft.read_bytes()
    code, _, err = run(argv(cached_msft, tmp_path), capsys)
    assert code == 1 and "the input cache file of MSFT" in one_line(err), err
    assert "destroy your data" in err
    assert cached_msft.read_bytes() == before
    assert not (tmp_path / "o.json").exists()


def test_an_output_that_would_be_the_cache_of_a_ticker_not_yet_fetched_is_refused(
    tmp_path, capsys, monkeypatch
):
    # --source auto writes the cache while it loads, before the outputs are written
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(tmp_path))
    argv = [
        "forecast",
        "--ticker",
        "IBM",
        *QUICK,
        "--json",
        str(tmp_path / "IBM.csv.gz"),
    ]
    code, _, err = run(argv, capsys)
    assert code == 1 and "the input cache file of IBM" in one_line(err)


def test_an_output_that_is_the_snapshot_through_a_link_is_refused(tmp_path, capsys):
    link = tmp_path / "s.json"
    os.symlink(snapshot.SNAPSHOT_PATH, link)
    argv = [
        "forecast",
        "--ticker",
        "IBM",
        "--source",
        "snapshot",
        *QUICK,
        "--json",
        str(link),
    ]
    code, _, err = run(argv, capsys)
    assert code == 1 and "the input snapshot file" in one_line(err)
    assert link.is_symlink()


def test_tune_may_not_write_over_the_snapshot_it_reads(tmp_path, capsys):
    link = tmp_path / "t.json"
    os.symlink(snapshot.SNAPSHOT_PATH, link)
    code, _, err = run(["tune", "--json", str(link)], capsys)
    assert code == 1 and "the input snapshot file" in one_line(err)


def test_the_record_of_train_text_may_not_be_the_plays(
    tmp_path, capsys, quick_training
):
    from lstm_study.text.corpus import SNAPSHOT_PATH

    os.symlink(SNAPSHOT_PATH, tmp_path / "m.json")
    code, _, err = run(["train-text", "--output", str(tmp_path / "m.pt")], capsys)
    assert code == 1 and "the input plays file" in one_line(err)


# --- 2, 3. train-text writes its weights and their record together; it keeps others' files ----


def _train(out: Path) -> list[str]:
    return ["train-text", "--output", str(out), "--hidden-size", "4", "--layers", "1"]


def test_a_disk_full_on_the_record_leaves_the_old_pair_whole(
    tmp_path, capsys, monkeypatch, quick_training
):
    out = tmp_path / "m.pt"
    assert run(_train(out), capsys)[0] == 0
    old = out.read_bytes(), out.with_suffix(".json").read_bytes()
    weights.load_model(out)  # a pair that loads
    real_fsync, calls = os.fsync, []

    def second_fails(descriptor):  # the disk fills while the record is written
        calls.append(descriptor)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", second_fails)
    code, _, err = run([*_train(out), "--seed", "1"], capsys)
    assert code == 1 and "No space left on device" in one_line(err)
    assert (out.read_bytes(), out.with_suffix(".json").read_bytes()) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]
    weights.load_model(out)  # still the old model, whole


def test_a_pair_cut_apart_is_told_apart_when_loaded(tmp_path, capsys, quick_training):
    # what a crash between the two renames leaves: new weights, the old record
    out = tmp_path / "m.pt"
    assert run(_train(out), capsys)[0] == 0
    record = out.with_suffix(".json").read_text()
    assert run([*_train(out), "--seed", "1"], capsys)[0] == 0
    out.with_suffix(".json").write_text(record)
    code, _, err = run(["generate", "--weights", str(out), "--length", "5"], capsys)
    assert code == 1 and "is not the model its record m.json describes" in one_line(err)


def test_train_text_keeps_a_json_file_that_is_not_its_record(
    tmp_path, capsys, quick_training
):
    mine = tmp_path / "keep.json"
    mine.write_text('{"my": "notes"}\n')
    code, _, err = run(["train-text", "--output", str(tmp_path / "keep.pt")], capsys)
    assert (
        code == 1
        and "is not the record of a model written by train-text" in one_line(err)
    )
    assert mine.read_text() == '{"my": "notes"}\n'
    assert not (tmp_path / "keep.pt").exists()


def test_train_text_replaces_its_own_record(tmp_path, capsys, quick_training):
    out = tmp_path / "m.pt"
    assert run(_train(out), capsys)[0] == 0
    assert run([*_train(out), "--seed", "3"], capsys)[0] == 0
    assert json.loads(out.with_suffix(".json").read_text())["seed"] == 3


@pytest.mark.parametrize(
    "failure",
    [OSError(28, "No space left on device"), KeyboardInterrupt()],
    ids=["disk full", "ctrl-c"],
)
def test_files_written_together_are_all_written_or_none(tmp_path, failure):
    first, second = tmp_path / "a.pt", tmp_path / "a.json"
    first.write_text("old a")
    second.write_text("old b")

    def fail(handle):
        handle.write(b"half")
        raise failure

    with pytest.raises(
        OutputFileError if isinstance(failure, OSError) else KeyboardInterrupt
    ):
        write_together({first: ("new a", "the weights"), second: (fail, "the record")})
    assert first.read_text() == "old a" and second.read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.pt"]
    write_together({first: ("new a", "a"), second: ("new b", "b")})
    assert first.read_text() == "new a" and second.read_text() == "new b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.pt"]


# --- 4, 7, 12. Every count is bounded, before any work --------------------------------------------

COMMAND_OF = {
    "--seeds": ["ablate", "--json", "{t}/a.json"],
    "--length": ["generate"],
    "--seed": ["generate"],
}


@pytest.mark.parametrize("option", sorted(arguments.LIMITS))
def test_every_count_is_bounded_before_any_work(tmp_path, capsys, option):
    low, high = arguments.LIMITS[option]
    base = COMMAND_OF.get(option, ["train-text", "--output", "{t}/m.pt"])
    for value in (high + 1, low - 1, 1_000_000_000_000):
        argv = [word.format(t=tmp_path) for word in base] + [option, str(value)]
        code, out, err = run(argv, capsys)
        assert code == 2 and f"argument {option}: must be from" in one_line(err), err
        assert not out and not list(tmp_path.iterdir())


def test_ablate_refuses_a_billion_seeds_at_once(tmp_path, capsys):
    code, _, err = run(
        ["ablate", "--seeds", "1000000000", "--json", str(tmp_path / "a")], capsys
    )
    assert code == 2 and "must be from 1 to 100" in one_line(err)


def test_threads_are_capped_at_the_cores(tmp_path, capsys):
    cores = arguments.available_cores()
    code, _, err = run(
        [*_train(tmp_path / "m.pt"), "--threads", str(cores + 1)], capsys
    )
    assert code == 2 and f"must be from 1 to {cores}, the cores" in one_line(err)


def test_a_model_too_big_for_the_memory_is_refused_before_training(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(text_commands, "available_memory", lambda: 2 * 1024**3)
    argv = ["train-text", "--output", str(tmp_path / "m.pt"), "--hidden-size", "4096",
            "--layers", "8"]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 1 and re.search(
        r"needs about [\d.]+ GB to train, more than the 2.1 GB", err
    )
    one_line(err)


def test_an_allocator_failure_is_the_out_of_memory_line(monkeypatch, capsys):
    from lstm_study.data import commands

    def exhausted(args):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't "
            "allocate memory: you tried to allocate 400000000000000 bytes."
        )

    monkeypatch.setattr(commands, "run", exhausted)
    code, _, err = run(["fetch", "MSFT"], capsys)
    assert code == 1 and "error: out of memory" in one_line(err)
    assert "unexpected" not in err


# --- 5. A prompt is bounded, and fed in pieces ---------------------------------------------------


def test_a_prompt_over_the_limit_is_refused(capsys):
    prompt = "A" * (arguments.PROMPT_LIMIT + 1)
    code, out, err = run(["generate", "--prompt", prompt], capsys)
    assert code == 1 and "more than 10,000" in one_line(err) and not out


def test_a_prompt_fed_in_pieces_gives_what_one_call_gives():
    torch.manual_seed(0)
    model = CharLSTM(7, 6, 2, 0.0).eval()
    codes = torch.randint(0, 7, (2 * PROMPT_PIECE + 17,))
    logits, (h, c) = feed(model, codes)
    with torch.no_grad():
        whole, (h1, c1) = model(codes[None])
    torch.testing.assert_close(logits[0, -1], whole[0, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h, h1, atol=1e-5, rtol=1e-5)
    assert logits.shape[1] == 17  # the last piece only: memory of one piece


# --- 8, 9. Interval levels and intervals -----------------------------------------------------------


@pytest.fixture
def prices_csv(tmp_path) -> Path:
    path = tmp_path / "prices.csv"
    price_table(800).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("levels", "message"),
    [(["80", "80.0000001"], r"--levels 80 and 80.0000001 both become the key '80'"),
     (["99.99999999"], r"level 99.99999999 becomes the key '100'"),
     (["95", "1e-300", "1.0000001e-300"], r"both become the key .1e-300.")],
)  # fmt: skip
def test_levels_whose_keys_collide_are_refused(
    tmp_path, prices_csv, capsys, levels, message
):
    argv = ["forecast", "--csv", str(prices_csv), *QUICK, "--levels", *levels,
            "--json", str(tmp_path / "f.json")]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 1 and re.search(message, one_line(err)), err
    assert not (tmp_path / "f.json").exists()


def _forecast(tmp_path: Path, csv: Path, *extra: str) -> list[str]:
    return [
        "forecast",
        "--csv",
        str(csv),
        *QUICK,
        *extra,
        "--json",
        str(tmp_path / "f.json"),
    ]


def _holds(row: dict, model: str, level: str) -> bool:
    return row[f"{model}_lower_{level}"] <= row[model] <= row[f"{model}_upper_{level}"]


def test_intervals_that_leave_out_their_point_are_listed_and_said(
    tmp_path, prices_csv, capsys
):
    code, _, err = run(_forecast(tmp_path, prices_csv, "--levels", "1", "80"), capsys)
    assert code == 0, err
    info = json.loads((tmp_path / "f.json").read_text())
    listed = {
        (e["model"], str(e["level"]), e["step"])
        for e in info["intervals_excluding_point"]
    }
    for row in info["forecasts"]:
        for model in ("lstm", "random_walk"):
            for level in ("1", "80"):
                assert _holds(row, model, level) == (
                    (model, level, row["step"]) not in listed
                )
    assert listed, "a 1% interval of errors that lean one way leaves the point out"
    assert "do not hold their point forecast" in err
    assert "it can exclude the point forecast" in info["interval_method"]


def test_a_constant_price_series_gets_a_sentence_that_makes_sense(tmp_path, capsys):
    frame = price_table(800)
    for column in ("Close", "Adj Close"):
        frame[column] = 30.0
    csv = tmp_path / "flat.csv"
    frame.to_csv(csv, index=False)
    code, out, err = run(_forecast(tmp_path, csv), capsys)
    assert code == 0, err
    verdict = out.splitlines()[-2]
    assert "inf" not in verdict and "significantly worse" not in verdict, verdict
    assert "the price never moved" in verdict and "random walk was exact" in verdict


# --- 10, 11. generate's messages ----------------------------------------------------------------


@pytest.mark.parametrize("temperature", ["1e-320", "5e-324", "1e-3", "1e6"])
def test_a_temperature_out_of_range_is_one_line(capsys, temperature):
    code, out, err = run(["generate", "--temperature", temperature], capsys)
    assert code == 1 and "--temperature must be from 0.01 to 100" in one_line(err)


def test_sample_refuses_a_temperature_whose_logits_overflow():
    model = CharLSTM(3, 4, 1, 0.0)
    from lstm_study.text.vocab import Vocabulary

    vocab = Vocabulary(("a", "b", "c"))
    with pytest.raises(ConfigError, match="too small"):
        sample(model, vocab, "ab", 3, temperature=1e-320)


def _zip_cut_short(path: Path) -> None:
    path.write_bytes(weights.WEIGHTS_PATH.read_bytes()[:100_000])


CORRUPT = {
    "random bytes": lambda p: p.write_bytes(os.urandom(5000)),
    "a text file": lambda p: p.write_text("hello\n"),
    "a zip cut short": _zip_cut_short,
    "a plain pickle": lambda p: p.write_bytes(pickle.dumps({"a": object})),
    "an empty file": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("make", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_weights_file_is_one_line_naming_it(tmp_path, capsys, make):
    path = tmp_path / "w.pt"
    make(path)
    weights.sidecar_path(path).write_text(
        weights.sidecar_path(weights.WEIGHTS_PATH).read_text()
    )  # a record of ours beside it
    code, _, err = run(["generate", "--weights", str(path)], capsys)
    assert code == 1, err
    assert f"{path} is not a model written by train-text" in one_line(err)
    assert "weights_only" not in err


def test_the_record_given_as_the_weights_is_one_line(tmp_path, capsys):
    record = tmp_path / "w.json"
    record.write_text(weights.sidecar_path(weights.WEIGHTS_PATH).read_text())
    code, _, err = run(["generate", "--weights", str(record)], capsys)
    assert code == 1 and "is not a model written by train-text" in one_line(err)


# --- 13, 14. --debug everywhere; usage errors in one line ---------------------------------------


def test_debug_is_accepted_after_the_subcommand(monkeypatch, capsys):
    from lstm_study.data import commands

    def broken(args):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(commands, "run", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["fetch", "MSFT", "--debug"])
    code, _, err = run(["generate", "--debug", "--length", "0"], capsys)
    assert code == 2 and "unrecognized" not in err


@pytest.mark.parametrize(
    ("argv", "names"),
    [(["backtest", "--csv", "x.csv", "--json", "a.json"], "--predictions"),
     (["forecast", "--horizon", "abc"], "--horizon"),
     (["generate", "--length", "abc"], "--length"),
     (["fetch", "MSFT", "--no-such-option"], "--no-such-option"),
     (["no-such-command"], "no-such-command")],
)  # fmt: skip
def test_a_usage_error_is_one_line(capsys, argv, names):
    code, out, err = run(argv, capsys)
    assert code == 2 and not out
    assert names in one_line(err) and "--help" in err and "usage:" not in err


# --- 15. Every output is checked by writing, before any work; all are written or none -----------


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="no /proc")
@pytest.mark.parametrize("unwritable", ["/proc/p.png", "/sys/x.png"])
def test_an_unwritable_output_stops_the_command_before_any_work(
    tmp_path, prices_csv, capsys, unwritable
):
    argv = _forecast(tmp_path, prices_csv, "--plot", unwritable)
    code, _, err = run(argv, capsys)
    assert code == 1 and "cannot write into" in one_line(err), err
    assert not (tmp_path / "f.json").exists()


def test_a_failed_plot_leaves_no_json(tmp_path, prices_csv, capsys, monkeypatch):
    import matplotlib.figure

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", disk_full)
    code, _, err = run(
        _forecast(tmp_path, prices_csv, "--plot", str(tmp_path / "p.png")), capsys
    )
    assert code == 1 and "No space left" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.csv"]


# --- also ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["--help"], ["fetch", "--help"], ["backtest", "--help"]], ids=str
)
def test_help_never_needs_the_data_folder(monkeypatch, capsys, argv):
    monkeypatch.setenv(cache.ENV_DATA_DIR, "~nosuchuser27/x")
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out


def test_a_data_folder_of_a_user_that_does_not_exist_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv(cache.ENV_DATA_DIR, "~nosuchuser27/x")
    code, _, err = run(["fetch", "MSFT", "--source", "cache"], capsys)
    assert code == 1 and "$LSTM_STUDY_DATA_DIR" in one_line(err)
    assert "'nosuchuser27', who does not exist" in err


def test_an_interrupt_during_start_up_names_the_command(monkeypatch, capsys):
    def slow_imports():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", slow_imports)
    code, _, err = run(["backtest", "--csv", "x.csv"], capsys)
    assert code == 130 and err == "lstm-study backtest: interrupted\n"


def test_the_cache_error_speaks_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(tmp_path))
    code, _, err = run(["fetch", "IBM", "--source", "cache"], capsys)
    assert code == 1 and "--source snapshot" in err and "source='" not in err
    code, _, err = run(
        ["backtest", "--ticker", "IBM", "--source", "cache", "--json", str(tmp_path / "a"),
         "--predictions", str(tmp_path / "b"), *QUICK],
        capsys,
    )  # fmt: skip
    assert code == 1 and "--source snapshot" in one_line(err) and "source='" not in err
