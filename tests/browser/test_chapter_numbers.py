"""Chapter files are named for their place in the reading order (no build or browser needed).

The chapters of `_toc.yml`'s numbered parts are numbered 1, 2, ... in reading order, counting on
across parts; each file name starts with its number, two digits (book/03_lstm). The browser test
checks that the built pages show the same numbers (test_book_in_browser.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml


def _toc_files(repo_root: Path) -> list[str]:
    """Every file of `_toc.yml`, in reading order, the root first."""
    toc = yaml.safe_load((repo_root / "_toc.yml").read_text(encoding="utf8"))
    return [toc["root"]] + [
        chapter["file"]
        for part in toc.get("parts", [])
        for chapter in part.get("chapters", [])
    ]


def test_numbered_chapter_files_start_with_their_place(
    chapter_numbers: dict[str, int],
) -> None:
    """The n-th chapter of the numbered parts is book/NN_...: renaming or reordering one fails."""
    assert chapter_numbers, "_toc.yml has no numbered part"
    misnamed = [
        f"{path} is chapter {place}: name it {place:02d}_..."
        for path, place in chapter_numbers.items()
        if not Path(path).name.startswith(f"{place:02d}_")
    ]
    assert not misnamed, "\n".join(misnamed)


def test_only_numbered_chapters_have_numbered_names(
    repo_root: Path, chapter_numbers: dict[str, int]
) -> None:
    """A file outside the numbered parts does not start with a number (it would show none); the
    appendices are a1_, a2_, ... in reading order."""
    files = _toc_files(repo_root)
    stray = [
        file
        for file in files
        if re.match(r"\d", Path(file).name) and f"{file}.html" not in chapter_numbers
    ]
    assert not stray, f"numbered file names outside the numbered parts: {stray}"
    appendices = [
        int(found.group(1))
        for file in files
        if (found := re.match(r"a(\d+)_", Path(file).name))
    ]
    assert appendices == list(range(1, len(appendices) + 1)), (
        f"appendices numbered {appendices} in reading order"
    )
