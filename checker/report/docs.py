"""The check catalogue's documentation (spec/checks.md), for `solvent explain`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _text() -> str:
    """spec/checks.md: installed as the data package `solvent_spec`, or read from a source checkout."""
    try:
        return resources.files("solvent_spec").joinpath("checks.md").read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError):  # OSError: e.g. NotADirectoryError from an editable install
        pass
    here = Path(__file__).resolve().parents[2] / "spec" / "checks.md"  # checker/report/ -> the checkout
    try:
        return here.read_text(encoding="utf-8")
    except OSError:
        return ""


def check_page(check_id: str) -> str:
    """The `## <id>` section of spec/checks.md."""
    text = _text()
    if not text:
        return f"{check_id}: the check catalogue (spec/checks.md) is not installed; reinstall solvent"
    marker = f"## `{check_id}`"
    start = text.find(marker)
    if start < 0:
        return f"{check_id}: no page in spec/checks.md (this is a documentation bug)"
    end = text.find("\n## ", start + len(marker))
    return text[start : end if end >= 0 else len(text)].strip()
