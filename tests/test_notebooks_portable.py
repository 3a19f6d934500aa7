"""The chapters hold on every machine: what nbval checks and what the chapters assert must not depend on the CPU.

Another processor runs other vector kernels and sums floats in another order, so a checked
output prints only rounded figures and verdicts, never a glued value at full precision; and
a timing, or a relation between two timings, is measured and described but never asserted.
CI also runs every chapter under nbval with ``ATEN_CPU_CAPABILITY=default`` (``.ci/run``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
#: calls that time something: a cell that makes them prints figures no other machine reproduces
TIMING_CALLS = ("benchmark.Timer", "run_benchmark(", "time_candidate_forms(", "candidate_timing(", "perf_counter",
                "blocked_autorange", "time_steps(", "process_time")  # fmt: skip
#: names under which the chapters keep timings; an assert that mentions one asserts a timing
TIMING_NAMES = re.compile(r"\b(cost|timings|arrangements|forms|measured|\w*_ms|\w*seconds|\w*penalty|\w*_ratio_to_torch"
                          r"|fused_ratio|readable_ratio|tanh_over_sigmoid)\b")  # fmt: skip


def _code_cells(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        (n, "".join(cell["source"]))
        for n, cell in enumerate(cells)
        if cell["cell_type"] == "code"
    ]


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_checked_cells_glue_nothing_and_time_nothing(path):
    for n, source in _code_cells(path):
        if "NBVAL_CHECK_OUTPUT" not in source:
            continue
        assert "glue(" not in source, (
            f"cell {n}: a glued value would be compared to all its digits; glue elsewhere"
        )
        timing = [call for call in TIMING_CALLS if call in source]
        assert not timing, f"cell {n}: a checked cell must not time anything ({timing})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_cells_that_time_are_not_checked_and_no_assert_mentions_a_timing(path):
    for n, source in _code_cells(path):
        if any(call in source for call in TIMING_CALLS):
            assert "NBVAL_CHECK_OUTPUT" not in source, (
                f"cell {n} times something and is checked"
            )
        for line in source.splitlines():
            statement = line.split("#")[0].strip()  # a comment may say "measured"
            if statement.startswith("assert "):
                assert not TIMING_NAMES.search(statement), (
                    f"cell {n} asserts a timing: {statement}"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_glued_numbers_are_plain_python_numbers(path):
    """A NumPy scalar glues as 'np.float64(…)', which the book's {glue:text}`x:.2f` cannot
    format: the build warns, and `make book` (-W) fails. Glue float(x) or int(x)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for n, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get("application/papermill.record/text/plain")
            if name and isinstance(text, str):
                assert not re.match(r"np\.\w+\(", text), f"cell {n}: {name} = {text}"
