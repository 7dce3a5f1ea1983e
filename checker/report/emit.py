"""`solvent check --emit-tests DIR`: one pytest file per violation.

Each file holds the counterexample as data (JSON-like literals written with
`repr`, so nothing from a spec becomes code; one value per line, so that a
reader and a diff see each one) and calls
`checker.emitted.reproduce`. It fails while the spec still has the violation
and passes once the rules are fixed, staying as a regression test. Files this
command did not write are never overwritten (`checker.report.files` decides,
reading a few kilobytes of each at most), and nothing but a regular file is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from checker.core.results import CheckResult, Verdict
from checker.report.files import TEST_MARK, peek

MARK = TEST_MARK


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "check"


def emit_tests(spec_path: str, results: Sequence[CheckResult], outdir: Path) -> tuple[list[Path], list[str]]:
    """Write a test per replayed violation of `spec_path`; returns (written files, warnings).

    A file in the way that solvent did not write is left alone (a warning says so); failing to
    create `outdir` or to write a file raises the `OSError`.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    warnings: list[str] = []
    relative = os.path.relpath(Path(spec_path).resolve(), outdir.resolve())
    stem = _slug(Path(spec_path).stem)
    for r in results:
        if r.verdict is not Verdict.VIOLATED or r.counterexample is None or not r.counterexample.replayed:
            continue
        if r.accepted is not None:  # a violation the team accepts (baseline): a test would fail for good
            continue
        target = outdir / f"test_{stem}__{_slug(r.name)}.py"
        if target.is_symlink() or (target.exists() and not _ours(target)):
            warnings.append(f"{target}: exists and was not written by solvent; left as it is")
            continue
        target.write_text(_source(relative, r), encoding="utf-8")
        written.append(target)
    return written, warnings


def _ours(target: Path) -> bool:
    """Was `target` (a regular file) written by this command? Reads its first few kilobytes only."""
    ends = peek(target)
    return ends is not None and MARK in ends[0][:400]


_WIDTH = 88  # characters of text per docstring piece


def literal(value: object, indent: str = "") -> str:
    """`value` (JSON-like: dicts, lists, strings, bools, None) as a Python literal, one value per line.

    Every string goes through `repr`, so a spec's names and values stay data whatever they hold.
    """
    inner = indent + "    "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{k!r}: {literal(v, inner)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[\n" + "\n".join(f"{inner}{literal(v, inner)}," for v in value) + f"\n{indent}]"
    return repr(value)


def _docstring(text: str) -> str:
    """`text` as a module docstring: adjacent `repr` pieces of at most `_WIDTH` characters, in parentheses."""
    pieces: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            if line and len(line) + len(word) >= _WIDTH:
                pieces.append(line + " ")
                line = word
            else:
                line = f"{line} {word}" if line else word
        pieces.append(line + "\n")
    pieces[-1] = pieces[-1].removesuffix("\n")
    return "(\n" + "\n".join(f"    {piece!r}" for piece in pieces) + "\n)"


def _source(relative: str, r: CheckResult) -> str:
    assert r.counterexample is not None
    doc = (
        f"Regression test for `{r.name}` in {relative}: {r.reason}\n\n"
        "It fails while the spec has this violation and passes once the rules are fixed."
    )
    return "\n".join(
        [
            MARK,
            _docstring(doc),
            "",
            "from pathlib import Path",
            "",
            "import pytest",
            "",
            "from checker.emitted import reproduce",
            "",
            f"SPEC = str(Path(__file__).resolve().parent / {relative!r})",
            f"CHECK_ID = {r.id!r}",
            f"CHECK = {r.name!r}",
            f"COUNTEREXAMPLE = {literal(r.counterexample.to_json())}",
            "",
            "",
            f"def test_{_slug(r.name)}() -> None:",
            "    problem = reproduce(SPEC, CHECK_ID, CHECK, COUNTEREXAMPLE)",
            "    if problem is not None:  # the message lists the values that break the rule",
            "        pytest.fail(f'{CHECK}: {problem}', pytrace=False)",
            "",
        ]
    )
