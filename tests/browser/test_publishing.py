"""What the published book promises a reader who leaves the page: Binder, Colab, GitHub Pages.

Runs without a build or a browser (part of `make test`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((REPO / "book").glob("*.ipynb"))


def _requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file, comments and blanks dropped."""
    lines = (
        line.split("#", 1)[0].strip()
        for line in path.read_text(encoding="utf8").splitlines()
    )
    return [line for line in lines if line]


def test_binder_installs_the_lock_and_the_package() -> None:
    """Binder's requirements are the lock, pin for pin, plus the package itself."""
    binder = _requirement_lines(REPO / "binder" / "requirements.txt")
    assert binder[-1] == "-e .", (
        "binder/requirements.txt must end by installing the package"
    )
    assert binder[:-1] == _requirement_lines(REPO / "requirements.txt"), (
        "binder/requirements.txt differs from requirements.txt: run `make lock` (it writes both)"
    )


def test_binder_runs_python_311() -> None:
    """Binder's Python is the one the lock was made for."""
    assert (REPO / "binder" / "runtime.txt").read_text(
        encoding="utf8"
    ).strip() == "python-3.11"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_installs_the_package_when_missing(notebook: Path) -> None:
    """A chapter opened alone (Colab) installs lstm_study from this repository in its first cell."""
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf8"))
    repo_url = config["repository"]["url"].rstrip("/")
    cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
    first = next(c for c in cells if c["cell_type"] == "code")
    source = "".join(first["source"])
    assert 'importlib.util.find_spec("lstm_study") is None' in source, (
        f"{notebook.name}: {source!r}"
    )
    assert f"lstm-study @ git+{repo_url}" in source, (
        f"{notebook.name} installs from elsewhere"
    )
    assert "hide-input" in first.get("metadata", {}).get("tags", []), (
        f"{notebook.name}: tag the install cell `hide-input`; readers need not read it"
    )


def test_workflow_builds_with_the_readme_command_and_deploys_the_html() -> None:
    """The Pages workflow builds with `make book` and publishes _build/html from main only."""
    workflow = yaml.safe_load(
        (REPO / ".github" / "workflows" / "book.yml").read_text(encoding="utf8")
    )
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = " ".join(step.get("run", "") for step in build["steps"])
    assert "make book" in runs
    assert (
        "make pdf" in runs and "cp _build/pdf/book.pdf _build/html/book.pdf" in runs
    ), "the published site must carry the PDF the introduction links to"
    upload = next(
        s
        for s in build["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-pages-artifact")
    )
    assert upload["with"]["path"] == "_build/html"
    assert "refs/heads/main" in upload["if"] and "refs/heads/main" in deploy["if"]
    assert any(
        str(s.get("uses", "")).startswith("actions/deploy-pages")
        for s in deploy["steps"]
    )
