"""Score the shipped character LSTM on every test character, both ways; commit the bits.

    python scripts/score_shipped.py [--output PATH] [--threads N]

Writes ``lstm_study/text/weights/char_lstm_test_bits.npz`` (:mod:`lstm_study.text.test_bits`):
the bits of every test character with the state carried across windows and with it reset at
each window, in half precision, with the weights' sha256, the machine, the time and this
command; and the model's bits per character on all of the validation plays, scored as the
record scores the test plays (the score that chooses between full runs). Run it again
whenever the shipped weights change; the chapter refuses stale bits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

import torch

from lstm_study.machine import cpu_description
from lstm_study.text.corpus import load_corpus
from lstm_study.text.model import bits_per_character
from lstm_study.text.test_bits import BITS_PATH, score, write
from lstm_study.text.vocab import Vocabulary
from lstm_study.text.weights import (
    EVAL_BATCH,
    EVAL_WINDOW,
    WEIGHTS_PATH,
    load_model,
    sha256,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=BITS_PATH)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    shipped = load_model()
    vocab = Vocabulary.build(load_corpus("train"), min_count=20)
    codes = vocab.encode(load_corpus("test"))
    started, began = dt.datetime.now(dt.UTC), time.perf_counter()
    bits = score(shipped.model, codes)
    info = {
        "command": shlex.join(["python", "scripts/score_shipped.py", *sys.argv[1:]]),
        "weights_sha256": sha256(WEIGHTS_PATH),
        "machine": cpu_description()["name"],
        "threads": args.threads,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - began, 1),
        "bpc": {mode: float(values.mean()) for mode, values in bits.items()},
        "valid_bpc": bits_per_character(
            shipped.model,
            vocab.encode(load_corpus("valid")),
            batch_size=EVAL_BATCH,
            window=EVAL_WINDOW,
        ),
    }
    write(args.output, bits, info)
    print(
        f"wrote {args.output}: test {info['bpc']}, {info['seconds']} s; "
        f"all of the validation plays {info['valid_bpc']:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
