"""Helpers the check tests share: a spec from indented text, a run of some checks, one result by name."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import dsl
from checker import CheckResult, Options, configure, run_checks


def load(text: str, name: str = "t.margin") -> dsl.Spec:
    """A spec from text indented like the test that holds it."""
    return dsl.loads(textwrap.dedent(text).lstrip("\n"), name)


def run(spec: dsl.Spec, only: str | Sequence[str], **options: Any) -> list[CheckResult]:
    """The results of the checks `only` (an id or several) with fixed seeds and `options`."""
    configure(0)
    ids = [only] if isinstance(only, str) else list(only)
    return list(run_checks(spec, Options(**options), only=ids))


def named(results: list[CheckResult], name: str) -> CheckResult:
    """The one result called `name`."""
    found = [r for r in results if r.name == name]
    assert len(found) == 1, (name, [r.name for r in results])
    return found[0]


def cli(capsys: Any, *argv: object) -> tuple[int, str, str]:
    """`solvent ARGV` in-process: (exit status, stdout, stderr); argparse errors exit via SystemExit."""
    from checker.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err
