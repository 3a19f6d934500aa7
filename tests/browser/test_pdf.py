"""`make pdf`'s script on the built book: one PDF with contents, every chapter, typeset math and
page numbers.

Needs a build (`make book`), Debian's chromium + chromium-driver and a local MathJax
(LSTM_STUDY_MATHJAX, which `make browser-test` sets to the copy it fetches into .cache/mathjax/):
the browser resolves no outside host here, so the formulas could not be typeset from the CDN.
Skips with a message when one is missing, unless LSTM_STUDY_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _words(text: str) -> str:
    """Text with every run of whitespace as one space (PDF text breaks lines anywhere)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def pdf(
    html_root: Path,
    repo_root: Path,
    browser_binaries: tuple[str, str],
    mathjax: bool,
    missing: Callable[[str], None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """Print the built book with scripts/make_pdf.py into a temporary folder; return its reader."""
    if not mathjax:
        missing(
            "no local MathJax to print the book's math: run `make browser-test`, which fetches "
            "one with npm, or set LSTM_STUDY_MATHJAX"
        )
    from pypdf import PdfReader

    out = tmp_path_factory.mktemp("pdf") / "book.pdf"
    chromium, chromedriver = browser_binaries
    env = {**os.environ, "CHROMIUM": chromium, "CHROMEDRIVER": chromedriver}
    script = repo_root / "scripts" / "make_pdf.py"
    done = subprocess.run(
        [sys.executable, str(script), "--html", str(html_root), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"make_pdf.py failed:\n{done.stdout}\n{done.stderr}"
    assert out.exists() and out.stat().st_size > 0, f"make_pdf.py wrote no {out}"
    return PdfReader(out)


def test_pdf_has_every_chapter(pdf: Any, toc: tuple[Any, ...]) -> None:
    """More pages than chapters; the contents and a bookmark name every chapter, whose first page
    carries its title."""
    titles = [re.sub(r"\s+\u2014 A Study on LSTM$", "", page.title) for page in toc]
    assert len(pdf.pages) > len(titles), (
        f"{len(pdf.pages)} pages for {len(titles)} chapters"
    )
    text = _words(" ".join(page.extract_text() for page in pdf.pages))
    missing = [title for title in titles if _words(title) not in text]
    assert not missing, f"chapter titles not in the PDF's text: {missing}"
    contents = _words(pdf.pages[1].extract_text())
    assert contents.startswith("Contents"), (
        f"page 2 is not the table of contents: {contents[:80]}"
    )

    def flatten(items: list[Any]) -> list[Any]:
        return [
            x
            for item in items
            for x in (flatten(item) if isinstance(item, list) else [item])
        ]

    marks = {
        mark.title: pdf.get_destination_page_number(mark)
        for mark in flatten(pdf.outline)
    }
    for title in titles:
        assert title in marks, f"no bookmark for {title!r}: {sorted(marks)}"
        first_page = _words(pdf.pages[marks[title]].extract_text())
        heading = re.sub(
            r"^\d+\.\s+", "", title
        )  # the page shows "3. Long ..." or "Long ..."
        assert _words(heading) in first_page, (
            f"{title!r} not on its first page {marks[title] + 1}"
        )


def test_pdf_has_page_numbers_and_typeset_math(pdf: Any) -> None:
    """Every page but the title page ends with its page number; no formula is left as raw TeX."""
    unnumbered = [
        number
        for number, page in enumerate(pdf.pages, start=1)
        if number > 1 and not re.search(rf"(^|\s){number}\s*$", page.extract_text())
    ]
    assert not unnumbered, (
        f"pages without their page number in the footer: {unnumbered}"
    )
    text = " ".join(page.extract_text() for page in pdf.pages)
    raw = [tex for tex in ("\\(", "\\[", "\\begin{", "$$") if tex in text]
    assert not raw, f"untypeset TeX in the PDF: {raw}"
