"""A local MathJax for `make pdf` and `make browser-test`, and what happens without one.

The Makefile's `mathjax` target runs here with a fake `npm` (or none) on PATH, so nothing is
fetched: it fills the cache from the tarball npm hands it, re-uses the cache without asking npm
again, leaves nothing behind when npm fails, hands over a broken tarball or is interrupted, and
says so in one line. The last test (marked browser) prints pages whose MathJax cannot load: make_pdf.py must
stop with one line saying what to do, not a traceback.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
VERSION = "3.2.2"
# What the recipe (and the fake npm) call: a PATH of these alone has no npm on it.
TOOLS = ("bash", "mkdir", "mktemp", "rm", "tar", "gzip", "mv", "head", "cp", "sleep")

# A stand-in for npm: logs its arguments, then behaves as $FAKE_NPM says.
FAKE_NPM = textwrap.dedent(
    """\
    #!/bin/sh
    echo "$*" >> "$FAKE_NPM_LOG"
    case "$FAKE_NPM" in
      fail) echo "npm error code ENOTFOUND" >&2; echo "npm error more" >&2; exit 1 ;;
      broken) head -c 100 "$FAKE_NPM_TARBALL" > mathjax-3.2.2.tgz; echo mathjax-3.2.2.tgz ;;
      ok) cp "$FAKE_NPM_TARBALL" mathjax-3.2.2.tgz; echo mathjax-3.2.2.tgz ;;
      hang) head -c 100 "$FAKE_NPM_TARBALL" > mathjax-3.2.2.tgz; sleep 60 ;;
    esac
    """
)

pytestmark = pytest.mark.skipif(MAKE is None, reason="needs GNU make")


def _tools_bin(where: Path) -> Path:
    """A folder of links to the tools the recipe uses, and nothing else (no npm)."""
    where.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} not found"
        (where / tool).symlink_to(found)
    return where


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, Path]:
    """A tarball shaped like npm's mathjax package, a fake npm beside the tools, and a log."""
    package = tmp_path / "src" / "package"
    (package / "es5").mkdir(parents=True)
    (package / "es5" / "tex-mml-chtml.js").write_text("window.MathJax = {};\n")
    (package / "README.md").write_text("# MathJax\n")
    tarball = tmp_path / "mathjax.tgz"
    subprocess.run(
        ["tar", "-czf", str(tarball), "-C", str(package.parent), "package"], check=True
    )
    tools = _tools_bin(tmp_path / "tools")
    npm_bin = tmp_path / "npm_bin"
    npm_bin.mkdir()
    (npm_bin / "npm").write_text(FAKE_NPM)
    (npm_bin / "npm").chmod(0o755)
    return {
        "tarball": tarball,
        "tools": tools,
        "npm_bin": npm_bin,
        "log": tmp_path / "npm.log",
        "cache": tmp_path / "cache",
    }


def _make_args(fake: dict[str, Path], npm: str | None) -> dict[str, Any]:
    """Command and environment of `make mathjax` into the fake cache (npm None: no npm)."""
    path = str(fake["tools"])
    if npm is not None:
        path = f"{fake['npm_bin']}:{path}"
    env = {
        "PATH": path,
        "HOME": str(fake["cache"].parent),
        "FAKE_NPM": npm or "",
        "FAKE_NPM_LOG": str(fake["log"]),
        "FAKE_NPM_TARBALL": str(fake["tarball"]),
    }
    command = [MAKE, "-s", "--no-print-directory", "-C", str(REPO), "mathjax"]
    return {"args": command + [f"MATHJAX_CACHE={fake['cache']}"], "env": env}


def _make_mathjax(
    fake: dict[str, Path], npm: str | None
) -> subprocess.CompletedProcess[str]:
    """Run `make mathjax` into the fake cache to the end."""
    return subprocess.run(
        **_make_args(fake, npm),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _default_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM back to their default actions."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def _npm_calls(fake: dict[str, Path]) -> int:
    """How many times the fake npm ran."""
    log = fake["log"]
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_fetch_fills_the_cache_once_and_reuses_it(fake: dict[str, Path]) -> None:
    """npm's tarball lands unpacked in the cache (no README.md for Sphinx to read as a page),
    with no temporary folder left; a second run finds it and asks npm nothing."""
    done = _make_mathjax(fake, "ok")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"fetched MathJax {VERSION} with npm into {fake['cache']}/{VERSION}"
    )
    cached = fake["cache"] / VERSION
    assert (cached / "es5" / "tex-mml-chtml.js").is_file()
    assert not list(cached.rglob("*.md")), "the cache holds a page for Sphinx to read"
    assert [p.name for p in fake["cache"].iterdir()] == [VERSION]
    assert _npm_calls(fake) == 1 and f"mathjax@{VERSION}" in fake["log"].read_text()

    again = _make_mathjax(fake, "ok")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert _npm_calls(fake) == 1, "npm ran again although the cache was there"


@pytest.mark.parametrize("npm", ["fail", "broken"])
def test_failed_fetch_leaves_no_cache_and_says_so(
    fake: dict[str, Path], npm: str
) -> None:
    """npm failing, or handing over a cut-off tarball, leaves the cache folder empty (no half
    cache, no temporary folder) and prints one line; make goes on (the CDN may still work)."""
    done = _make_mathjax(fake, npm)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("could not fetch MathJax with npm")
    assert "CDN" in lines[0]
    if npm == "fail":
        assert "(npm error code ENOTFOUND)" in lines[0]
    assert list(fake["cache"].iterdir()) == [], "a failed fetch left files behind"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_interrupted_fetch_leaves_no_cache(
    fake: dict[str, Path], stop: signal.Signals
) -> None:
    """make stopped (Ctrl-C, or killed) while npm downloads: nothing stays behind."""
    make = subprocess.Popen(
        **_make_args(fake, "hang"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # a shell cannot catch a signal ignored when it starts: give make the defaults, whatever
        # an earlier test (or the terminal running pytest) left this process with
        preexec_fn=_default_signals,
    )
    try:
        deadline = time.monotonic() + 30
        while _npm_calls(fake) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _npm_calls(fake) == 1, "the fake npm never ran"
        assert len(list(fake["cache"].iterdir())) == 1  # the fetch's own folder
        os.killpg(make.pid, stop)
        assert make.wait(timeout=30) != 0
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    assert list(fake["cache"].iterdir()) == [], "an interrupted fetch left files behind"


def test_no_npm_says_what_to_do(fake: dict[str, Path]) -> None:
    """Without npm nothing is fetched and one line names npm and LSTM_STUDY_MATHJAX."""
    done = _make_mathjax(fake, None)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("npm not found")
    assert "LSTM_STUDY_MATHJAX" in lines[0]
    assert not fake["cache"].exists()


def test_a_given_mathjax_is_used_as_it_is(fake: dict[str, Path]) -> None:
    """LSTM_STUDY_MATHJAX set: npm is never asked."""
    env = {**os.environ, "PATH": f"{fake['npm_bin']}:{fake['tools']}"}
    env.update(
        LSTM_STUDY_MATHJAX="/somewhere",
        FAKE_NPM="ok",
        FAKE_NPM_LOG=str(fake["log"]),
        FAKE_NPM_TARBALL=str(fake["tarball"]),
    )
    done = subprocess.run(
        [MAKE, "-s", "--no-print-directory", "-C", str(REPO), "mathjax"]
        + [f"MATHJAX_CACHE={fake['cache']}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "")
    assert _npm_calls(fake) == 0 and not fake["cache"].exists()


# A page with a formula whose MathJax cannot load: nothing listens on port 1 of the loopback.
DEAD_MATHJAX_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
    "<script async src='http://127.0.0.1:1/es5/tex-mml-chtml.js'></script></head>"
    "<body><p>A formula: <span class='math'>\\(x^2\\)</span></p></body></html>"
)


@pytest.mark.browser
def test_make_pdf_without_mathjax_stops_in_one_line(
    tmp_path: Path, browser_binaries: tuple[str, str]
) -> None:
    """make_pdf.py, given no local MathJax and pages that cannot load one, exits 1 with one line
    on stderr that says what to do, and writes no PDF."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"]] + [
        c["file"] for part in toc["parts"] for c in part["chapters"]
    ]
    html = tmp_path / "html"
    for number, file in enumerate(files):
        page = html / f"{file}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(DEAD_MATHJAX_PAGE.format(title=f"Page {number}"))
    (html / "index.html").write_text("<!doctype html><title>index</title>")
    out = tmp_path / "pdf" / "book.pdf"
    chromium, chromedriver = browser_binaries
    env = {**os.environ, "CHROMIUM": chromium, "CHROMEDRIVER": chromedriver}
    env.pop("LSTM_STUDY_MATHJAX", None)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_pdf.py")]
        + ["--html", str(html), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: MathJax did not load in book/intro.html")
    assert "make pdf" in lines[0] and "LSTM_STUDY_MATHJAX" in lines[0]
    assert not out.exists() and not out.with_suffix(".pdf.tmp").exists()
