"""The built book, read in real headless Chromium: every page of the table of contents.

Needs a build (`make book`) and Debian's chromium + chromium-driver; `make browser-test` runs this
after building. Screenshots of every page land in _build/screenshots/ (LSTM_STUDY_SCREENSHOTS).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.browser

# The only thing a page may load from outside the book: MathJax, which Sphinx takes from a CDN.
# The browser resolves no host but the loopback server (see conftest), so this load fails here and
# its console error is expected, unless LSTM_STUDY_MATHJAX gives a local copy (then the math is
# typeset and checked for MathJax errors); without it the TeX source is checked in the page.
EXPECTED_EXTERNAL = ("https://cdn.jsdelivr.net/npm/mathjax@3/",)
LSTM_CHAPTER = "book/03_lstm.html"
MAX_VISIBLE_OUTPUT_LINES = (
    40  # longer logs belong behind `hide-output`, or printed shorter
)
# Pages with code cells wider than their box (see test_code_fits_its_box); drop a page once it fits.
FACTS_JS = r"""
const art = document.querySelector('article.bd-article') || document.body;
// An output inside a closed <details> (hide-output) is collapsed: Chromium still gives it a size.
const shown = el => !el.closest('details:not([open])') && !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
const artWidth = art.getBoundingClientRect().width;
const text = el => el ? el.textContent.trim() : '';
// Where a reader finds an element: the first line of its cell's code, else the section heading.
const where = el => {
  const cell = el.closest('div.cell');
  const code = cell && cell.querySelector('div.cell_input pre');
  const first = code && code.textContent.split('\n').find(l => l.trim() && !l.startsWith('#'));
  if (first) return 'cell: ' + first.trim().slice(0, 70);
  const section = el.closest('section');
  const heading = section && section.querySelector('h1, h2, h3');
  return 'section: ' + (heading ? heading.textContent.replace('#', '').trim() : '?');
};
return {
  images: [...art.querySelectorAll('img')].map(img => ({
    src: img.getAttribute('src') || '', complete: img.complete, naturalWidth: img.naturalWidth,
    alt: (img.getAttribute('alt') || '').trim(),
    caption: text(img.closest('figure') && img.closest('figure').querySelector('figcaption')),
    shownWidth: Math.round(img.getBoundingClientRect().width), where: where(img)})),
  launch: [...document.querySelectorAll('.dropdown-launch-buttons a')].map(
    a => ({text: a.textContent.trim(), href: a.href})),
  downloads: [...document.querySelectorAll('.dropdown-download-buttons a')].map(
    a => ({text: a.textContent.trim(), href: a.href})),
  outputs: [...art.querySelectorAll('div.cell_output pre')].filter(shown).map(
    pre => ({lines: pre.textContent.trimEnd().split('\n').length, where: where(pre),
             wide: pre.scrollWidth > pre.clientWidth + 1})),
  wideTables: [...art.querySelectorAll('table')].filter(shown)
    .filter(t => t.getBoundingClientRect().width > artWidth + 1)
    .map(t => ({width: Math.round(t.getBoundingClientRect().width), head: t.textContent.trim().slice(0, 80)})),
  // Code that scrolls sideways in its box: its longest line, and how many columns the box shows.
  wideCode: [...art.querySelectorAll('div.cell_input pre, div.highlight pre')]
    .filter(pre => !pre.closest('div.cell_output')).filter(shown)
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1).map(pre => {
      const lines = pre.textContent.split('\n');
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      const style = getComputedStyle(pre);
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = style.fontSize + ' ' + style.fontFamily;
      const pad = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
      const columns = Math.floor((pre.clientWidth - pad) / ctx.measureText('0').width);
      return {where: where(pre), longest: longest, columns: columns};
    }),
  icons: [...document.querySelectorAll('link[rel~="icon"]')].map(l => l.href),
  logos: [...document.querySelectorAll('.navbar-brand img')].filter(
    img => !!(img.offsetWidth || img.offsetHeight)).map(
    img => ({src: img.src, complete: img.complete, naturalWidth: img.naturalWidth})),
  pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  articleWidth: Math.round(artWidth),
  mathElements: art.querySelectorAll('.math').length,
  mathTex: [...art.querySelectorAll('.math')].filter(m => /\\\(|\\\[|mjx-container/.test(m.innerHTML)).length,
  mathTypeset: [...art.querySelectorAll('.math')].filter(m => m.querySelector('mjx-container')).length,
  // A TeX error is an merror; an undefined macro is typeset as red text (MathJax's noundefined).
  mathErrors: [...art.querySelectorAll('mjx-merror')].map(
    e => (e.getAttribute('data-mjx-error') || e.textContent) + ' in ' + where(e)).concat(
    [...art.querySelectorAll('mjx-mtext[style*="color: red"]')].map(e => 'undefined macro ' +
      text(e.closest('mjx-container').querySelector('mjx-assistive-mml')) + ' in ' + where(e))),
  mathjaxScript: [...document.scripts].map(s => s.src).filter(src => /mathjax/i.test(src)),
  equations: [...art.querySelectorAll('div.math[id^="equation-"]')].map(
    d => ({id: d.id, number: text(d.querySelector('.eqno'))})),
  equationRefs: [...art.querySelectorAll('a[href*="#equation-"]')].filter(
    a => !a.classList.contains('headerlink')).map(a => ({href: a.href, text: a.textContent.trim()})),
  unresolved: art.textContent.includes('???'),
  // The numbers a reader sees for the chapter: window title, headings, figure and exercise
  // captions (equations above), and the sidebar's entries (links to pages, not to sections).
  title: document.title,
  headingNumbers: [...art.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(
    h => h.querySelector(':scope > .section-number')).filter(s => s).map(s => s.textContent.trim()),
  captionNumbers: [...art.querySelectorAll('.caption-number')].map(s => s.textContent.trim()),
  nav: [...document.querySelectorAll('nav.bd-docs-nav a.reference.internal')].filter(a => !a.hash)
    .map(a => ({path: new URL(a.href).pathname.replace(/^\//, ''), text: a.textContent.trim()})),
};
"""

_REPORTS: dict[str, dict[str, Any]] = {}

TYPESET_JS = """
const done = arguments[arguments.length - 1];
if (!document.querySelector('.math')) { done('no math'); return; }
const wait = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
  ? MathJax.startup.promise.then(() => done('typeset'), e => done('failed: ' + e))
  : setTimeout(wait, 50);
wait();
"""


def _wait_loaded(driver: Any) -> None:
    """Wait for the load event, then a moment for deferred scripts to report errors."""
    deadline = time.monotonic() + 30
    while driver.execute_script("return document.readyState") != "complete":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{driver.current_url} did not finish loading in 30 s")
        time.sleep(0.1)
    time.sleep(0.5)


def _screenshot(driver: Any, path: Path) -> None:
    """Save the whole page as a reader at a 1280-pixel-wide window would scroll through it."""
    height = min(
        driver.execute_script("return document.documentElement.scrollHeight"), 16000
    )
    width = driver.execute_script("return window.innerWidth")
    # A window as tall as the page: the theme lays out as usual (capturing beyond the viewport
    # instead shifts the sidebars), and the sticky header and sidebars appear once.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        time.sleep(0.3)
        path.write_bytes(driver.get_screenshot_as_png())
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture
def report(
    page: Any, driver: Any, base_url: str, screenshot_dir: Path, mathjax: bool
) -> dict[str, Any]:
    """Load the page once, screenshot it, and collect what the tests below check."""
    if page.path not in _REPORTS:
        driver.get_log("browser")  # drop what earlier pages logged
        driver.get(base_url + page.path)
        _wait_loaded(driver)
        typeset = (
            driver.execute_async_script(TYPESET_JS) if mathjax else "no MathJax here"
        )
        facts = driver.execute_script(FACTS_JS)
        facts["typeset"] = typeset
        facts["console"] = driver.get_log("browser")
        _screenshot(
            driver, screenshot_dir / f"{page.index:02d}-{Path(page.path).stem}.png"
        )
        _REPORTS[page.path] = facts
    return _REPORTS[page.path]


def _is_expected_failure(entry: dict[str, Any], mathjax: bool) -> bool:
    """The failed load of MathJax from its CDN when no local copy stands in for it (the browser
    here resolves no outside host). Nothing else: the book declares its favicon, so the browser
    no longer asks for a missing /favicon.ico."""
    return (
        not mathjax
        and entry.get("source") == "network"
        and entry["message"].startswith(EXPECTED_EXTERNAL)
    )


def test_no_console_errors(page: Any, report: dict[str, Any], mathjax: bool) -> None:
    """The page loads with no console error at all (but MathJax's CDN when it is not local)."""
    errors = [
        e["message"]
        for e in report["console"]
        if e["level"] == "SEVERE" and not _is_expected_failure(e, mathjax)
    ]
    assert not errors, f"{page.path}: console errors:\n" + "\n".join(errors)


def test_favicon_and_logo(page: Any, report: dict[str, Any]) -> None:
    """The page declares the book's favicon, which the server has, and shows the loaded logo."""
    assert report["icons"], (
        f"{page.path} declares no favicon: the browser asks for /favicon.ico"
    )
    for icon in report["icons"]:
        with urllib.request.urlopen(icon, timeout=10) as response:
            kind = response.headers.get_content_type()
            assert response.status == 200 and kind.startswith("image/"), (
                f"{icon}: {kind}"
            )
    assert report["logos"], f"{page.path} shows no logo in its sidebar"
    broken = [
        i["src"] for i in report["logos"] if not (i["complete"] and i["naturalWidth"])
    ]
    assert not broken, f"{page.path}: logo did not load: {broken}"


def test_images_loaded_and_described(page: Any, report: dict[str, Any]) -> None:
    """Every image in the article has loaded and has alt text or a figure caption."""
    broken = [
        i["src"]
        for i in report["images"]
        if not (i["complete"] and i["naturalWidth"] > 0)
    ]
    assert not broken, f"{page.path}: images that did not load: {broken}"

    def described(image: dict[str, Any]) -> bool:
        alt = image["alt"]
        # myst-nb's default alt for a cell's figure is its file name: that describes nothing.
        alt_is_path = alt == image["src"] or alt.lower().endswith(
            (".png", ".svg", ".jpg", ".jpeg")
        )
        return bool(image["caption"]) or (bool(alt) and not alt_is_path)

    mute = [i["where"] for i in report["images"] if not described(i)]
    assert not mute, (
        f"{page.path}: {len(mute)} images with neither alt text nor a caption, from {mute}. "
        'Give each figure cell the metadata {"mystnb": {"figure": {"caption": "...", "name": '
        '"fig-..."}, "image": {"alt": "..."}}} (jupytext: `# %% mystnb={...}`).'
    )


def test_chapter_has_launch_and_download_buttons(
    page: Any, report: dict[str, Any], repo_root: Path
) -> None:
    """Chapters offer Binder, Colab and the .ipynb download, all pointing at the repo's notebook."""
    if not page.is_notebook:
        pytest.skip(f"{page.path} is not a notebook chapter")
    config = yaml.safe_load((repo_root / "_config.yml").read_text(encoding="utf8"))
    repo_url = config["repository"]["url"].rstrip("/")
    org_repo = urlsplit(repo_url).path.strip("/")
    branch = config["repository"].get("branch", "main")
    notebook = str(Path(page.path).with_suffix(".ipynb"))
    assert (repo_root / notebook).exists(), (
        f"launch buttons would open {notebook}, not in the repo"
    )

    links = {link["text"]: link["href"] for link in report["launch"]}
    assert set(links) >= {"Binder", "Colab"}, (
        f"{page.path}: launch buttons {sorted(links)}"
    )
    assert links["Colab"].endswith(f"/github/{org_repo}/blob/{branch}/{notebook}"), (
        links["Colab"]
    )
    assert f"/v2/gh/{org_repo}/{branch}?urlpath=" in links["Binder"], links["Binder"]
    assert unquote(links["Binder"]).endswith(f"/{notebook}"), links["Binder"]

    ipynb = [d["href"] for d in report["downloads"] if d["href"].endswith(".ipynb")]
    assert ipynb, (
        f"{page.path}: the download button offers no .ipynb: {report['downloads']}"
    )
    with urllib.request.urlopen(ipynb[0], timeout=10) as response:
        downloaded = json.load(response)
    assert downloaded["cells"], f"{ipynb[0]} is not a notebook with cells"


def test_equations_numbered_and_references_resolve(
    page: Any, report: dict[str, Any], html_root: Path, mathjax: bool
) -> None:
    """Math is in the page for MathJax (and typesets without errors when MathJax is at hand);
    numbered equations have numbers; {eq} links land on them."""
    if report["mathElements"]:
        assert report["mathjaxScript"], f"{page.path} has math but loads no MathJax"
        assert report["mathTex"] == report["mathElements"], (
            f"{page.path}: math without TeX"
        )
        if mathjax:
            assert report["typeset"] == "typeset", (
                f"{page.path}: MathJax {report['typeset']}"
            )
            assert report["mathTypeset"] == report["mathElements"], (
                f"{page.path}: {report['mathElements'] - report['mathTypeset']} formulas not typeset"
            )
            assert not report["mathErrors"], (
                f"{page.path}: MathJax errors {report['mathErrors']}"
            )
    unnumbered = [
        e["id"] for e in report["equations"] if not e["number"].startswith("(")
    ]
    assert not unnumbered, (
        f"{page.path}: labelled equations without a number: {unnumbered}"
    )
    assert not report["unresolved"], (
        f"{page.path}: '???' in the text (an unresolved reference)"
    )
    for ref in report["equationRefs"]:
        target = urlsplit(ref["href"])
        html = (html_root / target.path.lstrip("/")).read_text(encoding="utf8")
        assert f'id="{target.fragment}"' in html, f"{page.path}: {ref} points nowhere"
        assert ref["text"].startswith("("), (
            f"{page.path}: equation reference {ref} has no number"
        )


def _chapter_number(text: str) -> int | None:
    """The chapter number a title or heading starts with ("7. Getting the data" is 7), if any."""
    found = re.match(r"(\d+)\.(\s|$)", text)
    return int(found.group(1)) if found else None


def test_chapter_number_is_its_place_and_its_file_name(
    page: Any, report: dict[str, Any], chapter_numbers: dict[str, int]
) -> None:
    """A chapter of a numbered part shows its place in the reading order (_toc.yml, counting on
    across parts) as its number, in its window title, heading and sidebar entry, and before every
    section, figure, exercise and equation number; its file name starts with that number. Pages
    outside the numbered parts show no chapter number."""
    expected = chapter_numbers.get(page.path)
    problems = []
    name = Path(page.path).name
    if expected is not None and not name.startswith(f"{expected:02d}_"):
        problems.append(
            f"chapter {expected} in reading order: its file name should start {expected:02d}_"
        )
    entry = [e["text"] for e in report["nav"] if e["path"] == page.path]
    headings = report["headingNumbers"]
    shown = {
        "window title": _chapter_number(report["title"]),
        "heading": _chapter_number(headings[0]) if headings else None,
    }
    if entry or expected is not None:
        shown["sidebar entry"] = _chapter_number(entry[0]) if entry else None
    for where, number in shown.items():
        if number != expected:
            problems.append(
                f"the {where} shows {number or 'no number'}, expected {expected or 'none'}"
            )
    if expected is not None:
        numbers = [
            *headings[1:],
            *report["captionNumbers"],
            *(e["number"] for e in report["equations"]),
        ]
        stray = [n for n in numbers if not re.search(rf"(^|[\s(]){expected}\.\d", n)]
        if stray:
            problems.append(f"numbers not of chapter {expected}: {stray}")
    assert not problems, f"{page.path}: " + "; ".join(problems)


def test_no_horizontal_overflow(page: Any, report: dict[str, Any]) -> None:
    """Nothing makes the page, a table or a printed output wider than the article (1280-px window)."""
    assert report["pageOverflow"] <= 1, (
        f"{page.path} scrolls sideways by {report['pageOverflow']} px"
    )
    assert not report["wideTables"], (
        f"{page.path}: tables wider than the {report['articleWidth']} px article: "
        f"{report['wideTables']} (show fewer columns, or round)"
    )
    wide = [o["where"] for o in report["outputs"] if o["wide"]]
    assert not wide, (
        f"{page.path}: printed outputs cut off at the right edge (the reader must scroll sideways), "
        f"from {wide}: print fewer or narrower columns (about 80 characters fit)"
    )


def _notebook_cell(repo_root: Path, page: Any, line: str) -> str:
    """Where a line of code lives: `book/x.ipynb cell N` (0-based, as in nbformat), or the page."""
    notebook = repo_root / Path(page.path).with_suffix(".ipynb")
    if notebook.exists() and line.strip():
        cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
        for index, cell in enumerate(cells):
            if line.rstrip() in "".join(cell["source"]).splitlines():
                return f"{notebook.relative_to(repo_root)} cell {index}"
    return page.path


def test_code_fits_its_box(page: Any, report: dict[str, Any], repo_root: Path) -> None:
    """No code cell scrolls sideways at a 1280-px window: its lines fit the box it is shown in."""
    wide = [
        f"{_notebook_cell(repo_root, page, c['longest'])}: a line of {len(c['longest'])} "
        f"characters in a box of {c['columns']} ({c['where']})"
        for c in report["wideCode"]
    ]
    assert not wide, (
        f"{page.path}: code wider than its box (it scrolls sideways):\n"
        + "\n".join(wide)
    )


def test_no_walls_of_output(page: Any, report: dict[str, Any]) -> None:
    """No visible cell output runs past a screenful: training logs are hidden or shortened."""
    walls = [
        (o["lines"], o["where"])
        for o in report["outputs"]
        if o["lines"] > MAX_VISIBLE_OUTPUT_LINES
    ]
    assert not walls, (
        f"{page.path}: outputs longer than {MAX_VISIBLE_OUTPUT_LINES} lines (lines, from): {walls}; "
        "tag the cell `hide-output` or print less"
    )


def test_previous_and_next_links(
    page: Any, toc: tuple[Any, ...], driver: Any, base_url: str
) -> None:
    """The footer's previous/next links follow the table of contents, and clicking them works."""
    from selenium.webdriver.common.by import By

    pages = toc
    here = base_url + page.path
    for selector, neighbour in (
        ("a.left-prev", pages[page.index - 1] if page.index > 0 else None),
        (
            "a.right-next",
            pages[page.index + 1] if page.index + 1 < len(pages) else None,
        ),
    ):
        driver.get(here)
        _wait_loaded(driver)
        links = driver.find_elements(By.CSS_SELECTOR, selector)
        if neighbour is None:
            assert not links, f"{page.path}: {selector} leads out of the book"
            continue
        assert links, f"{page.path}: no {selector} link (expected {neighbour.path})"
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'})", links[0]
        )
        links[0].click()
        _wait_loaded(driver)
        landed = urlsplit(driver.current_url).path.lstrip("/")
        assert landed == neighbour.path, f"{page.path}: {selector} went to {landed}"


def test_search_lists_the_lstm_chapter(
    toc: tuple[Any, ...], driver: Any, base_url: str
) -> None:
    """A reader types "forget gate" into the search box and the LSTM chapter is listed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    pages = toc
    driver.get(base_url + pages[0].path)
    _wait_loaded(driver)
    button = next(
        b
        for b in driver.find_elements(By.CSS_SELECTOR, "button.search-button__button")
        if b.is_displayed()
    )
    button.click()
    box = driver.find_element(By.CSS_SELECTOR, "#pst-search-dialog input[name=q]")
    box.send_keys("forget gate", Keys.ENTER)
    deadline = time.monotonic() + 30
    summary = ""
    while not ("found" in summary or "did not match" in summary):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"search did not finish: {driver.current_url} {summary!r}"
            )
        time.sleep(0.2)
        summary = driver.execute_script(
            "const s = document.querySelector('#search-results .search-summary');"
            "return s ? s.textContent : '';"
        )
    assert urlsplit(driver.current_url).path.endswith("/search.html")
    hits = driver.execute_script(
        "return [...document.querySelectorAll('#search-results ul.search li a')]"
        ".map(a => new URL(a.href).pathname.replace(/^\\//, ''))"
    )
    if not any(p.path == LSTM_CHAPTER for p in pages):
        pytest.skip(
            f"{LSTM_CHAPTER} is not in the table of contents yet (search ran: {summary.strip()})"
        )
    assert LSTM_CHAPTER in hits, (
        f"searching 'forget gate' listed {hits}, not {LSTM_CHAPTER}"
    )
