"""Print the built book as one PDF: title page, contents, every chapter, page numbers, bookmarks.

    .venv/bin/python scripts/make_pdf.py [--html _build/html] [--out _build/pdf/book.pdf]

`make pdf` runs this after `make book`. Each page of the table of contents (in `_toc.yml` order) is
served on a loopback port and printed by Debian's headless Chromium (`chromium` and
`chromium-driver`, as the browser test uses; CHROMIUM / CHROMEDRIVER point elsewhere) once MathJax
has typeset its formulas; pypdf then joins the pages behind a title page and a table of contents,
stamps page numbers, adds a bookmark per chapter and turns links between chapters into links
inside the PDF. The HTML loads MathJax from a CDN: with LSTM_STUDY_MATHJAX set to a local MathJax 3
package (`npm pack mathjax@3.2.2`, unpacked) the pages use it and nothing leaves the machine;
otherwise the browser fetches MathJax from the CDN (`make pdf` fetches the package with npm into
.cache/mathjax/ and sets LSTM_STUDY_MATHJAX). Exits 2, saying how to install it, when Chromium is
missing; exits 1 with one line saying what to do when a page cannot be printed (MathJax did not
load, a page did not finish loading).
"""

from __future__ import annotations

import argparse
import base64
import functools
import html
import http.server
import io
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"
MATHJAX_LOCAL = "/__mathjax__/"
PAPER = {"paperWidth": 8.27, "paperHeight": 11.69}  # A4, in inches
MARGINS = {"marginTop": 0.7, "marginBottom": 0.8, "marginLeft": 0.7, "marginRight": 0.7}
INSTALL_HINT = (
    "Chromium is needed to print the book: `sudo apt-get install chromium chromium-driver` "
    "(Debian/Ubuntu), or set CHROMIUM and CHROMEDRIVER to a Chrome and its chromedriver."
)

MATHJAX_HINT = (
    "let `make pdf` fetch it into .cache/mathjax/ (it needs npm and npm's registry), or set "
    "LSTM_STUDY_MATHJAX to a local MathJax 3 (`npm pack mathjax@3.2.2 && tar xzf "
    "mathjax-3.2.2.tgz`, then the `package` folder)"
)

# Resolve once the page's formulas are typeset (or at once when it has none). Runs after the load
# event, which waits for the page's MathJax script: a MathJax that has not started 10 s later
# never will (its CDN is unreachable), so give up then instead of waiting longer.
TYPESET_JS = """
const done = arguments[arguments.length - 1];
if (!document.querySelector('.math')) { done('no math'); return; }
const deadline = Date.now() + 10000;
const wait = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
  ? MathJax.startup.promise.then(() => done('typeset'), e => done('failed: ' + e))
  : (Date.now() > deadline ? done('MathJax did not load') : setTimeout(wait, 100));
wait();
"""
IMAGES_JS = "return [...document.images].every(i => i.complete) && document.fonts.status=='loaded'"


class PrintError(Exception):
    """A page of the book could not be printed; the message says what to do."""


class MathJaxError(PrintError):
    """MathJax did not load in a page, or failed to typeset it."""


class PageTimeout(PrintError):
    """A page, its images or its fonts did not finish loading."""


@dataclass(frozen=True)
class Chapter:
    """One page of the table of contents."""

    path: str  # relative to the html root, e.g. "book/03_lstm.html"
    title: str  # as the page's <title> gives it, with its number: "3. Long short-term memory"
    part: str | None  # the caption of the part it belongs to


def toc_chapters(repo: Path, html_root: Path, book_title: str) -> list[Chapter]:
    """The book's pages in `_toc.yml` order, titled as the built pages title themselves."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text(encoding="utf8"))
    entries: list[tuple[str, str | None]] = [(toc["root"], None)]

    def walk(items: list[dict[str, Any]], part: str | None) -> None:
        for item in items:
            if "file" in item:
                entries.append((item["file"], part))
            walk(item.get("sections", []) + item.get("chapters", []), part)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), part.get("caption"))
    walk(toc.get("chapters", []), None)
    chapters = []
    for file, part in entries:
        path = str(Path(file).with_suffix("")) + ".html"
        page = (html_root / path).read_text(encoding="utf8")
        found = re.search(r"<title>(.*?)</title>", page, re.S)
        title = html.unescape(found.group(1)).strip() if found else path
        title = title.removesuffix(f" \N{EM DASH} {book_title}").strip()
        chapters.append(Chapter(path, title, part))
    return chapters


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the build quietly, pages generated here, and (when given) a local MathJax."""

    mathjax: str | None = None
    generated: dict[str, bytes] = {}

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in self.generated:
            self._send(self.generated[path], "text/html; charset=utf-8")
        elif self.mathjax and path.startswith(MATHJAX_LOCAL):
            self.directory = self.mathjax
            self.path = "/" + path[len(MATHJAX_LOCAL) :]
            super().do_GET()
        elif (
            self.mathjax
            and path.endswith(".html")
            and Path(self.translate_path(path)).is_file()
        ):
            body = Path(self.translate_path(path)).read_bytes()
            body = body.replace(MATHJAX_CDN.encode(), MATHJAX_LOCAL.encode())
            self._send(body, "text/html; charset=utf-8")
        else:
            super().do_GET()


@contextmanager
def serve(
    html_root: Path, mathjax: str | None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Serve the build on a free loopback port; yield its address and the generated pages' dict."""
    generated: dict[str, bytes] = {}
    handler_class = type(
        "Handler", (_Handler,), {"mathjax": mathjax, "generated": generated}
    )
    handler = functools.partial(handler_class, directory=str(html_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", generated
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium(offline: bool, console_log: bool = False) -> Iterator[Any]:
    """Headless Chromium through its chromedriver; the browser test starts it here too.

    ``offline`` makes every host but the loopback server fail to resolve; ``console_log``
    keeps the pages' console messages for ``driver.get_log("browser")``.
    """
    os.environ["SE_OFFLINE"] = (
        "true"  # selenium-manager must never fetch a browser or a driver
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="lstm-study-pdf-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = [
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ]
    if offline:  # MathJax is served locally: nothing may come from anywhere but the loopback server
        flags.append("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    for flag in flags:
        options.add_argument(flag)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER), options=options
    )
    browser.set_page_load_timeout(120)
    browser.set_script_timeout(90)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def print_page(driver: Any, url: str, margins: dict[str, float] = MARGINS) -> bytes:
    """Load one page, wait for its formulas, images and fonts, and print it to PDF."""
    driver.get(url)
    page = urlsplit(url).path.lstrip("/")
    deadline = time.monotonic() + 60
    while driver.execute_script("return document.readyState") != "complete":
        if time.monotonic() > deadline:
            raise PageTimeout(f"{page} did not finish loading in 60 s")
        time.sleep(0.1)
    typeset = driver.execute_async_script(TYPESET_JS)
    if typeset == "MathJax did not load":
        source = (
            "its local copy" if MATHJAX_LOCAL in driver.page_source else MATHJAX_CDN
        )
        raise MathJaxError(
            f"MathJax did not load in {page} from {source}: {MATHJAX_HINT}"
        )
    if typeset not in ("typeset", "no math"):
        raise MathJaxError(f"MathJax could not typeset {page} ({typeset})")
    while not driver.execute_script(IMAGES_JS):
        if time.monotonic() > deadline:
            raise PageTimeout(f"{page}: images or fonts did not load in 60 s")
        time.sleep(0.1)
    result = driver.execute_cdp_cmd(
        "Page.printToPDF",
        {**PAPER, **margins, "printBackground": True, "displayHeaderFooter": False},
    )
    return base64.b64decode(result["data"])


PAGE_CSS = """
body { font-family: "DejaVu Sans", sans-serif; color: #222; margin: 0; }
.title { text-align: center; padding-top: 28mm; }
.title img { width: 40mm; }
.title h1 { font-size: 30pt; margin: 14mm 0 4mm; }
.title p { font-size: 13pt; color: #555; margin: 2mm; }
.contents h1 { font-size: 22pt; margin: 0 0 8mm; }
.contents h2 { font-size: 10pt; text-transform: uppercase; letter-spacing: .08em; color: #666;
               margin: 7mm 0 2mm; }
.contents p { display: flex; font-size: 11.5pt; margin: 2.2mm 0; }
.contents .name { flex: 0 1 auto; padding-right: 2mm; }
.contents .dots { flex: 1 1 auto; border-bottom: 1.2px dotted #999; margin-bottom: 1.2mm; }
.contents .page { flex: 0 0 auto; padding-left: 2mm; }
"""


def title_page(book_title: str, author: str) -> str:
    """The title page: the logo, the title, the author and the day it was printed."""
    return (
        f"<!doctype html><meta charset='utf-8'><style>{PAGE_CSS}</style><div class='title'>"
        f"<img src='/_static/logo.svg' alt=''><h1>{html.escape(book_title)}</h1>"
        f"<p>{html.escape(author)}</p><p>Printed from the built book on {date.today():%d %B %Y}</p>"
        "</div>"
    )


def contents_page(chapters: list[Chapter], first_pages: list[int]) -> str:
    """The table of contents: parts as headings, each chapter with the page it starts on."""
    rows, part = [], None
    for chapter, first in zip(chapters, first_pages, strict=True):
        if chapter.part != part and chapter.part:
            rows.append(f"<h2>{html.escape(chapter.part)}</h2>")
        part = chapter.part
        rows.append(
            f"<p><span class='name'>{html.escape(chapter.title)}</span><span class='dots'></span>"
            f"<span class='page'>{first}</span></p>"
        )
    return (
        f"<!doctype html><meta charset='utf-8'><style>{PAGE_CSS}</style>"
        f"<div class='contents'><h1>Contents</h1>{''.join(rows)}</div>"
    )


def footer_pages(labels: list[str | None]) -> str:
    """One A4 sheet per page of the book, blank but for its footer: running title and number."""
    sheets = []
    for number, label in enumerate(labels, start=1):
        footer = (
            f"<span>{html.escape(label)}</span><span>{number}</span>"
            if label is not None
            else ""
        )
        sheets.append(f"<div class='sheet'><div class='foot'>{footer}</div></div>")
    css = (
        "@page { size: A4; margin: 0 } body { margin: 0; font: 8.5pt 'DejaVu Sans', sans-serif;"
        " color: #666 } .sheet { position: relative; height: 296mm; overflow: hidden;"
        " break-after: page } .foot { position: absolute; left: 18mm; right: 18mm; bottom: 9mm;"
        " display: flex; justify-content: space-between; border-top: 0.5px solid #bbb;"
        " padding-top: 1.5mm }"
    )
    return f"<!doctype html><meta charset='utf-8'><style>{css}</style>{''.join(sheets)}"


def _page_count(pdf: bytes) -> int:
    """How many pages a PDF has."""
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def _link_inside(writer: Any, base_url: str, starts: dict[str, int]) -> None:
    """Turn links to the book's own pages into jumps inside the PDF; drop other loopback links."""
    from pypdf.generic import ArrayObject, NameObject

    for page in writer.pages:
        if "/Annots" not in page:
            continue
        kept = ArrayObject()
        for ref in page["/Annots"]:
            annot = ref.get_object()
            uri = str(annot.get("/A", {}).get("/URI", ""))
            if uri.startswith(base_url):
                path = urlsplit(uri).path.lstrip("/")
                if path not in starts:
                    continue
                del annot[NameObject("/A")]
                target = writer.pages[starts[path]].indirect_reference
                annot[NameObject("/Dest")] = ArrayObject([target, NameObject("/Fit")])
            kept.append(ref)
        page[NameObject("/Annots")] = kept


def make_pdf(html_root: Path, out: Path, mathjax: str | None) -> tuple[int, int]:
    """Print the book to `out`; return its page count and the number of chapters."""
    from pypdf import PdfReader, PdfWriter

    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf8"))
    book_title, author = config.get("title", "Book"), config.get("author", "")
    chapters = toc_chapters(REPO, html_root, book_title)
    with (
        serve(html_root, mathjax) as (base_url, generated),
        chromium(bool(mathjax)) as driver,
    ):
        generated["/__title__.html"] = title_page(book_title, author).encode()
        generated["/__contents__.html"] = contents_page(
            chapters, [0] * len(chapters)
        ).encode()
        front = [print_page(driver, base_url + "__title__.html")]
        contents_pages = _page_count(print_page(driver, base_url + "__contents__.html"))
        printed: list[bytes] = []
        for chapter in chapters:
            started = time.monotonic()
            printed.append(print_page(driver, base_url + chapter.path))
            pages = _page_count(printed[-1])
            seconds = time.monotonic() - started
            print(f"  {chapter.title[:60]:60s} {pages:3d} pages  {seconds:4.1f} s")
        counts = [_page_count(pdf) for pdf in printed]
        first = [
            2 + contents_pages + sum(counts[:i]) for i in range(len(counts))
        ]  # 1-based
        generated["/__contents__.html"] = contents_page(chapters, first).encode()
        front.append(print_page(driver, base_url + "__contents__.html"))
        if _page_count(front[-1]) != contents_pages:
            raise RuntimeError("the table of contents changed length once numbered")
        labels: list[str | None] = [None] + ["Contents"] * contents_pages
        for chapter, count in zip(chapters, counts, strict=True):
            running = f"{book_title} \N{EM DASH} {chapter.title}"
            labels += [book_title if chapter.title == book_title else running] * count
        generated["/__footers__.html"] = footer_pages(labels).encode()
        footers = PdfReader(
            io.BytesIO(
                print_page(
                    driver,
                    base_url + "__footers__.html",
                    {
                        "marginTop": 0,
                        "marginBottom": 0,
                        "marginLeft": 0,
                        "marginRight": 0,
                    },
                )
            )
        )

        writer = PdfWriter()
        for pdf in front + printed:
            writer.append(PdfReader(io.BytesIO(pdf)))
        if len(footers.pages) != len(writer.pages):
            raise RuntimeError(
                f"{len(footers.pages)} footers for {len(writer.pages)} pages"
            )
        for page, footer in zip(writer.pages[1:], footers.pages[1:], strict=True):
            page.merge_page(footer)
        parts: dict[str, Any] = {}
        for chapter, start in zip(chapters, first, strict=True):
            parent = None
            if chapter.part:
                if chapter.part not in parts:
                    parts[chapter.part] = writer.add_outline_item(
                        title=chapter.part, page_number=start - 1
                    )
                parent = parts[chapter.part]
            writer.add_outline_item(
                title=chapter.title, page_number=start - 1, parent=parent
            )
        starts = {c.path: s - 1 for c, s in zip(chapters, first, strict=True)}
        _link_inside(writer, base_url, starts)
    writer.add_metadata({"/Title": book_title, "/Author": author})
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".pdf.tmp")
    with partial.open("wb") as handle:
        writer.write(handle)
    partial.replace(out)
    return len(writer.pages), len(chapters)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, check for Chromium and the build, and print the book."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--html", type=Path, default=REPO / "_build" / "html", help="built book"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "_build" / "pdf" / "book.pdf"
    )
    parser.add_argument(
        "--mathjax",
        default=os.environ.get("LSTM_STUDY_MATHJAX"),
        help="a local MathJax 3 package folder (default: $LSTM_STUDY_MATHJAX, else the CDN)",
    )
    args = parser.parse_args(argv)
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not (Path(exe).exists() or shutil.which(exe)):
            print(f"error: {exe} not found. {INSTALL_HINT}", file=sys.stderr)
            return 2
    if not (args.html / "index.html").exists():
        print(
            f"error: no built book at {args.html}: run `make book` first",
            file=sys.stderr,
        )
        return 2
    if args.mathjax and not (Path(args.mathjax) / "es5" / "tex-mml-chtml.js").exists():
        print(f"error: {args.mathjax} holds no es5/tex-mml-chtml.js", file=sys.stderr)
        return 2
    started = time.monotonic()
    source = (
        f"local MathJax {args.mathjax}"
        if args.mathjax
        else f"MathJax from {MATHJAX_CDN}"
    )
    print(f"printing {args.html} with headless Chromium ({source})")
    try:
        pages, chapters = make_pdf(args.html.resolve(), args.out, args.mathjax)
    except PrintError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = args.out.stat().st_size / 1e6
    print(
        f"{args.out}: {pages} pages, {chapters} chapters, {size:.1f} MB, "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
