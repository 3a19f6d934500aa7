"""Serve an already built book on a loopback port and drive Debian's headless Chromium over it.

Builds nothing: run `make book` first (or point LSTM_STUDY_HTML at another build). Skips with a
message when the build or the browser is missing, unless LSTM_STUDY_REQUIRE_BROWSER=1 (set by CI),
in which case a missing piece is an error rather than a silent skip.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parents[2]
HTML_ROOT = Path(os.environ.get("LSTM_STUDY_HTML", "_build/html"))
HTML_ROOT = HTML_ROOT if HTML_ROOT.is_absolute() else REPO / HTML_ROOT
SCREENSHOTS = Path(os.environ.get("LSTM_STUDY_SCREENSHOTS", "_build/screenshots"))
SCREENSHOTS = SCREENSHOTS if SCREENSHOTS.is_absolute() else REPO / SCREENSHOTS
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRED = os.environ.get("LSTM_STUDY_REQUIRE_BROWSER") == "1"
# Optional: a MathJax 3 package folder (`npm pack mathjax@3.2.2`, unpacked) to typeset the math
# offline. The book loads MathJax from this CDN address; the test server serves the local copy there.
MATHJAX = os.environ.get("LSTM_STUDY_MATHJAX")
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"
MATHJAX_LOCAL = "/__mathjax__/"


@dataclass(frozen=True)
class Page:
    """One page of the table of contents, in reading order."""

    index: int
    path: str  # relative to the html root, e.g. "book/03_lstm.html"
    title: str
    is_notebook: (
        bool  # built from an .ipynb: must offer launch buttons and the .ipynb download
    )


def numbered_chapters(repo: Path = REPO) -> dict[str, int]:
    """The chapters of `_toc.yml`'s `numbered: true` parts, as built pages ("book/03_lstm.html"),
    each with its place among them in reading order (1, 2, ...): the number the book must show for
    it and the number its file name must start with. Parts count on from the one before."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text(encoding="utf8"))
    files = [
        chapter["file"]
        for part in toc.get("parts", [])
        if part.get("numbered")
        for chapter in part.get("chapters", [])
    ]
    return {f"{file}.html": place for place, file in enumerate(files, start=1)}


def _missing(reason: str) -> None:
    """Skip, or fail when CI demands the browser test actually run."""
    if REQUIRED:
        pytest.fail(f"{reason} (LSTM_STUDY_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def toc_pages(root: Path = HTML_ROOT) -> tuple[Page, ...]:
    """The built book's pages in the order of its table of contents (root page first)."""
    index = root / "index.html"
    if not index.exists():
        return ()
    redirect = BeautifulSoup(index.read_text(encoding="utf8"), "html.parser").find(
        "meta", attrs={"http-equiv": "Refresh"}
    )
    first = redirect["content"].split("url=", 1)[1] if redirect else "index.html"
    soup = BeautifulSoup((root / first).read_text(encoding="utf8"), "html.parser")
    paths = [first]
    for link in soup.select("nav.bd-docs-nav a.reference.internal"):
        href = urlsplit(urljoin(first, link["href"])).path
        if href and href not in paths:
            paths.append(href)
    pages = []
    for i, path in enumerate(paths):
        page = BeautifulSoup((root / path).read_text(encoding="utf8"), "html.parser")
        title = page.title.get_text(strip=True) if page.title else path
        source = (root / "_sources" / path).with_suffix(".ipynb")
        pages.append(Page(i, path, title, source.exists()))
    return tuple(pages)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `page` over the table of contents of the built book."""
    if "page" in metafunc.fixturenames:
        pages = toc_pages() or (None,)
        ids = [p.path if p else "no-build" for p in pages]
        metafunc.parametrize("page", pages, ids=ids, indirect=True)


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Page:
    """The page under test; skips when there is no build."""
    if request.param is None:
        _missing(f"no built book at {HTML_ROOT}: run `make book` first")
    return request.param


@pytest.fixture(scope="session")
def missing() -> Callable[[str], None]:
    """Skip with a reason, or fail when LSTM_STUDY_REQUIRE_BROWSER=1 (for tests in other files)."""
    return _missing


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository the book was built from."""
    return REPO


@pytest.fixture(scope="session")
def chapter_numbers() -> dict[str, int]:
    """Each numbered chapter's page with the number it must show (see `numbered_chapters`)."""
    return numbered_chapters()


@pytest.fixture(scope="session")
def toc(html_root: Path) -> tuple[Page, ...]:
    """Every page of the table of contents, in reading order."""
    return toc_pages(html_root)


@pytest.fixture(scope="session")
def html_root() -> Path:
    """The built book's folder, or a skip that says how to build it."""
    if not (HTML_ROOT / "index.html").exists():
        _missing(f"no built book at {HTML_ROOT}: run `make book` first")
    return HTML_ROOT


class _BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the build quietly; with LSTM_STUDY_MATHJAX, points pages at the local MathJax."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if MATHJAX and path.startswith(MATHJAX_LOCAL):
            self.directory = MATHJAX
            self.path = "/" + path[len(MATHJAX_LOCAL) :]
        elif MATHJAX and path.endswith(".html"):
            file = Path(self.translate_path(path))
            if file.is_file():
                body = file.read_bytes().replace(
                    MATHJAX_CDN.encode(), MATHJAX_LOCAL.encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        super().do_GET()


@pytest.fixture(scope="session")
def base_url(html_root: Path) -> Iterator[str]:
    """Serve the build over http on a free loopback port for the whole session."""
    handler = functools.partial(_BookHandler, directory=str(html_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def mathjax() -> bool:
    """Whether pages get a local MathJax, so the test can check that the math typesets."""
    if MATHJAX and not (Path(MATHJAX) / "es5" / "tex-mml-chtml.js").exists():
        pytest.fail(
            f"LSTM_STUDY_MATHJAX={MATHJAX} holds no es5/tex-mml-chtml.js", pytrace=False
        )
    return bool(MATHJAX)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where each page's screenshot goes (a test artifact; _build/ is git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    """Chromium and its chromedriver, or a skip that says how to install them."""
    for exe, name in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromedriver")):
        if not (Path(exe).exists() or shutil.which(exe)):
            _missing(
                f"{name} not found at {exe}: `apt-get install chromium chromium-driver` "
                "(or set CHROMIUM / CHROMEDRIVER)"
            )
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def driver(html_root: Path, browser_binaries: tuple[str, str]) -> Iterator[object]:
    """Debian's headless Chromium through its own chromedriver; nothing is ever downloaded.

    Started by ``scripts/make_pdf.py``'s ``chromium``, so the PDF and the test read the book with
    one browser set-up. Offline: every host but the loopback server fails to resolve, so a page
    that pulls something from the internet fails the same way here, online or not.
    """
    with _make_pdf().chromium(offline=True, console_log=True) as browser:
        yield browser


def _make_pdf():
    """``scripts/make_pdf.py`` as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "make_pdf", REPO / "scripts" / "make_pdf.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
