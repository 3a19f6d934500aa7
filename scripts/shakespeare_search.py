"""Choose the shipped Shakespeare LSTM's shape and schedule on the validation plays.

    python scripts/shakespeare_search.py [--work DIR] [--steps N]

Each candidate is a short ``lstm-study train-text`` run (the same command that trains the
shipped model, with fewer steps), scored on all of the validation plays. The test plays
choose nothing: the candidates' test scores are not kept. A finished candidate is skipped
when the script starts again, and one cut short goes on from its checkpoint, so the search
resumes. The summary goes to ``lstm_study/text/weights/search.json``: the candidates, their
validation curves and scores, the one chosen, the machine and the time.

A pilot of a few hundred steps cannot judge everything the full run does: it sees less than
half a pass over the training plays, so it cannot say how much dropout a five-pass run
needs (dropout only pays once a model starts to overfit). The search therefore chooses the
width and depth, and the schedule, at one dropout; the chapter says so. A schedule that
decays over the whole run (cosine) is judged at the pilot's length, where decaying early
costs more than it can give back; warm-up-stable-decay decays only at the end, whatever the
length, so its pilot is closer to what it does in the full run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import torch

from lstm_study.cli import main as lstm_study
from lstm_study.files import write_atomically
from lstm_study.machine import cpu_description
from lstm_study.text.commands import checkpoint_path
from lstm_study.text.corpus import load_corpus
from lstm_study.text.model import bits_per_character
from lstm_study.text.weights import (
    EVAL_BATCH,
    EVAL_WINDOW,
    SEARCH_PATH,
    load_model,
    sidecar_path,
)

#: what every candidate shares (the full run takes the same, with more steps)
COMMON = {"--batch-size": "32", "--window": "128", "--lr": "0.003", "--dropout": "0.25",
          "--warmup": "20", "--seed": "0", "--threads": "1"}  # fmt: skip
#: the candidates: two shapes of about 3 million weights, each with two schedules; then a
#: third schedule, warm-up-stable-decay, for the shape that won (the other lost by 0.45 bpc
#: or more with both schedules, so it was not run again)
CANDIDATES = {
    f"{shape} {schedule}": {"--hidden-size": size, "--layers": layers, "--schedule": schedule}
    for shape, (size, layers) in {"2 x 512": ("512", "2"), "3 x 384": ("384", "3")}.items()
    for schedule in ("constant", "cosine")
} | {"2 x 512 wsd": {"--hidden-size": "512", "--layers": "2", "--schedule": "wsd"}}  # fmt: skip


def run_candidate(work: Path, name: str, options: dict[str, str], steps: int) -> Path:
    """Train one candidate with train-text unless it is done; return its weights."""
    output = work / (name.replace(" ", "_") + ".pt")
    if sidecar_path(output).exists():
        return output
    argv = ["train-text", "--output", str(output), "--steps", str(steps),
            "--eval-every", str(steps // 5), "--checkpoint-every", str(steps // 5)]  # fmt: skip
    for option, value in {**COMMON, **options}.items():
        argv += [option, value]
    if checkpoint_path(output).exists():
        argv.append("--resume")
    if lstm_study(argv) != 0:
        raise SystemExit(f"the candidate {name} failed: {' '.join(argv)}")
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(".cache/shakespeare_search"))
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    # score with the threads the candidates trained with: more threads than the machine can
    # spare wait on each other (on a busy 2-core machine, scoring took ten times as long)
    torch.set_num_threads(int(COMMON["--threads"]))
    began = time.time()
    valid = None
    results = {}
    for name, options in CANDIDATES.items():
        print(f"candidate {name}", flush=True)
        shipped = load_model(run_candidate(args.work, name, options, args.steps))
        if valid is None:
            valid = shipped.vocab.encode(load_corpus("valid"))
        info = shipped.info
        results[name] = {
            "command": info["command"],
            "valid_bpc": bits_per_character(
                shipped.model, valid, batch_size=EVAL_BATCH, window=EVAL_WINDOW
            ),
            "curve": info["curve"],
            "training_seconds": info["training_seconds"],
            "characters_trained": info["characters_trained"],
            "date": info["date"],
        }
        print(f"  validation bits per character {results[name]['valid_bpc']:.4f}")
    chosen = min(results, key=lambda name: results[name]["valid_bpc"])
    summary = {
        "what": "pilot runs of train-text that choose the shipped model's shape and "
        "schedule on all of the validation plays",
        "command": f"python scripts/shakespeare_search.py --steps {args.steps}",
        "cpu": cpu_description(),
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds_this_session": round(time.time() - began, 1),
        "common": COMMON,
        "candidates": results,
        "chosen": chosen,
    }
    write_atomically(SEARCH_PATH, json.dumps(summary, indent=1) + "\n", "the search")
    print(f"chosen: {chosen}; wrote {SEARCH_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
