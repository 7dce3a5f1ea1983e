"""Golden diagnostics: each tests/diagnostics/NAME.margin must fail with exactly NAME.expected.

Protects what a user sees when a spec is wrong: `file:line:col`, the source
line, the caret under the right span, the hint, and that several errors in one
file are reported together. The .expected files are reviewed by eye; to
rewrite them on purpose after a deliberate change, run

    SOLVENT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_diagnostics.py

and read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dsl
from dsl.diagnostics import SpecError

HERE = Path(__file__).resolve().parent / "diagnostics"
CASES = sorted(p.stem for p in HERE.glob("*.margin"))
UPDATE = os.environ.get("SOLVENT_UPDATE_GOLDEN") == "1"

# Goldens that hold the output we want, not the output we get: each is a dsl bug.
# SOLVENT_UPDATE_GOLDEN never rewrites these; drop the entry once the bug is fixed.
KNOWN_BUGS: dict[str, str] = {}  # golden name -> the bug it shows; such goldens hold the intended output


def _render(name: str) -> str:
    text = (HERE / f"{name}.margin").read_text(encoding="utf-8")
    try:
        dsl.loads(text, f"{name}.margin")
    except SpecError as err:
        return err.render() + "\n"
    pytest.fail(f"{name}.margin was accepted, but it is meant to show a diagnostic")


def _case(name: str) -> object:
    if name in KNOWN_BUGS:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]))
    return name


@pytest.mark.parametrize("name", [_case(n) for n in CASES])
def test_golden(name: str) -> None:
    got = _render(name)
    expected_path = HERE / f"{name}.expected"
    if UPDATE and name not in KNOWN_BUGS:
        expected_path.write_text(got, encoding="utf-8")
    if not expected_path.exists():
        pytest.fail(f"no golden file {expected_path.name}; run with SOLVENT_UPDATE_GOLDEN=1 and review it")
    assert got == expected_path.read_text(encoding="utf-8")


def test_every_golden_has_a_spec() -> None:
    stale = sorted(p.name for p in HERE.glob("*.expected") if not (HERE / f"{p.stem}.margin").exists())
    assert not stale, f"golden files without a .margin: {stale}"


def test_load_from_a_file_reports_the_path_it_was_given(tmp_path: Path) -> None:
    spec = tmp_path / "bad.margin"
    spec.write_text((HERE / "unknown_unit.margin").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        dsl.load(spec)
    expected = (HERE / "unknown_unit.expected").read_text(encoding="utf-8")
    assert err.value.render() + "\n" == expected.replace("unknown_unit.margin", str(spec))


def test_several_errors_are_reported_in_source_order() -> None:
    text = (HERE / "several_errors.margin").read_text(encoding="utf-8")
    with pytest.raises(SpecError) as err:
        dsl.loads(text, "several_errors.margin")
    diags = err.value.diagnostics
    assert len(diags) >= 4
    lines = [d.span.line for d in diags if d.span is not None]
    assert lines == sorted(lines)
