"""The declared health measure: `health = EXPR` in the margin block (spec/language.md §3.9).

Protects what `liquidation-improves-health` means (spec/checks.md): it compares
the declared `health` role when there is one (higher is healthier), and
`equity - maintenance` otherwise. The two specs of spec/checks.md that
separate the meanings are checked both ways: a lending liquidation that raises
the difference while lowering the health factor, and a closing liquidation
that raises the margin level while lowering the difference. Also: a ratio
that is undefined where its denominator is zero (what the check and
`well-defined` then say), that both back ends compute the same measure, the
engine's `health_measure`, the Aave example at its published parameters and
its known-bad variant, and that a malformed measure never reaches the solver.
"""

from __future__ import annotations

import textwrap
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import z3
from checking import load, run
from checking import named as one
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from checker import Verdict
from checker.core.encode import Encoder
from checker.core.results import CheckResult
from checker.emitted import reproduce
from dsl.diagnostics import SourceFile, SpecError
from dsl.parser import parse
from dsl.printer import module_to_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROVED, VIOLATED, SKIPPED = Verdict.PROVED, Verdict.VIOLATED, Verdict.SKIPPED
CHECK = "liquidation-improves-health"





def without_health(text: str) -> str:
    return "\n".join(line for line in textwrap.dedent(text).splitlines() if not line.strip().startswith("health"))


def replay(spec: dsl.Spec, r: CheckResult) -> tuple[Any, Any, Any, Any, Any]:
    """Params, the state before, and the state after the liquidation, rebuilt on the engine."""
    eng = spec.engine
    cex = r.counterexample
    assert cex is not None and cex.replayed
    before, after = cex.steps
    build = lambda cls, values: cls(**{eng.FIELDS[k]: v for k, v in values.items()})  # noqa: E731
    p = build(eng.Params, cex.params)
    s, i = build(eng.State, before.state), build(eng.Inputs, before.inputs)
    action = after.label.removeprefix("after ")
    t = getattr(eng, eng.STEPS[action])(p, s, i, *after.args.values())
    return eng, p, s, i, t


# ---- the two specs of spec/checks.md that separate the measures ------------------------

# (a) Lending: the difference (weighted collateral - debt) rises, the health factor falls.
LENDING = """
unit USD
param lt: rate    = 80% in [50%, 95%]
param bonus: rate = 10% in [0, 20%]
assume lt * (1 + bonus) < 1
state collateral: USD where collateral >= 0
state debt: USD       where debt >= 0
margin:
    equity      = collateral - debt
    maintenance = collateral - collateral * lt
    health      = if debt > 0 then collateral * lt / debt else 1_000_000
    liquidatable when equity < maintenance
action liquidate(r: USD) when liquidatable and r > 0 and r <= debt and r * (1 + bonus) <= collateral:
    debt'       = debt - r
    collateral' = collateral - r * (1 + bonus)
"""

# (b) A perpetual that closes the position: the margin level rises (no position left), the difference falls.
CLOSING = """
unit USD, BTC
param mmr: rate = 0.5% in [0.1%, 5%]
param fee: rate = 1%   in [0, 5%]
state collateral: USD  where collateral >= 0
state size: BTC
state entry: USD/BTC   where entry > 0
input mark: USD/BTC    where mark > 0
let notional: USD = abs(size) * mark
margin:
    equity      = collateral + size * (mark - entry)
    maintenance = notional * mmr
    health      = if maintenance > 0 then equity / maintenance else 1_000_000
    liquidatable when equity < maintenance
action liquidate when liquidatable:
    size'       = 0
    collateral' = equity - notional * fee
"""


def test_lending_health_factor_falls_while_the_difference_rises() -> None:
    spec = load(LENDING)
    r = one(run(spec, CHECK), f"{CHECK}: liquidate")
    assert r.verdict is VIOLATED
    assert "the declared `health` measure falls" in r.reason
    eng, p, s, i, t = replay(spec, r)
    assert eng.health(p, t, i) < eng.health(p, s, i)
    assert eng.health_measure(p, t, i) < eng.health_measure(p, s, i)
    # The health factor falls exactly when it is below lt * (1 + bonus).
    assert eng.health(p, s, i) < p.lt * (1 + p.bonus)
    # ... while the default measure, equity - maintenance, rises: that is why the default proves it.
    diff = lambda st: eng.equity(p, st, i) - eng.maintenance(p, st, i)  # noqa: E731
    assert diff(t) >= diff(s)
    assert one(run(load(without_health(LENDING)), CHECK), f"{CHECK}: liquidate").verdict is PROVED


def test_lending_fix_liquidate_only_above_the_floor_or_close() -> None:
    fixed = LENDING.replace(
        "r * (1 + bonus) <= collateral:",
        "r * (1 + bonus) <= collateral and (health >= lt * (1 + bonus) or r == debt):",
    )
    assert one(run(load(fixed), CHECK), f"{CHECK}: liquidate").verdict is PROVED


def test_closing_liquidation_raises_the_ratio_while_the_difference_falls() -> None:
    declared = one(run(load(CLOSING), CHECK), f"{CHECK}: liquidate")
    assert declared.verdict is PROVED
    spec = load(without_health(CLOSING))
    r = one(run(spec, CHECK), f"{CHECK}: liquidate")
    assert r.verdict is VIOLATED
    assert "equity - maintenance falls" in r.reason
    eng, p, s, i, t = replay(spec, r)
    assert eng.HEALTH == "equity - maintenance"
    assert eng.health_measure(p, t, i) < eng.health_measure(p, s, i)
    assert p.fee > p.mmr


def test_emitted_tests_reproduce_the_declared_measure(tmp_path: Path) -> None:
    """`--emit-tests` re-tests the violation with the same measure, and passes once the spec is fixed."""
    path = tmp_path / "lending.margin"
    path.write_text(textwrap.dedent(LENDING).lstrip("\n"), encoding="utf-8")
    r = one(run(dsl.load(path), CHECK), f"{CHECK}: liquidate")
    assert r.counterexample is not None
    cex = r.counterexample.to_json()
    found = reproduce(str(path), r.id, r.name, cex)
    assert found is not None and found.startswith("health falls")
    fixed = LENDING.replace(
        "r * (1 + bonus) <= collateral:", "r * (1 + bonus) <= collateral and health >= lt * (1 + bonus):"
    )
    path.write_text(textwrap.dedent(fixed).lstrip("\n"), encoding="utf-8")
    assert reproduce(str(path), r.id, r.name, cex) is None


def test_the_checks_md_examples_are_these_specs() -> None:
    """spec/checks.md shows both separating specs verbatim: the doc and the tests cannot drift."""
    doc = (ROOT / "spec" / "checks.md").read_text(encoding="utf-8")
    for text in (LENDING, CLOSING):
        assert textwrap.dedent(text).strip() in doc


# ---- a ratio that is undefined where its denominator is zero --------------------------

BARE_RATIO = """
unit USD
param lt: rate    = 80% in [50%, 95%]
param bonus: rate = 10% in [0, 20%]
state collateral: USD where collateral >= 0
state debt: USD       where debt >= 0
margin:
    equity      = collateral - debt
    maintenance = collateral - collateral * lt
    health      = collateral * lt / debt
    liquidatable when equity < maintenance
action liquidate when liquidatable and debt * (1 + bonus) <= collateral:
    debt'       = 0
    collateral' = collateral - debt * (1 + bonus)
"""


def test_a_liquidation_that_closes_the_debt_is_not_a_violation() -> None:
    """After it the ratio is undefined: only defined pairs are compared (spec/checks.md)."""
    results = run(load(BARE_RATIO), ["well-defined", CHECK])
    assert one(results, f"{CHECK}: liquidate").verdict is PROVED
    # ... but the measure itself is a partial operation like any role: `well-defined` reports it.
    wd = one(results, "well-defined: `health` (division at line 9)")
    assert wd.verdict is VIOLATED and wd.counterexample is not None and wd.counterexample.replayed
    assert wd.counterexample.steps[0].state["debt"] == 0


def test_a_partial_liquidation_is_still_compared_when_the_ratio_can_be_undefined() -> None:
    partial = (
        BARE_RATIO.replace("debt'       = 0", "debt'       = debt / 2")
        .replace("collateral - debt * (1 + bonus)", "collateral - debt / 2 * (1 + bonus)")
        .replace("debt * (1 + bonus) <= collateral", "debt / 2 * (1 + bonus) <= collateral")
    )
    r = one(run(load(partial), CHECK), f"{CHECK}: liquidate")
    assert r.verdict is VIOLATED


def test_skipped_without_liquidatable_but_not_without_equity_when_health_is_declared() -> None:
    no_liq = load(
        """
        unit USD
        state debt: USD where debt >= 0
        margin:
            health = -debt
        action repay when debt > 0:
            debt' = 0
        """
    )
    (r,) = run(no_liq, CHECK)
    assert r.verdict is SKIPPED and "liquidatable" in r.reason
    no_equity = load(
        """
        unit USD
        state debt: USD where debt >= 0
        state collateral: USD where collateral >= 0
        margin:
            health = collateral - debt
            liquidatable when collateral < debt
        action liquidate when liquidatable:
            debt' = debt - collateral
            collateral' = 0
        """
    )
    assert one(run(no_equity, CHECK), f"{CHECK}: liquidate").verdict is PROVED


# ---- both back ends compute the same measure ---------------------------------------------


def _agree(text: str, state: dict[str, Any], inputs: dict[str, Any]) -> None:
    """Z3's term for the measure, with every value fixed, equals the engine's `health_measure` (or both undefined)."""
    spec = load(text)
    eng = spec.engine
    p = eng.Params()
    s, i = eng.State(**state), eng.Inputs(**inputs)
    enc = Encoder(spec.program)
    f = enc.frame("s")
    if spec.program.role("health") is not None:
        term, ok = f.role("health")
    else:
        (eq, oke), (m, okm) = f.role("equity"), f.role("maintenance")
        term, ok = eq - m, z3.And(oke, okm)
    solver = z3.Solver()
    for prm in spec.program.params:
        solver.add(enc.param(prm.sym.name, None) == z3.RealVal(str(getattr(p, prm.sym.name))))
    for sym in (*spec.program.states, *spec.program.inputs):
        value = {**state, **inputs}[sym.name]
        solver.add(f.var(sym, None) == z3.RealVal(str(Fraction(value))))
    assert solver.check() == z3.sat
    model = solver.model()
    defined = z3.is_true(model.eval(ok, model_completion=True))
    try:
        got = eng.health_measure(p, s, i)
    except eng.UndefinedError:
        assert not defined
        return
    assert defined
    value = model.eval(term, model_completion=True)
    assert Fraction(value.as_fraction()) == got  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "state", "inputs"),
    [
        (LENDING, {"collateral": 100, "debt": 90}, {}),
        (LENDING, {"collateral": 100, "debt": 0}, {}),
        (without_health(LENDING), {"collateral": 7, "debt": 5}, {}),
        (CLOSING, {"collateral": 3, "size": Fraction(-1, 2), "entry": 10}, {"mark": 11}),
        (CLOSING, {"collateral": 3, "size": 0, "entry": 10}, {"mark": 11}),
        (BARE_RATIO, {"collateral": 100, "debt": 90}, {}),
        (BARE_RATIO, {"collateral": 100, "debt": 0}, {}),
    ],
)
def test_z3_and_the_engine_agree_on_the_measure(text: str, state: dict[str, Any], inputs: dict[str, Any]) -> None:
    _agree(text, state, inputs)


_AMOUNT = st.fractions(min_value=-1000, max_value=1000, max_denominator=1000)


@settings(max_examples=25, deadline=None)
@given(
    text=st.sampled_from([LENDING, without_health(LENDING), BARE_RATIO, CLOSING, without_health(CLOSING)]),
    a=_AMOUNT.map(abs),
    b=_AMOUNT.map(abs) | st.just(Fraction(0)),
    size=_AMOUNT | st.just(Fraction(0)),
    mark=_AMOUNT.filter(lambda x: x != 0).map(abs),
)
def test_z3_and_the_engine_agree_on_random_states(
    text: str, a: Fraction, b: Fraction, size: Fraction, mark: Fraction
) -> None:
    if "size" in text:
        _agree(text, {"collateral": a, "size": size, "entry": b + 1}, {"mark": mark})
    else:
        _agree(text, {"collateral": a, "debt": b}, {})


def test_engine_exposes_the_measure() -> None:
    declared = load(LENDING).engine
    assert declared.HEALTH == "health" and declared.NAMES["health"] == "health"
    p, s, i = declared.Params(), declared.State(collateral=100, debt=90), declared.Inputs()
    assert declared.health_measure(p, s, i) == declared.health(p, s, i) == Fraction(8, 9)
    plain = load("unit USD\nstate x: USD\nmargin:\n    equity = x\n").engine
    assert plain.HEALTH == "" and not hasattr(plain, "health_measure")


def test_a_spec_name_health_measure_is_renamed_not_shadowed() -> None:
    eng = load(without_health(LENDING) + "\nlet health_measure: USD = 2 * debt\n").engine
    p, s, i = eng.Params(), eng.State(collateral=10, debt=3), eng.Inputs()
    assert eng.NAMES["health_measure"] != "health_measure"
    assert getattr(eng, eng.NAMES["health_measure"])(p, s, i) == 6
    assert eng.health_measure(p, s, i) == eng.equity(p, s, i) - eng.maintenance(p, s, i)


# ---- the measure's kind and unit ----------------------------------------------------------


def test_any_unit_is_accepted_and_not_compared_with_equity() -> None:
    spec = load(CLOSING.replace("if maintenance > 0 then equity / maintenance else 1_000_000", "size * mark"))
    sym = spec.program.role("health")
    assert sym is not None and str(sym.ty) == "USD"
    ratio = load(CLOSING).program.role("health")
    assert ratio is not None and str(ratio.ty) == "rate"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("health = equity >= maintenance", "not-a-quantity"),
        ("health = liquidatable", "not-a-quantity"),
        ("health = health_facter", "undefined"),
        ("health when equity > 0", "role-form"),
        ("healt = equity", "unknown-role"),
    ],
)
def test_malformed_measure_is_a_located_error(line: str, code: str) -> None:
    text = without_health(LENDING).replace("    liquidatable when", f"    {line}\n    liquidatable when")
    with pytest.raises(SpecError) as err:
        dsl.loads(text, "t.margin")
    (diag,) = err.value.diagnostics
    assert diag.code == code and diag.span is not None and diag.span.line == 11
    assert diag.hint


def test_health_is_declared_once() -> None:
    text = LENDING.replace("    liquidatable when", "    health = equity\n    liquidatable when")
    with pytest.raises(SpecError) as err:
        load(text)
    assert [d.code for d in err.value.diagnostics] == ["duplicate"]


def test_printer_round_trips_the_role() -> None:
    text = textwrap.dedent(LENDING).lstrip("\n")
    module = parse(SourceFile("t.margin", text))
    printed = module_to_source(module)
    assert "health = if debt > 0 then collateral * lt / debt else 1_000_000" in printed
    assert parse(SourceFile("printed", printed)) == module


# ---- Aave v3 at its published parameters --------------------------------------------------


def test_aave_example_declares_its_health_factor_and_proves_the_check() -> None:
    spec = dsl.load(EXAMPLES / "aave_v3_lending.margin")
    assert spec.program.role("health") is not None
    assert one(run(spec, CHECK), f"{CHECK}: liquidate").verdict is PROVED


def test_aave_rule_lowers_the_health_factor_at_published_parameters() -> None:
    """examples/bad/aave_health_factor_spiral.margin: Aave v3's own rule, found at the defaults."""
    spec = dsl.load(EXAMPLES / "bad" / "aave_health_factor_spiral.margin")
    r = one(run(spec, CHECK, all_defaults=True), f"{CHECK}: liquidate")
    assert r.verdict is VIOLATED
    eng, p, s, i, t = replay(spec, r)
    hf0, hf1 = eng.health_factor(p, s, i), eng.health_factor(p, t, i)
    assert hf1 < hf0 < 1
    assert eng.equity(p, t, i) - eng.maintenance(p, t, i) >= eng.equity(p, s, i) - eng.maintenance(p, s, i)
    # Below the floor lt * (1 + bonus) of the collateral taken (WETH here: 0.8715).
    taken = [a for a in ("WETH", "WBTC") if t.supplied[a] < s.supplied[a]]
    assert taken and all(hf0 < p.lt[a] * (1 + p.bonus[a]) for a in taken)


def test_aave_fix_refuses_the_spiral_and_still_lets_the_position_close() -> None:
    """The worked scenario of the bad variant's header on both engines."""
    zero = {"WETH": "0", "WBTC": "0"}
    prices = {"WETH": "1", "WBTC": "60000"}
    for name, partial_allowed in (("aave_v3_lending.margin", False), ("bad/aave_health_factor_spiral.margin", True)):
        eng = dsl.load(EXAMPLES / name).engine
        p = eng.Params()
        s = eng.State(
            supplied={"WETH": "1.0125", "WBTC": "0"},
            held=zero,
            seized=zero,
            debt="1",
            cash="0",
            pool_cash="0",
            liquidator_usdc="0",
            deficit="0",
        )
        i = eng.Inputs(price=prices)
        assert eng.health_factor(p, s, i) == Fraction("0.840375") and eng.liquidatable(p, s, i)
        if partial_allowed:
            t = eng.liquidate(p, s, i, "0.25", "0")
            assert eng.health_factor(p, t, i) == Fraction("0.83")
        else:
            with pytest.raises(eng.GuardError):
                eng.liquidate(p, s, i, "0.25", "0")
            t = eng.liquidate(p, s, i, "1", "0")  # HF <= 0.95: the close factor is 100%
            assert t.debt == 0 and eng.health_factor(p, t, i) > eng.health_factor(p, s, i)
