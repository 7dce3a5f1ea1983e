"""`solvent check --emit-tests DIR`: one pytest file per violation.

Each file holds the counterexample as data (JSON-like literals written with
`repr`, so nothing from a spec becomes code) and calls
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


def _source(relative: str, r: CheckResult) -> str:
    assert r.counterexample is not None
    doc = (
        f"Regression test for `{r.name}` in {relative}: {r.reason}\n\n"
        "It fails while the spec has this violation and passes once the rules are fixed."
    )
    return "\n".join(
        [
            MARK,
            repr(doc),
            "",
            "from pathlib import Path",
            "",
            "from checker.emitted import reproduce",
            "",
            f"SPEC = str(Path(__file__).resolve().parent / {relative!r})",
            f"CHECK_ID = {r.id!r}",
            f"CHECK = {r.name!r}",
            f"COUNTEREXAMPLE = {r.counterexample.to_json()!r}",
            "",
            "",
            f"def test_{_slug(r.name)}() -> None:",
            "    problem = reproduce(SPEC, CHECK_ID, CHECK, COUNTEREXAMPLE)",
            "    assert problem is None, f'{CHECK}: {problem}'",
            "",
        ]
    )
