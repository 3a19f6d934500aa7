"""Print each chapter's execution time from Jupyter Book's execution cache, and the total.

    .venv/bin/python scripts/execution_report.py _build/.jupyter_cache

`make book` runs this after the build. The figures are jupyter-cache's records: the
seconds the chapter took when it was last executed, and when that was (UTC). A chapter
whose "executed" time is older than the build was taken from the cache, not re-run.
Exits 0 whatever it finds, an empty or missing cache included: it reports, never fails.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path


def latest_records(cache_path: Path) -> list[tuple[str, float | None, datetime]]:
    """Return (notebook, execution seconds, executed at) for the newest record of each notebook."""
    from jupyter_cache import get_cache

    latest: dict[str, tuple[float | None, datetime]] = {}
    for record in get_cache(str(cache_path)).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        if record.uri not in latest or record.created > latest[record.uri][1]:
            latest[record.uri] = (seconds, record.created)
    return sorted((uri, seconds, created) for uri, (seconds, created) in latest.items())


def failed_notebooks(cache_path: Path) -> list[str]:
    """Return the notebooks whose last execution raised (jupyter-cache keeps their traceback)."""
    from jupyter_cache import get_cache

    return sorted(
        record.uri
        for record in get_cache(str(cache_path)).list_project_records()
        if record.traceback
    )


def format_report(rows: list[tuple[str, float | None, datetime]], root: Path) -> str:
    """Render the rows as a table with a total line."""
    names = [_short(uri, root) for uri, _, _ in rows]
    width = max([len("chapter"), *map(len, names)])
    lines = [f"{'chapter':<{width}}  {'seconds':>8}  executed (UTC)"]
    total = 0.0
    for name, (_, seconds, created) in zip(names, rows):
        total += seconds or 0.0
        shown = "?" if seconds is None else f"{seconds:.1f}"
        lines.append(f"{name:<{width}}  {shown:>8}  {created:%Y-%m-%d %H:%M:%S}")
    lines.append(f"{'total':<{width}}  {total:>8.1f}")
    return "\n".join(lines)


def _short(uri: str, root: Path) -> str:
    try:
        return str(Path(uri).resolve().relative_to(root))
    except ValueError:
        return uri


def main(argv: list[str]) -> int:
    """Print the report for the cache folder named on the command line."""
    cache_path = Path(argv[1] if len(argv) > 1 else "_build/.jupyter_cache")
    print(
        f"Chapter execution times (jupyter-cache records in {cache_path}, now {datetime.now(UTC):%H:%M:%S} UTC):"
    )
    if not cache_path.is_dir():
        print("  no execution cache yet: nothing has been executed")
        return 0
    try:
        rows = latest_records(cache_path)
        failed = failed_notebooks(cache_path)
    except Exception as error:  # noqa: BLE001 - a report must never fail the build
        print(f"  could not read the cache: {type(error).__name__}: {error}")
        return 0
    if not rows:
        print("  the cache holds no executed notebooks")
    else:
        print(format_report(rows, Path.cwd().resolve()))
    for uri in failed:
        print(f"  last execution FAILED: {_short(uri, Path.cwd().resolve())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
