"""Invariants over runs: bounded model checking, k-induction, Spacer, forced actions.

A violation must be a trace from `init` of the shortest length, labelled
action by action, replayed by the checker, and re-run here step by step on the
generated engine. A proof must say which kind it is ("inductive, k=N",
"inductive, Spacer (CHC)", or "bounded, depth N", which is never shown as
inductive). Without `init` there is nothing to check: SKIPPED.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import dsl
from checker import Options, Verdict, configure
from checker.core.results import CheckResult, Counterexample
from checker.run import run_checks

ROOT = Path(__file__).resolve().parent.parent
PROVED, VIOLATED, UNKNOWN, SKIPPED = Verdict.PROVED, Verdict.VIOLATED, Verdict.UNKNOWN, Verdict.SKIPPED


def load(text: str) -> dsl.Spec:
    return dsl.loads(textwrap.dedent(text).lstrip("\n"), "bmc.margin")


def invariants(spec: dsl.Spec, **options: Any) -> dict[str, CheckResult]:
    configure(0)
    results = list(run_checks(spec, Options(**{"depth": 4, **options}), only=["invariant"]))
    assert all(r.id == "invariant" for r in results)
    out = {r.name: r for r in results}
    assert len(out) == len(results)
    return out


def replay_on_engine(spec: dsl.Spec, cex: Counterexample) -> list[tuple[Any, Any]]:
    """Re-run a trace on the engine from its first state; every step must reach the recorded state."""
    eng = spec.engine
    program = spec.program
    actions = {a.name: a for a in program.actions}
    envs = {e.name: e for e in program.envs}
    params = eng.Params(**{eng.FIELDS[k]: v for k, v in cex.params.items()})
    assert eng.assumptions_hold(params)
    first = cex.steps[0]
    assert first.label == "init"
    state = eng.State(**{eng.FIELDS[k]: v for k, v in first.state.items()})
    inputs = eng.Inputs(**{eng.FIELDS[k]: v for k, v in first.inputs.items()})
    assert eng.where_holds(params, state, inputs)
    for key, fn in eng.FORMULAS.items():
        if key.startswith("init:"):
            assert getattr(eng, fn)(params, state, inputs) is True
    trace = [(state, inputs)]
    for i, step in enumerate(cex.steps[1:], start=1):
        number, name = step.label.split(": ")
        assert int(number) == i
        fn = getattr(eng, eng.STEPS[name])
        if name in actions:
            args = [step.args[a.name] for a in actions[name].args]
            state = fn(params, state, inputs, *args)
        else:
            choice = {u.sym.name: (step.inputs | step.state)[u.sym.name] for u in envs[name].updates}
            state, inputs = fn(params, state, inputs, choice)
        assert {k: getattr(state, eng.FIELDS[k]) for k in step.state} == step.state, step.label
        assert {k: getattr(inputs, eng.FIELDS[k]) for k in step.inputs} == step.inputs, step.label
        trace.append((state, inputs))
    return trace


HEAD = """
spec "bmc perpetual"
unit USD, BTC
param imr: rate = 0.1    in [0.01, 0.5]
param mmr: rate = 0.05   in [0.005, 0.25]
param fee: rate = 0.001  in [0, 0.01]
param max_move: rate = 0.01 in [0, 0.5]
assume mmr < imr
{assume}
state collateral: USD        where collateral >= 0
state size: BTC
state entry: USD/BTC         where entry > 0
state insurance: USD
input mark: USD/BTC          where mark > 0
let notional: USD = abs(size) * mark
margin:
    equity      = collateral + size * (mark - entry)
    initial     = notional * imr
    maintenance = notional * mmr
    liquidatable when equity < maintenance
action open(q: BTC) when size == 0 and abs(q) * mark * imr <= collateral:
    size'  = q
    entry' = mark
env move: mark' in [mark * (1 - max_move), mark * (1 + max_move)]
"""


def perp(rest: str, assume: str = "") -> str:
    return textwrap.dedent(HEAD).format(assume=assume) + textwrap.dedent(rest)


# The insurance fund absorbs a bankrupt account's loss: after open, a gapping move and a liquidation
# the fund is negative. Shorter runs cannot do it: just after `open` the account is not liquidatable.
ABSORB = perp("""
action liquidate when liquidatable:
    size'       = 0
    collateral' = max(equity, 0)
    insurance'  = insurance + min(equity, 0)
init: size == 0 and insurance == 0
invariant fund_solvent: insurance >= 0
""")

FEES_ONLY = perp("""
action liquidate when liquidatable:
    size'       = 0
    collateral' = max(equity - notional * fee, 0)
    insurance'  = insurance + min(notional * fee, max(equity, 0))
init: size == 0 and insurance == 0
invariant fund_solvent: insurance >= 0
""")


def test_a_multi_step_violation_is_the_shortest_trace_replayed_step_by_step() -> None:
    spec = load(ABSORB)
    results = invariants(spec)
    r = results["invariant: fund_solvent"]
    assert r.verdict is VIOLATED
    assert r.proof == "bounded, depth 3"
    assert "after 3 steps" in r.reason
    cex = r.counterexample
    assert cex is not None and cex.replayed is True
    assert [s.label for s in cex.steps] == ["init", "1: open", "2: move", "3: liquidate"]
    trace = replay_on_engine(spec, cex)
    eng = spec.engine
    params = eng.Params(**{eng.FIELDS[k]: v for k, v in cex.params.items()})
    holds = [eng.invariant_fund_solvent(params, s, i) for s, i in trace]
    assert holds == [True, True, True, False]
    # the step before the liquidation is liquidatable and bankrupt: the move gapped through maintenance
    state, inputs = trace[2]
    assert eng.liquidatable(params, state, inputs) is True
    assert eng.equity(params, state, inputs) < 0
    assert cex.params["max_move"] > cex.params["imr"]  # one move larger than the initial margin rate
    # the implicit `where` invariants are still proved
    assert results["invariant: where of collateral stays true"].verdict is PROVED


def test_a_violation_in_the_initial_states_is_a_trace_of_depth_zero() -> None:
    spec = load(perp("""
    action liquidate when liquidatable:
        size' = 0
    init: size == 0
    invariant fund_solvent: insurance >= 0
    """))
    r = invariants(spec)["invariant: fund_solvent"]
    assert r.verdict is VIOLATED and r.proof == "bounded, depth 0"
    assert r.counterexample is not None and r.counterexample.replayed is True
    assert [s.label for s in r.counterexample.steps] == ["init"]
    assert r.counterexample.steps[0].state["insurance"] < 0
    replay_on_engine(spec, r.counterexample)


def test_a_negative_balance_is_found_as_a_where_invariant() -> None:
    spec = load(perp("""
    action withdraw(amount: USD) when amount > 0 and amount <= equity:
        collateral' = collateral - amount
    init: size == 0 and insurance == 0
    invariant fund_solvent: insurance >= 0
    """))
    results = invariants(spec)
    r = results["invariant: where of collateral stays true"]
    assert r.verdict is VIOLATED
    cex = r.counterexample
    assert cex is not None and cex.replayed is True
    trace = replay_on_engine(spec, cex)
    eng = spec.engine
    params = eng.Params(**{eng.FIELDS[k]: v for k, v in cex.params.items()})
    assert eng.where_holds(params, *trace[-1]) is False
    assert trace[-1][0].collateral < 0
    assert cex.steps[-1].label.endswith(": withdraw")
    assert results["invariant: fund_solvent"].verdict is PROVED


def test_an_inductive_invariant_is_proved_with_k_1() -> None:
    results = invariants(load(FEES_ONLY))
    r = results["invariant: fund_solvent"]
    assert r.verdict is PROVED and r.proof == "inductive, k=1"
    assert r.counterexample is None
    assert all(x.verdict is PROVED for x in results.values())


SETTLEMENT = """
spec "two-phase settlement"
unit USD
state pending: USD
state settled: USD
init: pending == 5 and settled == 5
action settle:
    settled' = pending
    pending' = settled
invariant settled_not_three: settled != 3
"""


def test_an_invariant_that_needs_k_2() -> None:
    # settled != 3 is not 1-inductive (pending could be 3), but two steps back it is settled again;
    # no sign lemma helps at k=1 (pending = 3 is positive)
    r = invariants(load(SETTLEMENT))["invariant: settled_not_three"]
    assert r.verdict is PROVED and r.proof == "inductive, k=2"


ROTATION = """
spec "three-phase rotation"
unit USD
state a: USD
state b: USD
state c: USD
init: a == 5 and b == 5 and c == 5
action rotate:
    a' = b
    b' = c
    c' = a
invariant a_not_three: a != 3
"""


def test_a_goal_the_quick_pass_gives_up_on_is_proved_by_plain_induction_on_a_tenth(monkeypatch: Any) -> None:
    """Plain induction asks on a hundredth of the budget first; a goal it gives up on and the lemmas leave
    open is asked again on a tenth, at every k, so that the first pass costs no proof. Here the first
    pass can answer nothing (a share of a few resource units), no lemma helps (the lemma round goes to
    k = 2, and `a != 3` over a rotation of three needs k = 3), and the second pass proves the goal at
    k = 3 as plain induction always did."""
    from checker.mc import bmc

    shares: list[Any] = []
    houdini = bmc._houdini

    def spy(cx: Any, candidates: Any, k: int, *args: Any, **kwargs: Any) -> Any:
        if not any(g.name.startswith("lemma") for g in candidates):
            shares.append((k, kwargs.get("share")))
        return houdini(cx, candidates, k, *args, **kwargs)

    monkeypatch.setattr(bmc, "_QUICK_SHARE", Fraction(1, 10**7))
    monkeypatch.setattr(bmc, "_houdini", spy)
    r = invariants(load(ROTATION))["invariant: a_not_three"]
    assert r.verdict is PROVED and r.proof == "inductive, k=3"
    assert shares[0] == (1, Fraction(1, 10**7))  # the first pass, which gave up at k = 1
    assert (3, bmc._PLAIN_SHARE) in shares and (1, Fraction(1, 10**7)) not in shares[1:], shares
    monkeypatch.undo()
    assert invariants(load(ROTATION))["invariant: a_not_three"].proof == "inductive, k=3"  # as on a hundredth


def test_a_follow_up_gets_the_lemma_round_before_plain_induction_at_k_2(monkeypatch: Any) -> None:
    """The multi-step form of a violated single-state check is settled by the lemmas at k = 1 as soon as
    BMC reaches depth 2: plain induction never asks it at k >= 2, where on a large tier table each
    counterexample to induction is a slow query (benchmarks/frontend.py's tables, 50 brackets: 8 s to 0.6 s)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import frontend
    finally:
        sys.path.pop(0)
    from checker.mc import bmc

    asked: list[tuple[int, list[str]]] = []
    houdini = bmc._houdini

    def spy(cx: Any, candidates: Any, k: int, *args: Any, **kwargs: Any) -> Any:
        asked.append((k, [g.name for g in candidates]))
        return houdini(cx, candidates, k, *args, **kwargs)

    monkeypatch.setattr(bmc, "_houdini", spy)
    configure(0)
    spec = dsl.loads(frontend.tiered_spec(10), "tiers.margin")
    results = {r.name: r for r in run_checks(spec, Options(), only=["maintenance-le-initial"])}
    assert results["maintenance-le-initial"].verdict is VIOLATED
    follow_up = results["maintenance-le-initial: in reachable states"]
    assert follow_up.verdict is PROVED
    assert follow_up.proof == "inductive, k=1, with lemmas: equity >= 0, size == 0, insurance >= 0"
    plain = [names for k, names in asked if k >= 2 and not any(n.startswith("lemma") for n in names)]
    assert not any(follow_up.name in names for names in plain), asked


def test_k_2_is_not_reached_when_max_k_is_1_and_the_result_is_then_bounded_or_spacer() -> None:
    r = invariants(load(SETTLEMENT), max_k=1, depth=3)["invariant: settled_not_three"]
    assert r.verdict is PROVED
    assert not r.proof.startswith("inductive, k=")
    assert r.proof in ("inductive, Spacer (CHC)", "bounded, depth 3")


def test_an_invariant_proved_only_with_a_lemma_names_the_lemmas() -> None:
    # settled >= 0 alone is not 1-inductive (pending could be negative); with the sign lemmas
    # pending >= 0 and settled >= 0 (both hold initially and are kept by the swap) it is
    spec = load(SETTLEMENT.replace("settled != 3", "settled >= 0"))
    r = invariants(spec, max_k=1)["invariant: settled_not_three"]
    assert r.verdict is PROVED
    assert r.proof == "inductive, k=1, with lemmas: pending >= 0, settled >= 0"


def test_the_lemma_round_does_not_ask_again_what_its_joint_queries_settled(monkeypatch: Any) -> None:
    """With lemmas, induction asks one joint query per case ("does any candidate fail?"); once every case
    says no for the same candidates, the proof is complete. The per-goal round after it (`_together`)
    would ask the very same queries again: on the cross-margin example that was 4 s of a 10 s round."""
    from checker.mc import bmc

    calls: list[list[str]] = []
    together = bmc._together

    def spy(cx: Any, constraints: Any, hyp: Any, cases: Any, alive: list[Any], share: Any) -> Any:
        calls.append([g.name for g in alive])
        return together(cx, constraints, hyp, cases, alive, share)

    monkeypatch.setattr(bmc, "_together", spy)
    spec = load(SETTLEMENT.replace("settled != 3", "settled >= 0"))
    r = invariants(spec, max_k=1)["invariant: settled_not_three"]
    assert r.proof == "inductive, k=1, with lemmas: pending >= 0, settled >= 0"
    # Plain induction asks `_together` (one goal and no lemmas: it returns at once); the lemma round does not.
    assert not any(name.startswith("lemma") for names in calls for name in names), calls


def test_a_lemma_that_fails_initially_is_not_used() -> None:
    # pending starts negative: `pending >= 0` is false at depth 0 and must not strengthen anything
    spec = load(SETTLEMENT.replace("pending == 5", "pending == -5").replace("settled != 3", "settled >= 0"))
    r = invariants(spec, max_k=1, depth=3)["invariant: settled_not_three"]
    assert r.verdict is VIOLATED
    assert [s.label for s in r.counterexample.steps] == ["init", "1: settle"]


COUNTER = """
spec "counter"
unit USD
state paid: USD
state scale: rate
init: paid == 0 and scale == 1
action pay:
    paid' = paid + 1
{more}
invariant never_four_and_a_half: paid != 4.5
"""


def test_a_bounded_only_result_is_labelled_bounded_and_never_inductive() -> None:
    # paid != 4.5 holds (paid only grows from 0 in whole steps) but is k-inductive for no k <= 4, even
    # with the lemma paid >= 0 (0.5 -> 1.5 -> ... -> 4.5); the squaring step makes the system nonlinear,
    # so Spacer is not tried either: only the bounded result remains.
    spec = load(COUNTER.format(more="action compound:\n    scale' = scale * scale"))
    r = invariants(spec, depth=3)["invariant: never_four_and_a_half"]
    assert r.verdict is PROVED
    assert r.proof == "bounded, depth 3"
    assert "inductive" not in r.proof
    assert "not proved for longer runs" in r.reason


def test_a_linear_non_k_inductive_invariant_is_proved_by_spacer() -> None:
    r = invariants(load(COUNTER.format(more="")), depth=3)["invariant: never_four_and_a_half"]
    assert r.verdict is PROVED
    assert r.proof == "inductive, Spacer (CHC)"


FORCED = perp("""
{forced}action liquidate when liquidatable:
    size'       = 0
    collateral' = max(equity, 0)
init: size == 0
invariant solvent: equity >= 0
""", assume="assume max_move <= mmr")


def test_a_forced_liquidation_keeps_equity_nonnegative() -> None:
    results = invariants(load(FORCED.format(forced="forced ")))
    r = results["invariant: solvent"]
    assert r.verdict is PROVED and r.proof.startswith("inductive")


def test_the_same_liquidation_not_forced_lets_a_second_move_make_equity_negative() -> None:
    spec = load(FORCED.format(forced=""))
    r = invariants(spec)["invariant: solvent"]
    assert r.verdict is VIOLATED
    cex = r.counterexample
    assert cex is not None and cex.replayed is True
    trace = replay_on_engine(spec, cex)
    eng = spec.engine
    params = eng.Params(**{eng.FIELDS[k]: v for k, v in cex.params.items()})
    assert eng.equity(params, *trace[-1]) < 0
    assert cex.steps[-1].label.endswith(": move")
    # the last move started from a liquidatable state: forcing the liquidation would have forbidden it
    assert eng.liquidatable(params, *trace[-2]) is True
    assert [s.label for s in cex.steps] == ["init", "1: open", "2: move", "3: move"]


def test_without_init_invariants_are_skipped() -> None:
    spec = load(FEES_ONLY.replace("init: size == 0 and insurance == 0\n", ""))
    results = invariants(spec)
    assert set(results) == {"invariant: fund_solvent", "invariant: where of collateral stays true",
                            "invariant: where of entry stays true"}
    for r in results.values():
        assert r.verdict is SKIPPED and "init" in r.reason


def test_a_tiny_work_limit_makes_an_invariant_unknown_not_proved() -> None:
    spec = load(ABSORB)
    results = invariants(spec, rlimit=1)
    r = results["invariant: fund_solvent"]
    assert r.verdict is UNKNOWN
    assert r.reason


_TRACE_SCRIPT = """
import json, sys
from fractions import Fraction
import dsl
from checker.run import run_checks
from checker import Options, configure
warm, target = sys.argv[1], sys.argv[2]
configure(0)
if warm:
    list(run_checks(dsl.loads(warm, "warm.margin"), Options(), only=["gap-safety"]))
configure(0)
results = run_checks(dsl.loads(target, "bmc.margin"), Options(depth=4), only=["invariant"])
print(json.dumps([[r.name, r.verdict.value, r.proof, r.counterexample.to_json() if r.counterexample else None]
                  for r in results]))
"""

WARM = perp("")  # any earlier use of the checker in the process (here it only builds terms: gap-safety is skipped)


def _trace_json(warm: str = "") -> object:
    out = subprocess.run([sys.executable, "-c", _TRACE_SCRIPT, warm, FORCED.format(forced="")],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def test_bmc_gives_the_same_trace_in_two_fresh_runs() -> None:
    first, second = _trace_json(), _trace_json()
    assert first == second
    assert first[0][1] == "VIOLATED"  # type: ignore[index]


def test_bmc_trace_does_not_depend_on_earlier_queries_in_the_process() -> None:
    assert _trace_json() == _trace_json(WARM)


# ---- multi-step forms of single-state checks ---------------------------------------

LIQUIDATE = """
action liquidate when liquidatable:
    size'       = 0
    collateral' = max(equity, 0)
"""

# Whales are never liquidated: a state with negative equity and a large notional is not liquidatable,
# and one is reachable (open a large position, then one adverse move).
WHALE = perp(LIQUIDATE + "init: size == 0\n").replace(
    "liquidatable when equity < maintenance", "liquidatable when equity < maintenance and notional < 1_000_000"
)

# Liquidation is switched off while `frozen` is set; no action ever sets it, so the single-state
# violation (frozen, insolvent, not liquidatable) is never reached from `init`.
FROZEN = perp(LIQUIDATE + "init: size == 0 and frozen == 0\n").replace(
    "liquidatable when equity < maintenance", "liquidatable when equity < maintenance and frozen == 0"
).replace("state insurance: USD", "state insurance: USD\nstate frozen: rate")


def insolvency(spec: dsl.Spec, **options: Any) -> dict[str, CheckResult]:
    configure(0)
    opts = Options(**{"depth": 3, **options})
    return {r.name: r for r in run_checks(spec, opts, only=["insolvent-implies-liquidatable"])}


def test_a_reachable_single_state_violation_is_a_replayed_trace() -> None:
    spec = load(WHALE)
    results = insolvency(spec)
    assert results["insolvent-implies-liquidatable"].verdict is VIOLATED
    r = results["insolvent-implies-liquidatable: in reachable states"]
    assert r.id == "insolvent-implies-liquidatable"
    assert r.verdict is VIOLATED and r.proof == "bounded, depth 2"
    assert "negative equity" in r.reason
    cex = r.counterexample
    assert cex is not None and cex.replayed
    assert [s.label for s in cex.steps] == ["init", "1: open", "2: move"]
    state, inputs = replay_on_engine(spec, cex)[-1]
    eng = spec.engine
    params = eng.Params(**{eng.FIELDS[k]: v for k, v in cex.params.items()})
    assert eng.equity(params, state, inputs) < 0
    assert eng.liquidatable(params, state, inputs) is False


def test_an_unreachable_single_state_violation_is_proved_absent_from_every_run() -> None:
    results = insolvency(load(FROZEN))
    assert results["insolvent-implies-liquidatable"].verdict is VIOLATED
    r = results["insolvent-implies-liquidatable: in reachable states"]
    assert r.verdict is PROVED
    # frozen == 0 is not 1-inductive alone with the goal: it needs solvent's sign lemmas on `frozen`
    assert r.proof.startswith("inductive, k=1, with lemmas:") and "frozen == 0" in r.proof


def test_a_proved_single_state_check_adds_no_reachable_form() -> None:
    results = insolvency(load(perp(LIQUIDATE + "init: size == 0\n")))
    assert list(results) == ["insolvent-implies-liquidatable"]
    assert results["insolvent-implies-liquidatable"].verdict is PROVED


# ---- deep search beyond BMC's depth ------------------------------------------------

KEEPER = ROOT / "examples" / "bad" / "binance_keeper_tip_drains_fund.margin"
# The fix: the keeper is paid out of the clearance fee, never more than it brought in.
KEEPER_FIXED = KEEPER.read_text(encoding="utf-8").replace(
    "insurance + fee_paid + min(equity, 0) - keeper_tip\n    keeper_paid' = keeper_paid + keeper_tip",
    "insurance + fee_paid + min(equity, 0) - min(keeper_tip, fee_paid)\n"
    "    keeper_paid' = keeper_paid + min(keeper_tip, fee_paid)",
)


def test_a_violation_deeper_than_bmc_is_found_by_the_search_and_replayed() -> None:
    spec = dsl.load(KEEPER)
    r = invariants(spec)["invariant: fund_solvent"]
    assert r.verdict is VIOLATED, r.reason
    assert "found by the deep search" in r.reason
    cex = r.counterexample
    assert cex is not None and cex.replayed
    assert len(cex.steps) - 1 > 4  # beyond the BMC depth of this run
    assert r.proof == f"bounded, depth {len(cex.steps) - 1}"
    state, _ = replay_on_engine(spec, cex)[-1]
    assert state.insurance < 0
    assert sum(1 for s in cex.steps if s.label.endswith(": liquidate")) >= 3


def test_without_the_search_the_same_goal_is_only_bounded() -> None:
    r = invariants(dsl.load(KEEPER), search_runs=0)["invariant: fund_solvent"]
    assert r.verdict is PROVED and r.proof == "bounded, depth 4"
    assert "not proved for longer runs" in r.reason


def test_the_corrected_keeper_reward_is_proved_for_every_depth() -> None:
    assert KEEPER.read_text(encoding="utf-8") != KEEPER_FIXED
    r = invariants(load(KEEPER_FIXED))["invariant: fund_solvent"]
    assert r.verdict is PROVED and r.proof.startswith("inductive, k=1"), (r.proof, r.reason)


FUND_PAYS = ROOT / "examples" / "bad" / "perp_venue_fund_pays_every_shortfall.margin"


def _fund_goals(spec: dsl.Spec) -> tuple[Any, list[Any]]:
    from checker.core.context import Context
    from checker.mc.goals import spec_goals

    configure(0)
    cx = Context(spec, Options())
    return cx, [g for g in spec_goals(cx.program) if g.name == "invariant: fund_solvent"]


def test_a_stress_run_can_start_what_the_goals_read_at_zero() -> None:
    """A fund that starts at a million is never overdrawn within a run: the second stress run starts the
    values the open goals read (here `insurance`) at zero, and every other value where it was drawn."""
    import random

    from checker.mc.search import _Walker

    cx, goals = _fund_goals(dsl.load(FUND_PAYS))
    walker = _Walker(cx)
    for seed in range(4):
        begun = walker.begin(random.Random(seed), defaults=False, edge=goals)
        assert begun is not None
        _, state = begun
        assert state[("insurance", None)] == 0, (seed, state)
    # Without `edge` the draws put the fund elsewhere (the probes are mostly non-zero).
    drawn = []
    for seed in range(4):
        begun = walker.begin(random.Random(seed), defaults=False)
        assert begun is not None
        drawn.append(begun[1][("insurance", None)])
    assert any(v != 0 for v in drawn), drawn


def test_the_search_finds_the_overdrawn_fund_without_hints_whatever_the_seed() -> None:
    """No counterexample to induction steers it (no hints): the second stress run, starting the fund at zero,
    finds the liquidation whose shortfall the fund pays in full, for each seed. Before it did, seed 0 found
    nothing in its 8 runs of 30 steps."""
    from checker.mc.search import search

    spec = dsl.load(FUND_PAYS)
    cx, goals = _fund_goals(spec)
    for seed in range(3):
        found = search(cx, goals, 30, 8, (), seed).found
        r = found.get("invariant: fund_solvent")
        assert r is not None and r.verdict is VIOLATED, seed
        cex = r.counterexample
        assert cex is not None and cex.replayed
        state, _ = replay_on_engine(spec, cex)[-1]
        assert state.insurance < 0
        assert cex.steps[-1].label.endswith(": liquidate")


def test_one_step_that_breaks_two_goals_gives_both_the_same_trace() -> None:
    """Paying a shortfall the fund cannot cover breaks `fund_solvent` and the `where` of `insurance` in the
    same step. The search names every goal that step breaks, so both get that run's trace; it used to
    name the first only, and the second took a run of its own (another trace, another depth)."""
    from checker.mc.goals import spec_goals
    from checker.mc.search import search

    spec = dsl.load(FUND_PAYS)
    cx, _ = _fund_goals(spec)
    names = ("invariant: fund_solvent", "invariant: where of insurance stays true")
    goals = [g for g in spec_goals(cx.program) if g.name in names]
    assert len(goals) == 2
    found = search(cx, goals, 30, 8, (), 0).found
    a, b = (found[n] for n in names)
    assert a.verdict is VIOLATED and b.verdict is VIOLATED
    assert a.counterexample is not None and b.counterexample is not None
    assert a.counterexample.steps == b.counterexample.steps
    assert a.counterexample.params == b.counterexample.params


def test_a_fruitless_search_is_reported_on_an_open_goal_and_never_proves() -> None:
    # paid != 4.5 is true but not provable here (see above): the search finds nothing and says so
    spec = load(COUNTER.format(more="action compound:\n    scale' = scale * scale"))
    r = invariants(spec, depth=3, search_runs=2, search_depth=6)["invariant: never_four_and_a_half"]
    assert r.verdict is PROVED and r.proof == "bounded, depth 3"
    assert "a search of 2 concrete runs of up to 6 steps" in r.reason and "found no violation" in r.reason


def test_bmc_runs_ahead_of_induction_and_asks_only_the_goals_not_proved(monkeypatch: Any) -> None:
    """`fund_solvent` of the fund-pays-rounding example is violated at depth 3: BMC finds it before
    induction at k=3 is asked about it, and the four goals proved at k=1 are facts of BMC, not goals."""
    from checker.mc import bmc

    asked: list[tuple[int, list[str]]] = []
    houdini = bmc._houdini

    def spy_houdini(cx: Any, candidates: list[Any], k: int, *args: Any, **kwargs: Any) -> list[str]:
        asked.append((k, [g.name for g in candidates]))
        return houdini(cx, candidates, k, *args, **kwargs)

    bmc_goals: list[tuple[int, list[str], int]] = []
    run_to = bmc._BMC.run_to

    def spy_run_to(self: Any, depth: int) -> None:
        if not self.quiet and depth > 0:
            bmc_goals.append((depth, [g.name for g in self.open()], len(self.facts)))
        run_to(self, depth)

    monkeypatch.setattr(bmc, "_houdini", spy_houdini)
    monkeypatch.setattr(bmc._BMC, "run_to", spy_run_to)
    spec = dsl.load(ROOT / "examples" / "bad" / "binance_fund_pays_rounding.margin")
    results = invariants(spec, depth=0)
    fund = results["invariant: fund_solvent"]
    assert fund.verdict is VIOLATED and fund.proof == "bounded, depth 3"
    assert sum(r.verdict is PROVED for r in results.values()) == 4
    assert asked[0] == (1, list(results))  # every goal at k=1
    assert all(k < 3 for k, names in asked if "invariant: fund_solvent" in names), asked
    assert bmc_goals and all(names == ["invariant: fund_solvent"] and facts == 4 for _, names, facts in bmc_goals)


def test_induction_asks_all_goals_at_once_first_and_proves_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """One cheap query per case for every goal first: the same proofs, with fewer queries of one goal.

    A goal that fails under some hypotheses fails under fewer, so whichever query drops it, the
    goals left (the proofs) are the same; the joint query only spares the goals' own queries.
    """
    from checker.core.context import Context
    from checker.mc import bmc

    spec = dsl.load(ROOT / "examples/binance_usdm_perp.margin")
    asked = {"n": 0}
    solve = Context.solve

    def counted(self: Context, *args: Any, **kwargs: Any) -> Any:
        asked["n"] += 1
        return solve(self, *args, **kwargs)

    monkeypatch.setattr(Context, "solve", counted)
    jointly = [(r.name, r.verdict, r.proof) for r in run_checks(spec, Options(), only=["invariant"])]
    with_joint = asked["n"]
    asked["n"] = 0
    monkeypatch.setattr(bmc, "_together", lambda *args: (set(), []))
    alone = [(r.name, r.verdict, r.proof) for r in run_checks(spec, Options(), only=["invariant"])]
    assert jointly == alone
    assert sum(1 for _, v, p in jointly if v is PROVED and p.startswith("inductive")) >= 3
    assert with_joint < asked["n"], (with_joint, asked["n"])


def _pure_bmc(spec: dsl.Spec, depth: int) -> tuple[dict[str, tuple[str, Any]], list[str], int]:
    """BMC alone to `depth` on every goal: (violations: proof and counterexample), UNKNOWN goals, BMC queries."""
    from checker.core.context import Context
    from checker.mc.bmc import _BMC
    from checker.mc.goals import spec_goals

    configure(0)
    cx = Context(spec, Options())
    bmc = _BMC(cx, spec_goals(cx.program))
    asked = {"n": 0}
    solve = cx.solve

    def counted(*args: Any, **kwargs: Any) -> Any:
        asked["n"] += 1
        return solve(*args, **kwargs)

    cx.solve = counted  # type: ignore[method-assign]
    bmc.run_to(depth)
    found = {name: (r.proof, r.counterexample) for name, r in bmc.found.items()}
    return found, sorted(bmc.unknown), asked["n"] - bmc.last.queries


def test_bmc_spares_a_case_whose_last_step_alone_keeps_the_goal_and_finds_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A BMC query contains its last step; when that step alone keeps the goal, no depth can break it there.

    The same violations at the same depths with the same counterexamples, with fewer of BMC's own
    queries, than with the last step never asked on its own.
    """
    from checker.mc import bmc

    spec = dsl.load(ROOT / "examples/bad/binance_partial_liquidation_dust.margin")
    found, unknown, queries = _pure_bmc(spec, 3)
    monkeypatch.setattr(bmc._LastStep, "keeps", lambda *args: False)
    found_alone, unknown_alone, queries_alone = _pure_bmc(spec, 3)
    assert found == found_alone and unknown == unknown_alone == []
    assert found["invariant: no_bad_debt"][0] == "bounded, depth 3"
    assert queries < queries_alone / 2, (queries, queries_alone)


ARMED = """
spec "a goal kept only while another holds"
unit USD
state armed: USD
state x: USD
state y: USD
init: armed == 0 and x == 0 and y == 0
action arm:
    armed' = 1
action drop when armed > 0:
    x' = x - 1
action pour:
    y' = y + x
invariant x_ok: x >= 0
invariant y_ok: y >= 0
"""


def test_a_last_step_kept_only_under_a_goal_found_violated_is_asked_again() -> None:
    # `pour` keeps y >= 0 while x >= 0 holds: at depth 2 both goals are assumed before the last step,
    # and the last step alone settles `pour`. x_ok breaks at depth 2 (arm, drop); from depth 3 on it
    # is no longer a hypothesis, and `pour` must be asked again: y_ok breaks at depth 3 (arm, drop, pour).
    found, unknown, _ = _pure_bmc(load(ARMED), 4)
    assert unknown == []
    assert found["invariant: x_ok"][0] == "bounded, depth 2"
    assert found["invariant: y_ok"][0] == "bounded, depth 3"
    steps = [s.label for s in found["invariant: y_ok"][1].steps]
    assert steps == ["init", "1: arm", "2: drop", "3: pour"]


def test_induction_at_k_1_answers_bmc_s_last_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases induction at k = 1 found a goal to survive are BMC's last steps, already answered.

    The same results, with fewer last-step queries than when BMC asks them all itself.
    """
    from checker.mc import bmc

    spec = dsl.load(ROOT / "examples/bad/binance_partial_liquidation_dust.margin")
    made: list[Any] = []
    init = bmc._LastStep.__init__

    def kept(self: Any, *args: Any) -> None:
        init(self, *args)
        made.append(self)

    monkeypatch.setattr(bmc._LastStep, "__init__", kept)

    def run() -> tuple[list[tuple[str, Verdict, str, Any]], int]:
        made.clear()
        results = [(r.name, r.verdict, r.proof, r.counterexample) for r in invariants(spec).values()]
        return results, sum(last.queries for last in made)

    shared, asked = run()
    monkeypatch.setattr(bmc._LastStep, "record", lambda *args: None)
    alone, asked_alone = run()
    assert shared == alone
    assert sum(1 for _, v, _, _ in shared if v is VIOLATED) == 2
    assert asked < asked_alone, (asked, asked_alone)


def test_induction_s_joint_query_never_reaches_the_portfolio(monkeypatch: pytest.MonkeyPatch) -> None:
    """All goals at once is asked in this process only (`Context.local`): its unknown starts no engine."""
    import z3

    from checker.core.context import Context
    from checker.solve import Outcome

    sent: list[int] = []

    def portfolio(assertions: Any, *args: Any) -> Outcome:
        sent.append(len(assertions))
        return Outcome("unknown", None, "not asked")

    monkeypatch.setattr("checker.solve._portfolio", portfolio)
    cx = Context(dsl.load(ROOT / "examples/binance_usdm_perp.margin"), Options(rlimit=2_000))
    x, y, z = z3.Reals("x y z")
    hard = [x * y * z == 7, x * x + y * y + z * z == 11, x * y + z > 3, x * z - y < 1]
    assert cx.local(hard).status == "unknown" and sent == []
    assert cx.solve(hard).status == "unknown" and sent == [len(hard)]  # an ordinary query goes on
