"""The built-in check catalogue, both ways: each check finds a seeded error and proves the fix.

For every id in `checker.catalogue` there is a bad spec (the check must say
VIOLATED, under its exact name, with a counterexample the checker replayed on
the engine) and its corrected version (the check must say PROVED; UNKNOWN is
never a pass). Independently of the checker's own replay, each
counterexample is re-evaluated here on the generated engine (`spec.engine`)
to confirm that its values really break the property. Checks that report a
missing witness (reachability, vacuity, satisfiable parameters and
`where`s, table gaps and overlaps) carry no counterexample state and are
tested by verdict and reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from checking import load, named, run

import dsl
from checker import Verdict
from checker.checks.catalogue import IDS
from checker.core.results import CheckResult, Counterexample

ROOT = Path(__file__).resolve().parent.parent
PROVED, VIOLATED, UNKNOWN, SKIPPED = Verdict.PROVED, Verdict.VIOLATED, Verdict.UNKNOWN, Verdict.SKIPPED


# ---- helpers ------------------------------------------------------------------------





def violated_names(results: list[CheckResult]) -> list[str]:
    return [r.name for r in results if r.verdict is VIOLATED]


def assert_all_proved(results: list[CheckResult]) -> None:
    """Every result PROVED, except the `property` line of a spec that declares none (SKIPPED, with why)."""
    assert results
    for r in results:
        if r.name == "property" and r.verdict is SKIPPED:
            assert r.reason == "the spec declares no `property`"
            continue
        assert r.verdict is PROVED, (r.name, r.verdict, r.reason)


def assert_violation(r: CheckResult) -> Counterexample:
    """VIOLATED, with a counterexample the checker says it replayed on the engine."""
    assert r.verdict is VIOLATED, (r.name, r.verdict, r.reason)
    assert r.counterexample is not None, r.reason
    assert r.counterexample.replayed is True
    return r.counterexample


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(textwrap.dedent(text).lstrip("\n").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


class Eng:
    """Builds the engine's Params/State/Inputs from counterexample values, independently of the checker."""

    def __init__(self, spec: dsl.Spec, cex: Counterexample) -> None:
        self.m: types.ModuleType = spec.engine
        self.cex = cex
        self.params = self.m.Params(**{self.m.FIELDS[k]: v for k, v in cex.params.items()})

    def state(self, i: int) -> Any:
        return self.m.State(**{self.m.FIELDS[k]: v for k, v in self.cex.steps[i].state.items()})

    def inputs(self, i: int) -> Any:
        return self.m.Inputs(**{self.m.FIELDS[k]: v for k, v in self.cex.steps[i].inputs.items()})

    def objs(self, i: int) -> tuple[Any, Any, Any]:
        return self.params, self.state(i), self.inputs(i)

    def let(self, name: str, i: int = 0) -> Any:
        return getattr(self.m, self.m.NAMES[name])(*self.objs(i))

    def formula(self, key: str, i: int = 0) -> Any:
        return getattr(self.m, self.m.FORMULAS[key])(*self.objs(i))

    def valid(self, i: int = 0) -> bool:
        """Parameters satisfy the `assume`s (ranges are checked by Params) and state i every `where`."""
        return bool(self.m.assumptions_hold(self.params) and self.m.where_holds(*self.objs(i)))

    def action(self, name: str, i: int, *args: Any) -> Any:
        fn = getattr(self.m, self.m.STEPS[name])
        return fn(self.params, self.state(i), self.inputs(i), *args)

    def env(self, name: str, i: int, choice: dict[str, Any]) -> tuple[Any, Any]:
        fn = getattr(self.m, self.m.STEPS[name])
        return fn(self.params, self.state(i), self.inputs(i), choice)  # type: ignore[no-any-return]

    def same_state(self, obj: Any, i: int) -> bool:
        return all(getattr(obj, self.m.FIELDS[k]) == v for k, v in self.cex.steps[i].state.items())


# ---- fixtures: a linear perpetual, isolated margin -------------------------------------

HEAD = """
spec "test perpetual"
unit USD, BTC
param imr: rate = 0.1    in [0.01, 0.5]
param mmr: rate = 0.05   in [0.005, 0.25]
param fee: rate = 0.001  in [0, 0.01]
param max_move: rate = 0.01 in [0, 0.5]
{assume}
state collateral: USD        where collateral >= 0
state size: BTC
state entry: USD/BTC         where entry > 0
state insurance: USD
input mark: USD/BTC          where mark > 0
let notional: USD = abs(size) * mark
"""

MARGIN = """
margin:
    equity      = collateral + size * (mark - entry)
    initial     = notional * imr
    maintenance = {maintenance}
    liquidatable when {liquidatable}
"""

LIQUIDATE_OK = """
action liquidate when liquidatable:
    size'       = 0
    collateral' = max(equity - notional * fee, 0)
    insurance'  = insurance + min(notional * fee, max(equity, 0)) + min(equity, 0)
"""


def perp(extra: str = "", *, assume: str = "assume mmr < imr", maintenance: str = "notional * mmr",
         liquidatable: str = "equity < maintenance", head: str = HEAD) -> str:
    return (textwrap.dedent(head).format(assume=assume)
            + textwrap.dedent(MARGIN).format(maintenance=maintenance, liquidatable=liquidatable)
            + textwrap.dedent(extra))


def test_every_catalogue_id_is_covered_here() -> None:
    covered = {"well-defined", "requirement-nonnegative", "maintenance-le-initial", "requirement-monotone",
               "liquidation-reachable", "insolvent-implies-liquidatable", "liquidation-improves-health",
               "liquidation-no-bad-debt", "gap-safety", "conservation", "vacuity", "property", "invariant",
               "liquidation-enabled"}
    # `invariant` is covered in tests/test_bmc.py, `liquidation-enabled` in tests/test_trigger.py
    assert set(IDS) == covered


def test_the_plain_perpetual_passes_the_single_state_catalogue() -> None:
    spec = load(perp(LIQUIDATE_OK + "conserved value: collateral + size * (mark - entry) + insurance\n"))
    results = run(spec, [i for i in IDS if i not in ("gap-safety", "invariant")])
    assert_all_proved(results)
    assert {r.id for r in results} == set(IDS) - {"gap-safety", "invariant"}


# ---- well-defined ---------------------------------------------------------------------


def test_well_defined_finds_a_division_by_a_possibly_zero_value() -> None:
    text = perp("let leverage: rate = notional / collateral\n")
    spec = load(text)
    results = run(spec, "well-defined")
    name = f"well-defined: `leverage` (division at line {line_of(text, 'let leverage')})"
    assert violated_names(results) == [name]
    r = named(results, name)
    assert "division by zero" in r.reason
    cex = assert_violation(r)
    e = Eng(spec, cex)
    assert e.valid(0)
    assert cex.steps[0].state["collateral"] == 0
    with pytest.raises(e.m.UndefinedError):
        e.let("leverage")
    assert isinstance(cex.steps[0].lets["leverage"], str) and "undefined" in cex.steps[0].lets["leverage"]


def test_well_defined_proves_a_guarded_division() -> None:
    spec = load(perp("let leverage: rate = if collateral > 0 then notional / collateral else 0\n"))
    assert_all_proved(run(spec, "well-defined"))


TIERS_GAP = """
table tier(n: USD) -> rate:
    [0, 50_000)        -> 0.004
    [60_000, inf)      -> 0.005
let tier_rate: rate = tier(notional)
"""

TIERS_OVERLAP = """
table tier(n: USD) -> rate:
    [0, 60_000)        -> 0.004
    [50_000, inf)      -> 0.005
let tier_rate: rate = tier(notional)
"""

TIERS_OK = """
table tier(n: USD) -> rate:
    [0, 50_000)        -> 0.004
    [50_000, inf)      -> 0.005
let tier_rate: rate = tier(notional)
"""


def test_well_defined_finds_a_table_gap() -> None:
    text = perp(TIERS_GAP)
    spec = load(text)
    results = run(spec, "well-defined")
    use = f"well-defined: `tier_rate` (table at line {line_of(text, 'let tier_rate')})"
    assert violated_names(results) == [use, "well-defined: table `tier` (gaps)"]
    gap = named(results, "well-defined: table `tier` (gaps)")
    assert "gap" in gap.reason and gap.counterexample is None
    assert named(results, "well-defined: table `tier` (overlaps)").verdict is PROVED
    # the use of the table in a let: a notional in the gap, replayed
    cex = assert_violation(named(results, use))
    e = Eng(spec, cex)
    assert e.valid(0)
    assert 50_000 <= e.let("notional") < 60_000
    with pytest.raises(e.m.UndefinedError):
        e.let("tier_rate")


def test_well_defined_finds_a_table_overlap() -> None:
    spec = load(perp(TIERS_OVERLAP))
    results = run(spec, "well-defined")
    assert violated_names(results) == ["well-defined: table `tier` (overlaps)"]
    r = named(results, "well-defined: table `tier` (overlaps)")
    assert "overlap" in r.reason and "2 brackets hold it" in r.reason
    assert named(results, "well-defined: table `tier` (gaps)").verdict is PROVED


def test_well_defined_proves_contiguous_tiers() -> None:
    assert_all_proved(run(load(perp(TIERS_OK)), "well-defined"))


def test_values_below_the_first_bracket_are_the_callers_problem_not_a_table_gap() -> None:
    # A table whose first bracket starts at 10 has no gap *between* brackets; values below 10 are a
    # definedness problem of the let that calls it, not of the table.
    text = perp("""
    table tier(n: USD) -> rate:
        [10, 50_000)   -> 0.004
        [50_000, inf)  -> 0.005
    let tier_rate: rate = tier(notional)
    """)
    results = run(load(text), "well-defined")
    assert named(results, "well-defined: table `tier` (gaps)").verdict is PROVED
    use = f"well-defined: `tier_rate` (table at line {line_of(text, 'let tier_rate')})"
    assert violated_names(results) == [use]


ROUNDING = """
param tick: USD = 0.01 in [{lo}, 1]
let fee_paid: USD = round_down(notional * fee, tick)
"""


def test_well_defined_finds_round_down_with_a_possibly_zero_step() -> None:
    text = perp(ROUNDING.format(lo="0"))
    spec = load(text)
    results = run(spec, "well-defined")
    name = f"well-defined: `fee_paid` (round_down at line {line_of(text, 'let fee_paid')})"
    assert violated_names(results) == [name]
    cex = assert_violation(named(results, name))
    assert cex.params["tick"] <= 0
    e = Eng(spec, cex)
    assert e.valid(0)
    with pytest.raises(e.m.UndefinedError):
        e.let("fee_paid")


def test_well_defined_proves_round_down_with_a_positive_step() -> None:
    assert_all_proved(run(load(perp(ROUNDING.format(lo="0.01"))), "well-defined"))


def test_well_defined_finds_unsatisfiable_assumptions() -> None:
    spec = load(perp(assume="assume mmr < imr\nassume mmr > 0.3"))
    results = run(spec, "well-defined")
    r = named(results, "well-defined: parameter space")
    assert r.verdict is VIOLATED
    assert "no parameter value satisfies" in r.reason
    assert r.counterexample is None


def test_well_defined_proves_satisfiable_assumptions() -> None:
    r = named(run(load(perp(assume="assume mmr < imr\nassume mmr > 0.2")), "well-defined"),
              "well-defined: parameter space")
    assert r.verdict is PROVED and "satisfy" in r.reason


WHERE_HEAD = HEAD.replace("state collateral: USD        where collateral >= 0",
                          "state collateral: USD        where collateral >= {floor}")


def test_well_defined_finds_unsatisfiable_wheres() -> None:
    # every valid collateral must be at least `min_deposit`, and the same state also caps it below that
    head = WHERE_HEAD.format(assume="{assume}", floor="min_deposit and collateral < min_deposit - 1")
    head = head.replace("{assume}", "param min_deposit: USD = 10 in [0, 100]\n{assume}")
    spec = load(perp(head=head))
    results = run(spec, "well-defined")
    assert named(results, "well-defined: parameter space").verdict is PROVED
    r = named(results, "well-defined: where-constraints")
    assert r.verdict is VIOLATED and "no state satisfies" in r.reason and r.counterexample is None


def test_well_defined_proves_satisfiable_wheres() -> None:
    head = WHERE_HEAD.format(assume="{assume}", floor="min_deposit")
    head = head.replace("{assume}", "param min_deposit: USD = 10 in [0, 100]\n{assume}")
    r = named(run(load(perp(head=head)), "well-defined"), "well-defined: where-constraints")
    assert r.verdict is PROVED


# ---- requirement-nonnegative, maintenance-le-initial, requirement-monotone ------------------


def test_requirement_nonnegative_finds_a_negative_maintenance() -> None:
    spec = load(perp(maintenance="notional * mmr - 100"))
    results = run(spec, "requirement-nonnegative")
    assert violated_names(results) == ["requirement-nonnegative: maintenance"]
    cex = assert_violation(named(results, "requirement-nonnegative: maintenance"))
    e = Eng(spec, cex)
    assert e.valid(0)
    assert e.let("maintenance") < 0
    assert cex.steps[0].lets["maintenance"] == e.let("maintenance")
    assert named(results, "requirement-nonnegative: initial").verdict is PROVED


def test_requirement_nonnegative_proves_a_floored_maintenance() -> None:
    assert_all_proved(run(load(perp(maintenance="max(notional * mmr - 100, 0)")), "requirement-nonnegative"))


def test_maintenance_le_initial_finds_mmr_above_imr_without_the_assume() -> None:
    spec = load(perp(assume=""))
    results = run(spec, "maintenance-le-initial")
    assert violated_names(results) == ["maintenance-le-initial"]
    cex = assert_violation(results[0])
    e = Eng(spec, cex)
    assert e.valid(0)
    assert e.let("maintenance") > e.let("initial")
    assert cex.params["mmr"] > cex.params["imr"]


def test_maintenance_le_initial_proves_with_the_assume() -> None:
    assert_all_proved(run(load(perp(assume="assume mmr <= imr")), "maintenance-le-initial"))


def tiered(cum: str) -> str:
    """Tiers with a cumulative maintenance amount: correct `cum` is 50_000 * (0.005 - 0.004) = 50."""
    return perp(f"""
    table mmr_tier(n: USD) -> (rate, USD):
        [0, 50_000)        -> 0.004, 0
        [50_000, 250_000)  -> 0.005, {cum}
        [250_000, inf)     -> 0.010, 1_300
    let (tier_rate, tier_amount) = mmr_tier(notional)
    """, maintenance="notional * tier_rate - tier_amount", assume="assume 0.01 < imr")


def test_requirement_monotone_finds_a_wrong_cumulative_amount() -> None:
    spec = load(tiered("100"))  # should be 50: the requirement drops by 50 at the 50_000 edge
    results = run(spec, "requirement-monotone")
    assert violated_names(results) == ["requirement-monotone: maintenance"]
    assert named(results, "requirement-monotone: initial").verdict is PROVED
    cex = assert_violation(named(results, "requirement-monotone: maintenance"))
    assert [s.label for s in cex.steps] == ["smaller position", "larger position"]
    e = Eng(spec, cex)
    assert e.valid(0) and e.valid(1)
    small, large = e.state(0), e.state(1)
    assert e.inputs(0) == e.inputs(1)  # the same price
    assert abs(large.size) >= abs(small.size) and large.size * small.size >= 0  # the position grew
    assert (small.collateral, small.entry) == (large.collateral, large.entry)
    assert e.let("maintenance", 1) < e.let("maintenance", 0)
    assert e.let("notional", 0) < 50_000 <= e.let("notional", 1)  # it is the bracket edge


def test_requirement_monotone_proves_the_right_cumulative_amounts() -> None:
    results = run(load(tiered("50")), "requirement-monotone")
    assert_all_proved(results)
    assert [r.name for r in results] == ["requirement-monotone: initial", "requirement-monotone: maintenance"]


def test_requirement_monotone_finds_a_wrong_amount_in_the_last_bracket() -> None:
    # the correct amount at 250_000 is 50 + 250_000 * (0.010 - 0.005) = 1_300
    text = tiered("50").replace("0.010, 1_300", "0.010, 1_400")
    spec = load(text)
    cex = assert_violation(named(run(spec, "requirement-monotone"), "requirement-monotone: maintenance"))
    e = Eng(spec, cex)
    assert e.let("notional", 0) < 250_000 <= e.let("notional", 1)
    assert e.let("maintenance", 1) < e.let("maintenance", 0)


# ---- liquidation ------------------------------------------------------------------------


def test_liquidation_reachable_finds_a_guard_no_state_satisfies() -> None:
    spec = load(perp(liquidatable="equity < maintenance and collateral < 0"))
    results = run(spec, "liquidation-reachable")
    assert [(r.name, r.verdict) for r in results] == [("liquidation-reachable", VIOLATED)]
    assert "never trigger" in results[0].reason and results[0].counterexample is None


def test_liquidation_reachable_proves_the_usual_guard() -> None:
    results = run(load(perp()), "liquidation-reachable")
    assert [(r.name, r.verdict) for r in results] == [("liquidation-reachable", PROVED)]
    assert "liquidatable" in results[0].reason


def test_insolvent_implies_liquidatable_finds_a_guard_on_collateral_instead_of_equity() -> None:
    spec = load(perp(liquidatable="collateral < maintenance"))  # forgets the unrealised loss
    results = run(spec, "insolvent-implies-liquidatable")
    assert violated_names(results) == ["insolvent-implies-liquidatable"]
    cex = assert_violation(results[0])
    e = Eng(spec, cex)
    assert e.valid(0)
    assert e.let("equity") < 0
    assert e.let("liquidatable") is False


def test_insolvent_implies_liquidatable_proves_the_equity_guard() -> None:
    assert_all_proved(run(load(perp()), "insolvent-implies-liquidatable"))


LENDING = """
spec "test lending"
unit USD
param lt: rate    = 0.8  in [0.5, 0.95]
param bonus: rate = 0.05 in [0, 0.2]
{assume}
state coll: USD where coll >= 0
state debt: USD where debt >= 0
margin:
    equity      = coll - debt
    maintenance = coll * (1 - lt)
    liquidatable when equity < maintenance
action liquidate(repay: USD) when liquidatable and repay > 0 and repay <= debt and repay * (1 + bonus) <= coll:
    debt' = debt - repay
    coll' = coll - repay * (1 + bonus)
"""


def test_liquidation_improves_health_finds_the_lending_spiral() -> None:
    spec = load(LENDING.format(assume=""))
    results = run(spec, "liquidation-improves-health")
    assert violated_names(results) == ["liquidation-improves-health: liquidate"]
    cex = assert_violation(results[0])
    assert [s.label for s in cex.steps] == ["before", "after liquidate"]
    p = cex.params
    assert p["lt"] * (1 + p["bonus"]) > 1  # the constraint the check discovers
    e = Eng(spec, cex)
    assert e.valid(0)
    repay = cex.steps[1].args["repay"]
    after = e.action("liquidate", 0, repay)
    assert e.same_state(after, 1)
    health0 = e.let("equity", 0) - e.let("maintenance", 0)
    health1 = e.let("equity", 1) - e.let("maintenance", 1)
    assert health1 < health0


def test_liquidation_improves_health_proves_when_lt_times_one_plus_bonus_is_at_most_one() -> None:
    assert_all_proved(run(load(LENDING.format(assume="assume lt * (1 + bonus) <= 1")),
                          "liquidation-improves-health"))


LIQUIDATE_BAD_DEBT = """
action liquidate when liquidatable:
    size'       = 0
    collateral' = equity - notional * fee
    insurance'  = insurance + notional * fee
"""


def test_liquidation_no_bad_debt_finds_a_fee_charged_from_a_bankrupt_account() -> None:
    spec = load(perp(LIQUIDATE_BAD_DEBT))
    results = run(spec, "liquidation-no-bad-debt")
    assert violated_names(results) == ["liquidation-no-bad-debt: liquidate"]
    cex = assert_violation(results[0])
    e = Eng(spec, cex)
    assert e.valid(0)
    after = e.action("liquidate", 0)
    assert e.same_state(after, 1)
    assert (not e.m.where_holds(e.params, after, e.inputs(1))) or e.let("equity", 1) < 0
    assert after.collateral < 0
    # The report names the `where` the state after the liquidation breaks, with its place.
    line = next(i for i, s in enumerate(spec.source.text.splitlines(), 1) if s.startswith("state collateral"))
    assert f"`liquidate` leaves a state where the `where` of `collateral` (t.margin:{line}) fails" in (
        results[0].reason
    ), results[0].reason
    assert "a `where` fails" not in results[0].reason


def test_liquidation_no_bad_debt_proves_a_liquidation_that_floors_at_zero() -> None:
    assert_all_proved(run(load(perp(LIQUIDATE_OK)), "liquidation-no-bad-debt"))


# ---- gap-safety ---------------------------------------------------------------------------

MOVE = "env move: mark' in [mark * (1 - max_move), mark * (1 + max_move)]\n"


def test_gap_safety_finds_a_move_larger_than_the_maintenance_rate() -> None:
    spec = load(perp(MOVE))
    results = run(spec, "gap-safety")
    assert violated_names(results) == ["gap-safety: move"]
    cex = assert_violation(results[0])
    assert cex.params["max_move"] > cex.params["mmr"]
    e = Eng(spec, cex)
    assert e.valid(0)
    assert e.let("liquidatable", 0) is False
    state, inputs = e.env("move", 0, {"mark": cex.steps[1].inputs["mark"]})
    assert e.same_state(state, 1) and inputs == e.inputs(1)
    assert e.m.where_holds(e.params, state, inputs)
    assert getattr(e.m, e.m.NAMES["equity"])(e.params, state, inputs) < 0


def test_gap_safety_proves_a_move_bounded_by_an_assume() -> None:
    spec = load(perp(MOVE, assume="assume mmr < imr\nassume max_move <= mmr"))
    assert_all_proved(run(spec, "gap-safety"))


# ---- conservation -------------------------------------------------------------------------

CONSERVED = "conserved value: collateral + size * (mark - entry) + insurance\n"
LIQUIDATE_FEE_LEAKS = """
action liquidate when liquidatable:
    size'       = 0
    collateral' = max(equity - notional * fee, 0)
"""


def test_conservation_finds_a_fee_that_leaves_the_system() -> None:
    spec = load(perp(LIQUIDATE_FEE_LEAKS + CONSERVED))
    results = run(spec, "conservation")
    assert violated_names(results) == ["conservation: value by liquidate"]
    cex = assert_violation(results[0])
    e = Eng(spec, cex)
    assert e.valid(0)
    after = e.action("liquidate", 0)
    assert e.same_state(after, 1)
    assert e.formula("conserved:value", 0) != e.formula("conserved:value", 1)


def test_conservation_proves_a_fee_credited_to_the_insurance_fund() -> None:
    results = run(load(perp(LIQUIDATE_OK + CONSERVED)), "conservation")
    assert [r.name for r in results] == ["conservation: value by liquidate"]
    assert_all_proved(results)


# ---- vacuity --------------------------------------------------------------------------------


def vacuity(text: str) -> list[CheckResult]:
    return run(load(text), "vacuity")


def test_vacuity_of_the_plain_perpetual_is_proved() -> None:
    results = vacuity(perp(LIQUIDATE_OK + MOVE + "property m_le_i: maintenance <= initial\n"
                           "property broke: equity < 0 implies liquidatable\n"))
    assert_all_proved(results)


def test_vacuity_finds_a_guard_that_never_holds() -> None:
    text = perp("action withdraw(amount: USD) when amount > 0 and collateral < 0:\n"
                "    collateral' = collateral - amount\n")
    results = vacuity(text)
    assert violated_names(results) == ["vacuity: guard of withdraw can hold"]
    assert "never holds" in named(results, "vacuity: guard of withdraw can hold").reason


def test_vacuity_finds_a_guard_that_always_holds() -> None:
    text = perp("action deposit(amount: USD) when collateral >= 0:\n"
                "    collateral' = collateral + amount\n")
    results = vacuity(text)
    assert violated_names(results) == ["vacuity: guard of deposit can fail"]
    assert "always holds" in named(results, "vacuity: guard of deposit can fail").reason


def test_vacuity_proves_a_guard_that_sometimes_holds() -> None:
    text = perp("action withdraw(amount: USD) when amount > 0 and amount <= collateral:\n"
                "    collateral' = collateral - amount\n")
    results = vacuity(text)
    assert named(results, "vacuity: guard of withdraw can hold").verdict is PROVED
    assert named(results, "vacuity: guard of withdraw can fail").verdict is PROVED


def test_vacuity_finds_an_assume_implied_by_the_ranges() -> None:
    # mmr < 0.01 <= imr whatever the assume says
    text = perp(head=HEAD.replace("= 0.05   in [0.005, 0.25]", "= 0.005  in [0.005, 0.009]"))
    results = vacuity(text)
    name = f"vacuity: assume at line {line_of(text, 'assume mmr < imr')}"
    assert violated_names(results) == [name]
    assert "implied by the parameter ranges" in named(results, name).reason


def test_vacuity_proves_an_assume_that_excludes_something() -> None:
    text = perp()
    assert named(vacuity(text), f"vacuity: assume at line {line_of(text, 'assume mmr < imr')}").verdict is PROVED


def test_vacuity_finds_a_tautological_property() -> None:
    results = vacuity(perp("property taut: abs(size) >= 0 or collateral < 0\n"))
    assert violated_names(results) == ["vacuity: property taut is not a tautology"]
    assert "holds whatever the spec says" in named(results, "vacuity: property taut is not a tautology").reason


def test_vacuity_finds_a_property_whose_premise_never_holds() -> None:
    results = vacuity(perp("property p: collateral < 0 implies liquidatable\n"))
    assert violated_names(results) == ["vacuity: property p applies"]
    assert "never holds" in named(results, "vacuity: property p applies").reason


def test_vacuity_proves_a_property_whose_premise_can_hold() -> None:
    results = vacuity(perp("property p: equity < 0 implies liquidatable\n"))
    assert named(results, "vacuity: property p applies").verdict is PROVED
    assert named(results, "vacuity: property p is not a tautology").verdict is PROVED


def test_vacuity_finds_a_where_that_excludes_nothing() -> None:
    text = perp(head=HEAD.replace("where mark > 0", "where abs(mark) >= 0"))
    results = vacuity(text)
    assert violated_names(results) == ["vacuity: where of mark"]
    assert "excludes nothing" in named(results, "vacuity: where of mark").reason
    assert named(results, "vacuity: where of collateral").verdict is PROVED


def test_vacuity_finds_an_env_move_that_can_never_happen() -> None:
    results = vacuity(perp("env move when collateral < 0: mark' in [mark, mark]\n"))
    assert violated_names(results) == ["vacuity: env move move can happen"]


def test_vacuity_finds_that_every_state_is_liquidatable() -> None:
    results = vacuity(perp(liquidatable="equity <= maintenance or equity >= 0"))
    assert violated_names(results) == ["vacuity: some state is not liquidatable"]


# ---- user properties ----------------------------------------------------------------------


def test_property_finds_a_false_user_property() -> None:
    spec = load(perp(assume="", extra="property m_le_i: maintenance <= initial\n"))
    results = run(spec, "property")
    assert violated_names(results) == ["property: m_le_i"]
    cex = assert_violation(results[0])
    e = Eng(spec, cex)
    assert e.valid(0)
    assert e.formula("property:m_le_i") is False
    assert e.let("maintenance") > e.let("initial")


def test_property_proves_a_true_user_property() -> None:
    results = run(load(perp("property m_le_i: maintenance <= initial\n")), "property")
    assert [(r.name, r.verdict) for r in results] == [("property: m_le_i", PROVED)]
    assert results[0].proof == "single-state"


# ---- SKIPPED, UNKNOWN, options, determinism ---------------------------------------------------

BARE = """
spec "bare"
unit USD
state balance: USD where balance >= 0
"""


def test_checks_are_skipped_with_a_reason_when_the_spec_lacks_what_they_need() -> None:
    results = run(load(BARE), list(IDS))
    skipped = {r.id: r.reason for r in results if r.verdict is SKIPPED}
    assert set(skipped) == {"requirement-nonnegative", "maintenance-le-initial", "requirement-monotone",
                            "liquidation-reachable", "insolvent-implies-liquidatable", "liquidation-enabled",
                            "liquidation-improves-health", "liquidation-no-bad-debt", "gap-safety", "conservation",
                            "invariant", "property"}
    assert all(reason for reason in skipped.values())
    assert "no `property`" in skipped["property"]
    assert "liquidatable" in skipped["liquidation-reachable"]
    assert "no `equity`" in skipped["gap-safety"]
    assert "conserved" in skipped["conservation"]
    assert "init" in skipped["invariant"]
    assert all(r.verdict is not VIOLATED for r in results)


def test_gap_safety_is_skipped_without_an_env_move_and_liquidations_without_a_liquidation_action() -> None:
    spec = load(perp())
    results = run(spec, ["gap-safety", "liquidation-improves-health", "liquidation-no-bad-debt"])
    assert [(r.id, r.verdict) for r in results] == [("liquidation-improves-health", SKIPPED),
                                                    ("liquidation-no-bad-debt", SKIPPED), ("gap-safety", SKIPPED)]
    assert "no action is guarded by `liquidatable`" in results[0].reason
    assert "no `env` move" in results[2].reason


AMGM = """
spec "four exposures"
unit USD
state x: rate
state y: rate
state z: rate
state w: rate where w >= 0
property amgm: x*x*x*x + y*y*y*y + z*z*z*z + w*w*w*w >= 4*x*y*z*w
"""


def test_a_tiny_safety_net_gives_unknown_never_proved_and_says_so() -> None:
    spec = load(AMGM)  # true (AM-GM), nonlinear: nlsat needs tens of milliseconds
    assert [r.verdict for r in run(spec, "property")] == [PROVED]
    results = run(spec, "property", timeout=0.001)
    assert [r.verdict for r in results] == [UNKNOWN]
    assert results[0].reason.startswith("the solver gave up") and "wall-clock safety net" in results[0].reason
    assert "may differ on a faster or less loaded machine" in results[0].reason
    assert "cvc5" in results[0].reason  # the portfolio's members each say why
    assert results[0].counterexample is None


def test_a_tiny_work_limit_gives_unknown_never_proved() -> None:
    results = run(load(AMGM), "property", rlimit=1000)
    assert [r.verdict for r in results] == [UNKNOWN]
    assert "work limit reached" in results[0].reason and "1,000 Z3 resource units" in results[0].reason
    assert "safety net" not in results[0].reason


def test_a_tiny_resource_limit_gives_unknown_never_proved() -> None:
    results = run(load(tiered("50")), "requirement-monotone", rlimit=1)
    assert [r.verdict for r in results] == [UNKNOWN, UNKNOWN]
    assert all("work limit reached" in r.reason for r in results)


def test_defaults_and_pins_change_the_verdicts() -> None:
    spec = load(perp(MOVE))  # max_move ranges up to 0.5, mmr down to 0.005: gap-safety fails
    assert [r.verdict for r in run(spec, "gap-safety")] == [VIOLATED]
    # at the defaults (mmr 0.05, max_move 0.01) one move cannot jump the maintenance margin
    assert [r.verdict for r in run(spec, "gap-safety", all_defaults=True)] == [PROVED]
    # pinning only max_move small enough for every mmr in range proves it too
    assert [r.verdict for r in run(spec, "gap-safety", pins={"max_move": Fraction("0.005")})] == [PROVED]


def test_pinning_mmr_changes_maintenance_le_initial() -> None:
    spec = load(perp(assume=""))
    assert [r.verdict for r in run(spec, "maintenance-le-initial")] == [VIOLATED]
    # imr is at least 0.01, so mmr = 0.005 is always below it
    assert [r.verdict for r in run(spec, "maintenance-le-initial", pins={"mmr": Fraction("0.005")})] == [PROVED]
    results = run(spec, "maintenance-le-initial", pins={"mmr": Fraction("0.2")})
    cex = assert_violation(results[0])
    assert cex.params["mmr"] == Fraction("0.2")  # the violation is at the pinned value
    assert Eng(spec, cex).let("maintenance") > Eng(spec, cex).let("initial")
    assert [r.verdict for r in run(spec, "maintenance-le-initial", all_defaults=True)] == [PROVED]


def _check_json(path: Path, *args: str) -> list[dict[str, object]]:
    out = subprocess.run([sys.executable, "-m", "checker", "check", str(path), "--format", "json", *args],
                         capture_output=True, text=True, check=False, cwd=ROOT)
    assert out.returncode in (0, 1), out.stderr
    checks = json.loads(out.stdout)["specs"][0]["checks"]
    for c in checks:
        c.pop("seconds")
    return checks  # type: ignore[no-any-return]


def test_two_runs_give_identical_verdicts_and_counterexamples(tmp_path: Path) -> None:
    path = tmp_path / "leaky.margin"
    path.write_text(textwrap.dedent(perp(LIQUIDATE_FEE_LEAKS + CONSERVED + MOVE, assume="")).lstrip("\n"))
    ids = ["--only", "maintenance-le-initial", "--only", "gap-safety", "--only", "conservation"]
    first, second = _check_json(path, *ids), _check_json(path, *ids)
    assert first == second
    assert [c["verdict"] for c in first] == ["VIOLATED", "VIOLATED", "VIOLATED"]
    assert all(c["counterexample"]["replayed"] is True for c in first)  # type: ignore[index]


def test_verdicts_are_the_same_in_process() -> None:
    text = perp(LIQUIDATE_FEE_LEAKS + CONSERVED + MOVE, assume="")
    ids = ["maintenance-le-initial", "gap-safety", "conservation", "requirement-monotone"]
    first = [(r.name, r.verdict) for r in run(load(text), ids)]
    assert first == [(r.name, r.verdict) for r in run(load(text), ids)]
    assert [v for _, v in first] == [VIOLATED, PROVED, PROVED, VIOLATED, VIOLATED]


# ---- known gaps (pinned; see the report) ---------------------------------------------------------
# `well-defined` collects partial-operation obligations only from `let`s (checker/checks.py, well_defined:
# `for let, ob in f.obligations`; encode.Frame.let is the only place obligations are kept). A division
# in a property, an action's update or an `assume` is never reported, and because every query conjoins
# the `defined` condition, the states where it fails are silently left out: the check says PROVED while
# the generated engine raises UndefinedError in a valid state.


def test_well_defined_reports_a_division_by_zero_in_a_property() -> None:
    spec = load(perp("property leverage_nonnegative: notional / collateral >= 0\n"))
    eng = spec.engine
    params = eng.Params()
    state, inputs = eng.State(collateral=0, size=1, entry=1, insurance=0), eng.Inputs(mark=1)
    assert eng.assumptions_hold(params) and eng.where_holds(params, state, inputs)
    with pytest.raises(eng.UndefinedError):
        getattr(eng, eng.FORMULAS["property:leverage_nonnegative"])(params, state, inputs)
    results = run(spec, ["well-defined", "property"])
    assert VIOLATED in [r.verdict for r in results]  # today: every result is PROVED


def test_well_defined_reports_a_division_by_zero_in_an_action_update() -> None:
    spec = load(perp("action reduce(amount: USD) when amount > 0:\n"
                     "    size' = size - amount / (mark - entry)\n"))
    eng = spec.engine
    params = eng.Params()
    state, inputs = eng.State(collateral=0, size=1, entry=1, insurance=0), eng.Inputs(mark=1)
    with pytest.raises(eng.UndefinedError):  # the guard holds, the update divides by mark - entry = 0
        getattr(eng, eng.STEPS["reduce"])(params, state, inputs, 1)
    assert VIOLATED in [r.verdict for r in run(spec, "well-defined")]  # today: every result is PROVED


def test_well_defined_reports_a_division_by_zero_in_an_assume() -> None:
    spec = load(perp(assume="assume mmr < imr\nassume 1 / (imr - 0.1) > 0"))
    eng = spec.engine
    with pytest.raises(eng.UndefinedError):  # at the spec's own defaults
        eng.assumptions_hold(eng.Params())
    assert VIOLATED in [r.verdict for r in run(spec, "well-defined")]  # today: every result is PROVED


def test_a_pin_outside_the_declared_range_is_refused() -> None:
    spec = load(perp())
    with pytest.raises(ValueError, match="mmr"):
        # today: PROVED, vacuously (no imr in [0.01, 0.5] exceeds the pinned mmr 0.9), with no warning
        run(spec, "maintenance-le-initial", pins={"mmr": Fraction("0.9")})


def test_env_bounds_are_only_evaluated_where_the_env_guard_holds() -> None:
    """Like the engine, an env move's bounds run only once its guard holds: no finding behind the guard."""
    text = (
        'spec "guarded env"\nunit USD, BTC\nstate c: USD where c >= 0\ninput mark: USD/BTC where mark > 0\n'
        "env squeeze when c > 0: mark' in [mark * c / c, mark * 2]\n"
    )
    guarded = run(load(text), "well-defined")
    assert all(r.verdict is PROVED for r in guarded), [(r.name, r.verdict) for r in guarded]
    unguarded = run(load(text.replace(" when c > 0", "")), "well-defined")
    violated = [r.name for r in unguarded if r.verdict is VIOLATED]
    assert violated == ["well-defined: env move `squeeze` (division at line 5)"]
