"""Golden diagnostics of conformance mapping files: tests/conform/NAME.toml must fail with NAME.expected.

Protects what a user sees when a mapping is wrong (spec/conformance.md §3.4): `file:line:col` at the key
or value at fault, the line, the caret, a hint ("did you mean"), and every problem of a phase reported
together. Rewrite on purpose with SOLVENT_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest

import dsl
from checker.testing.mapping import Tolerance, loads_mapping, parse_mapping, resolve
from dsl.diagnostics import SpecError

HERE = Path(__file__).resolve().parent / "conform"
SPEC = Path(__file__).resolve().parent.parent / "examples" / "binance_usdm_perp.margin"
CASES = sorted(p.stem for p in HERE.glob("*.toml"))
UPDATE = os.environ.get("SOLVENT_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    text = (HERE / f"{name}.toml").read_text(encoding="utf-8")
    try:
        resolve(loads_mapping(text, f"{name}.toml"), dsl.load(SPEC))
    except SpecError as err:
        got = err.render() + "\n"
    else:
        pytest.fail(f"{name}.toml was accepted, but it is meant to show a diagnostic")
    expected = HERE / f"{name}.expected"
    if UPDATE:
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")


def test_the_shipped_mapping_resolves() -> None:
    plan = resolve(loads_mapping((SPEC.parent / "conform" / "binance.toml").read_text()), dsl.load(SPEC))
    outputs = {o.spec: o for o in plan.outputs}
    assert outputs["maintenance"].impl == "maint_margin_cents" and outputs["maintenance"].scale == Fraction(1, 100)
    assert outputs["maintenance"].tolerance == Tolerance(Fraction(0), Fraction(1, 100))
    assert outputs["equity"].tolerance == Tolerance()  # exact by default
    assert "liq_fee" in plan.fixed and all(n.spec != "liq_fee" for n in plan.sent)


def test_tolerances() -> None:
    m = parse_mapping({"tolerance": {"a": "0.01", "b": {"above": 0}, "c": {"below": "1/2", "above": "0.25"}}})
    t = dict(m.tolerance)
    assert t["a"].admits(Fraction(-1, 100)) and not t["a"].admits(Fraction(-101, 10000))
    assert t["b"].admits(Fraction(0)) and not t["b"].admits(Fraction(1, 10**30))
    assert t["c"].admits(Fraction(-1, 2)) and not t["c"].admits(Fraction(26, 100))
    assert str(t["a"]) == "±0.01" and str(t["b"]) == "exact"
