"""Forced actions with arguments: the spec chooses them, and both back ends take the same ones.

`forced action cool(d: USD = m - floor) when ...` is enabled when its guard holds at the chosen
value of `d` (computed from the state before the step). While it is enabled, the model checker's
only steps are the enabled forced actions, taken with exactly their chosen arguments, and the
engine refuses every other step and any other arguments (GuardError). Where it is not enabled it
is an ordinary action. These tests pin that agreement: an invariant PROVED only because the
forced step pre-empts an env move (VIOLATED without `forced`, replayed on the engine), a trace
through the forced step replayed with its chosen argument, and the engine's refusals.
"""

from __future__ import annotations

import textwrap
from fractions import Fraction

import pytest
from test_bmc import PROVED, VIOLATED, invariants, load, replay_on_engine

import dsl
from checker import Options, configure
from checker.run import run_checks
from dsl.diagnostics import SourceFile
from dsl.parser import parse
from dsl.printer import module_to_source

# `m` climbs by up to 20 per env move; above 10 the forced step brings it back down to `floor`.
COOL = """
spec "forced action with a chosen argument"
unit USD
param floor: USD = 5 in [0, 10]
state m: USD
{forced}action cool(d: USD{choice}) when m > 10 and d > 0:
    m' = m - d
env e: m' in [m, m + 20]
init: m == 0
invariant {invariant}
"""


def cool(forced: bool = True, choice: str = "m - floor", invariant: str = "capped: m <= 30") -> str:
    return COOL.format(
        forced="forced " if forced else "", choice=f" = {choice}" if forced else "", invariant=invariant
    )


def test_the_forced_step_with_its_chosen_argument_keeps_the_invariant() -> None:
    r = invariants(load(cool()), depth=3)["invariant: capped"]
    assert r.verdict is PROVED, r.reason
    assert r.proof.startswith("inductive")


def test_without_forced_a_second_env_move_breaks_it_and_the_trace_replays() -> None:
    spec = load(cool(forced=False))
    r = invariants(spec, depth=3)["invariant: capped"]
    assert r.verdict is VIOLATED
    cex = r.counterexample
    assert cex is not None and cex.replayed is True
    assert [s.label for s in cex.steps] == ["init", "1: e", "2: e"]
    trace = replay_on_engine(spec, cex)
    assert trace[-1][0].m > 30


def test_a_trace_through_the_forced_step_carries_its_chosen_argument() -> None:
    # The chosen value overshoots (m + 1), so the forced step itself makes m negative.
    spec = load(cool(choice="m + 1", invariant="nonneg: m >= 0"))
    r = invariants(spec, depth=3)["invariant: nonneg"]
    assert r.verdict is VIOLATED
    cex = r.counterexample
    assert cex is not None and cex.replayed is True
    last = cex.steps[-1]
    assert last.label.endswith(": cool")
    before = cex.steps[-2].state["m"]
    assert last.args == {"d": before + 1}  # exactly the chosen value, not one the solver picked
    replay_on_engine(spec, cex)


ENGINE = textwrap.dedent("""
    spec "forced, else ordinary"
    unit USD
    state m: USD
    forced action trim(d: USD = m - 20) when d > 0 and d <= m:
        m' = m - d
    action spend(x: USD) when x > 0:
        m' = m - x
    env e: m' in [m, m + 20]
""").lstrip()


def test_the_engine_takes_the_forced_step_with_its_chosen_argument_and_refuses_others() -> None:
    eng = dsl.loads(ENGINE, "engine.margin").engine
    GuardError = eng.GuardError
    p, i = eng.Params(), eng.Inputs()
    high = eng.State(m=Fraction(25))
    assert eng.trim(p, high, i).m == 20  # arguments omitted: the chosen d = 5
    assert eng.trim(p, high, i, 5).m == 20  # the chosen value given explicitly
    with pytest.raises(GuardError, match=r"is enabled and is taken with its chosen arguments: d = 5"):
        eng.trim(p, high, i, 3)
    with pytest.raises(GuardError, match=r"action 'spend': forced action 'trim' is enabled"):
        eng.spend(p, high, i, 1)
    with pytest.raises(GuardError, match=r"env move 'e': forced action 'trim' is enabled"):
        eng.e(p, high, i, {"m": 30})
    # Not enabled (the chosen d = -5 fails the guard): an ordinary action, with any argument it admits.
    low = eng.State(m=Fraction(15))
    assert eng.trim(p, low, i, 3).m == 12
    assert eng.spend(p, low, i, 1).m == 14
    with pytest.raises(GuardError, match="its guard does not hold"):
        eng.trim(p, low, i)  # the chosen value itself


def test_the_model_checker_takes_the_forced_action_as_an_ordinary_one_only_where_it_is_not_enabled() -> None:
    # From m = 25 the only step is trim(5): trim(3) or spend(3), which would reach 22 at once, are
    # refused. From 20 trim is not enabled (chosen d = 0), so an env move reaches 22 at depth 2.
    spec = dsl.loads(ENGINE + "init: m == 25\ninvariant no_22: m != 22\n", "engine.margin")
    r = invariants(spec, depth=2)["invariant: no_22"]
    assert r.verdict is VIOLATED
    cex = r.counterexample
    assert cex is not None and cex.replayed is True
    assert [s.label for s in cex.steps] == ["init", "1: trim", "2: e"]
    assert cex.steps[1].args == {"d": 5}


def test_a_chosen_value_that_can_fail_is_a_well_defined_violation_replayed() -> None:
    text = cool(choice="m - floor * (m / k)").replace("state m: USD", "state m: USD\nstate k: USD")
    configure(0)
    results = {r.name: r for r in run_checks(load(text), Options(depth=2), only=["well-defined"])}
    r = results["well-defined: chosen arguments of `cool` (division at line 6)"]
    assert r.verdict is VIOLATED
    assert r.counterexample is not None and r.counterexample.replayed is True


def test_the_printer_keeps_the_chosen_value() -> None:
    module = parse(SourceFile("t.margin", textwrap.dedent(cool()).lstrip("\n")))
    printed = module_to_source(module)
    assert "forced action cool(d: USD = m - floor) when" in printed
    assert parse(SourceFile("printed", printed)) == module
