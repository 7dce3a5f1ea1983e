"""`liquidation-enabled`, both ways: it finds liquidation trigger failures and proves the fixes.

A trigger failure is a state where `liquidatable` holds (with a requirement
left) but no liquidation is enabled and makes progress: a minimum size, a
dust rule, a close factor. Each violation's counterexample must have been
replayed by the checker, and is re-evaluated here on the generated engine,
independently: the liquidation is refused (GuardError) or leaves the
shortfall as it was. For a liquidation with arguments the engine is tried on
a grid of arguments the solver's proof covers (the check itself proves it
for every argument, with the state fixed).
"""

from __future__ import annotations

import textwrap
from fractions import Fraction
from pathlib import Path
from typing import Any

import dsl
from checker import Options, Verdict, configure
from checker.checks import SINGLE_STATE
from checker.checks.catalogue import IDS, info
from checker.checks.trigger import candidate_terms
from checker.core.results import CheckResult
from checker.report.docs import check_page
from checker.run import run_checks

ROOT = Path(__file__).resolve().parent.parent
BAD_AAVE = ROOT / "examples" / "bad" / "aave_dust_rule_blocks_liquidation.margin"
ID = "liquidation-enabled"


def load(text: str, name: str = "t.margin") -> dsl.Spec:
    return dsl.loads(textwrap.dedent(text).lstrip("\n"), name)


def run(spec: dsl.Spec, only: tuple[str, ...] = (ID,)) -> list[CheckResult]:
    configure(0)
    return list(run_checks(spec, Options(), only=list(only)))


def single(results: list[CheckResult], name: str = ID) -> CheckResult:
    found = [r for r in results if r.name == name]
    assert len(found) == 1, [r.name for r in results]
    return found[0]


PERP = """
unit USD, BTC
param mmr: rate = 0.5% in [0.1%, 5%]
param min_liq: USD = 1_000 in [0, 1e6]
state collateral: USD where collateral >= 0
state size: BTC
state entry: USD/BTC where entry > 0
input mark: USD/BTC where mark > 0
let notional: USD = abs(size) * mark
margin:
    equity      = collateral + size * (mark - entry)
    maintenance = notional * mmr
    liquidatable when equity < maintenance
action liquidate when {guard}:
    size'       = 0
    collateral' = max(equity, 0)
"""


def perp(guard: str = "liquidatable") -> dsl.Spec:
    return load(PERP.format(guard=guard))


class Engine:
    """The generated engine, driven from a counterexample's values (not through the checker)."""

    def __init__(self, spec: dsl.Spec, r: CheckResult) -> None:
        assert r.counterexample is not None and r.counterexample.replayed, r.reason
        self.eng = spec.engine
        cex = r.counterexample
        self.p = self._build(self.eng.Params, cex.params)
        self.s = self._build(self.eng.State, cex.steps[0].state)
        self.i = self._build(self.eng.Inputs, cex.steps[0].inputs)
        assert self.eng.assumptions_hold(self.p) and self.eng.where_holds(self.p, self.s, self.i)

    def _build(self, cls: Any, values: dict[str, Any]) -> Any:
        return cls(**{self.eng.FIELDS[k]: v for k, v in values.items()})

    def let(self, name: str, s: Any = None) -> Any:
        return getattr(self.eng, self.eng.NAMES[name])(self.p, self.s if s is None else s, self.i)

    def liquidatable_with_requirement(self) -> bool:
        return self.let("liquidatable") is True and self.let("maintenance") > 0

    def productive(self, action: str, *args: Fraction) -> bool:
        """Does the engine run `action` here, and lower the shortfall, close, or cure the account?"""
        fn = getattr(self.eng, self.eng.STEPS[action])
        try:
            t = fn(self.p, self.s, self.i, *args)
        except (self.eng.GuardError, self.eng.UndefinedError):
            return False
        before = self.let("maintenance") - self.let("equity")
        after = self.let("maintenance", t) - self.let("equity", t)
        return bool(after < before or self.let("maintenance", t) <= 0 or not self.let("liquidatable", t))


# ---- registration and documentation ----------------------------------------------------


def test_the_check_is_in_the_catalogue_after_insolvent_implies_liquidatable() -> None:
    order = [name for name, _ in SINGLE_STATE]
    assert order.index(ID) == order.index("insolvent-implies-liquidatable") + 1
    assert ID in IDS and "liquidation" in info(ID).summary


def test_explain_prints_the_page_with_the_formula_and_what_unknown_means() -> None:
    page = check_page(ID)
    assert page.startswith(f"## `{ID}`")
    assert "∀args_L. ¬ok_L(s, args_L)" in page
    assert "**UNKNOWN** here means" in page and "What the replay confirms" in page


# ---- argument-free liquidations ------------------------------------------------------------


def test_finds_a_minimum_size_that_blocks_liquidating_a_small_account() -> None:
    spec = perp("liquidatable and notional >= min_liq")
    r = single(run(spec))
    assert r.verdict is Verdict.VIOLATED and r.proof == "single-state"
    e = Engine(spec, r)
    assert e.liquidatable_with_requirement()
    assert e.let("notional") < e.p.min_liq
    assert not e.productive("liquidate")


def test_proves_the_unrestricted_liquidation() -> None:
    r = single(run(perp()))
    assert r.verdict is Verdict.PROVED and r.proof == "single-state"


def test_an_exception_for_negative_equity_only_is_not_enough() -> None:
    # The dust rule of insolvent-implies-liquidatable's fix does not fix this check: a small account
    # with equity in [0, maintenance) is still liquidatable and still refused.
    spec = perp("liquidatable and (notional >= min_liq or equity < 0)")
    r = single(run(spec))
    assert r.verdict is Verdict.VIOLATED
    e = Engine(spec, r)
    assert e.liquidatable_with_requirement() and e.let("equity") >= 0
    assert not e.productive("liquidate")


def test_finds_a_liquidation_that_runs_but_makes_no_progress() -> None:
    text = PERP.format(guard="liquidatable").replace(
        "    size'       = 0\n    collateral' = max(equity, 0)\n", "    collateral' = collateral\n"
    )
    spec = load(text)
    r = single(run(spec))
    assert r.verdict is Verdict.VIOLATED
    e = Engine(spec, r)
    fn = getattr(e.eng, e.eng.STEPS["liquidate"])
    fn(e.p, e.s, e.i)  # enabled: the engine runs it
    assert not e.productive("liquidate")


def test_a_liquidatable_account_without_a_requirement_is_outside_the_check() -> None:
    # Debt without collateral: liquidatable (equity < 0 = maintenance) but nothing to liquidate.
    spec = load("""
        unit USD
        state collateral: USD where collateral >= 0
        state debt: USD where debt >= 0
        margin:
            equity      = collateral - debt
            maintenance = collateral / 10
            liquidatable when equity < maintenance
        action liquidate when liquidatable and collateral > 0:
            collateral' = 0
            debt'       = max(debt - collateral, 0)
    """)
    assert single(run(spec)).verdict is Verdict.PROVED


def test_skipped_with_a_reason_when_the_spec_lacks_what_it_needs() -> None:
    no_action = load(PERP.split("action liquidate")[0])
    r = single(run(no_action))
    assert r.verdict is Verdict.SKIPPED and "no action is guarded by `liquidatable`" in r.reason
    no_maintenance = load("""
        unit USD
        state collateral: USD
        margin:
            equity = collateral
            liquidatable when equity < 0
        action liquidate when liquidatable:
            collateral' = 0
    """)
    r = single(run(no_maintenance))
    assert r.verdict is Verdict.SKIPPED and "no `maintenance` role" in r.reason


# ---- liquidations with arguments -----------------------------------------------------------


def test_candidates_are_the_guards_bounds_on_each_argument() -> None:
    spec = dsl.load(BAD_AAVE)
    action = next(a for a in spec.program.actions if a.name == "liquidate")
    (terms,) = candidate_terms(action).values()
    shown = {type(t).__name__ + ":" + (t.sym.name if hasattr(t, "sym") else "") for t in terms}
    assert "Var:max_closeable" in shown and "Var:repay_cap" in shown


def test_finds_the_aave_dust_rule_without_the_small_position_close_factor() -> None:
    spec = dsl.load(BAD_AAVE)
    r = single(run(spec))
    assert r.verdict is Verdict.VIOLATED, r.reason
    e = Engine(spec, r)
    assert e.liquidatable_with_requirement()
    # The seeded cause: the close factor caps the repayment below what the dust rule needs.
    assert e.let("health_factor") > e.p.cf_threshold
    assert e.let("max_closeable") < e.let("repay_cap")
    assert (e.let("debt_value") - e.let("max_closeable") * e.p.usdc_price) < e.p.min_leftover
    # The solver proved it for every argument; the engine agrees on a grid over [0, debt].
    debt = e.let("debt_value") / e.p.usdc_price
    for k in range(0, 41):
        assert not e.productive("liquidate", debt * k / 40), k


def test_proves_the_aave_dust_rule_with_the_v3_3_small_position_close_factor() -> None:
    text = BAD_AAVE.read_text()
    old = "then debt * close_factor else debt"
    fixed = text.replace(
        "if weighted_collateral > cf_threshold * debt_value " + old,
        "if weighted_collateral > cf_threshold * debt_value and debt_value >= 2 * min_leftover "
        "and collateral_value >= 2 * min_leftover " + old,
    )
    assert fixed != text
    r = single(run(dsl.loads(fixed, "fixed.margin")))
    assert r.verdict is Verdict.PROVED, r.reason
    assert r.proof.startswith("single-state, by ") and "candidate argument choices" in r.proof


def test_an_argument_range_the_guard_empties_is_found() -> None:
    # A close factor with a minimum size per liquidation: a position smaller than min_q / close_factor
    # admits no q at all.
    spec = load("""
        unit USD, BTC
        param mmr: rate = 0.5% in [0.1%, 5%]
        param close_factor: rate = 50% in [10%, 100%]
        param min_q: BTC = 0.01 in [0, 1]
        state collateral: USD where collateral >= 0
        state size: BTC where size >= 0
        state entry: USD/BTC where entry > 0
        input mark: USD/BTC where mark > 0
        let notional: USD = size * mark
        margin:
            equity      = collateral + size * (mark - entry)
            maintenance = notional * mmr
            liquidatable when equity < maintenance
        action liquidate(q: BTC) when liquidatable and q >= min_q and q <= size * close_factor:
            size'       = size - q
            collateral' = collateral + q * (mark - entry)
    """)
    r = single(run(spec))
    assert r.verdict is Verdict.VIOLATED, r.reason
    e = Engine(spec, r)
    assert e.liquidatable_with_requirement()
    assert e.s.size * e.p.close_factor < e.p.min_q
    for k in range(0, 21):
        assert not e.productive("liquidate", e.s.size * k / 20)


# ---- over runs from `init` -----------------------------------------------------------------

RUNS = """
unit USD, BTC
param mmr: rate = 0.5% in [0.1%, 5%]
param imr: rate = 1% in [0.5%, 10%]
param min_liq: USD = 1_000 in [1, 1e6]
param max_move: rate = {max_move}
assume mmr < imr
state collateral: USD where collateral >= 0
state size: BTC
state entry: USD/BTC where entry > 0
input mark: USD/BTC where mark > 0
let notional: USD = abs(size) * mark
margin:
    equity      = collateral + size * (mark - entry)
    maintenance = notional * mmr
    liquidatable when equity < maintenance
action open(q: BTC) when size == 0 and q != 0 and abs(q) * mark >= min_liq and abs(q) * mark * imr <= collateral:
    size'  = q
    entry' = mark
forced action liquidate when liquidatable and notional >= min_liq:
    size'       = 0
    collateral' = max(equity, 0)
env move: mark' in [mark * (1 - max_move), mark * (1 + max_move)]
init: size == 0
"""


def test_a_stuck_state_reached_from_init_is_shown_as_a_trace() -> None:
    spec = load(RUNS.format(max_move="5%"))
    results = run(spec)
    assert single(results).verdict is Verdict.VIOLATED
    follow = single(results, f"{ID}: in reachable states")
    assert follow.verdict is Verdict.VIOLATED and follow.counterexample is not None
    assert follow.counterexample.replayed
    labels = [s.label for s in follow.counterexample.steps]
    assert labels[0] == "init" and any("open" in x for x in labels) and any("move" in x for x in labels)
    # The last state, rebuilt on the engine: liquidatable, and the forced liquidation is refused.
    eng = spec.engine
    last = follow.counterexample.steps[-1]
    p = eng.Params(**{eng.FIELDS[k]: v for k, v in follow.counterexample.params.items()})
    s = eng.State(**{eng.FIELDS[k]: v for k, v in last.state.items()})
    i = eng.Inputs(**{eng.FIELDS[k]: v for k, v in last.inputs.items()})
    assert getattr(eng, eng.NAMES["liquidatable"])(p, s, i) is True
    try:
        getattr(eng, eng.STEPS["liquidate"])(p, s, i)
        raise AssertionError("the engine liquidated the stuck account")
    except eng.GuardError:
        pass


def test_stuck_states_no_run_reaches_are_reported_as_such() -> None:
    # Without price moves an opened position is never liquidatable: the single-state finding stands,
    # and the follow-up says no run from `init` reaches it (not PROVED unless the solver proved it).
    results = run(load(RUNS.format(max_move="0")))
    assert single(results).verdict is Verdict.VIOLATED
    follow = single(results, f"{ID}: in reachable states")
    assert follow.verdict is Verdict.PROVED, follow.reason
    assert follow.proof.startswith(("inductive", "bounded"))


def test_no_follow_up_for_liquidations_with_arguments() -> None:
    results = run(dsl.load(BAD_AAVE))
    assert [r.name for r in results] == [ID]


def test_a_tiny_work_limit_gives_unknown_never_proved() -> None:
    # The fixed Aave spec is PROVED with the default budget (above); with almost none, every stage of
    # the argument search gives up, and the verdict says so instead of passing.
    text = BAD_AAVE.read_text().replace(
        "if weighted_collateral > cf_threshold * debt_value then",
        "if weighted_collateral > cf_threshold * debt_value and debt_value >= 2 * min_leftover "
        "and collateral_value >= 2 * min_leftover then",
    )
    configure(0)
    results = list(run_checks(dsl.loads(text, "fixed.margin"), Options(rlimit=1), only=[ID]))
    r = single(results)
    assert r.verdict is Verdict.UNKNOWN, (r.verdict, r.reason)
    assert "candidate search" in r.reason and "quantified query" in r.reason


def test_an_emitted_test_reproduces_the_stuck_account_until_the_rule_is_fixed(tmp_path: Path) -> None:
    from checker.emitted import reproduce

    path = tmp_path / "dust.margin"
    path.write_text(textwrap.dedent(PERP.format(guard="liquidatable and notional >= min_liq")).lstrip("\n"))
    results = run(dsl.load(path))
    r = single(results)
    assert r.verdict is Verdict.VIOLATED and r.counterexample is not None
    cex = r.counterexample.to_json()
    assert reproduce(str(path), ID, r.name, cex) is not None  # still stuck
    path.write_text(textwrap.dedent(PERP.format(guard="liquidatable")).lstrip("\n"))
    assert reproduce(str(path), ID, r.name, cex) is None  # fixed: the engine liquidates it
    # With arguments: the Aave dust rule's stuck account, probed at 0, 1, -1.
    results = run(dsl.load(BAD_AAVE))
    r = single(results)
    assert r.counterexample is not None
    assert reproduce(str(BAD_AAVE), ID, r.name, r.counterexample.to_json()) is not None
