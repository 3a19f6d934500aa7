"""Sphinx extension: write each <script> into a page once.

Sphinx 7.4 keeps an inline script that an extension adds after the builder started (sphinx-thebe's
`const THEBE_JS_URL = ...`, sphinx-togglebutton's selector) twice, once with filename None and once
with filename ''. The second `const` is a SyntaxError in every reader's console.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _dedupe(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Drop repeated scripts (same file or same inline body and attributes), keeping the first."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        key = (
            str(getattr(script, "filename", script) or ""),
            tuple(sorted((k, str(v)) for k, v in attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the page-context hook."""
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
