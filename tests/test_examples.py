"""The bundled examples and their known-bad variants, checked end to end.

For every good example (examples/*.margin) and every known-bad variant
(examples/bad/*.margin) this runs the whole catalogue, single-state checks and
invariants (BMC/k-induction to the default depth, `max_k` = 4), and asserts
the exact verdict of every result: the names listed as VIOLATED are VIOLATED,
the names listed as UNKNOWN/SKIPPED are exactly those, and everything else is
PROVED. Each bad variant's header comment names its error, the good example it
derives from, and where such an error was seen.

Every VIOLATED result with a counterexample must have been replayed by the
checker, and is re-evaluated here independently on the generated engine
(`spec.engine`): Params/State/Inputs are rebuilt from the counterexample via
`eng.FIELDS`, lets and roles are called via `eng.NAMES`, actions and env moves
via `eng.STEPS`; traces are re-run step by step and compared with the recorded
states, and the violated condition is recomputed from the check's formula in
spec/checks.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import dsl
from checker import Options, Verdict, configure
from checker.core.results import CheckResult, Step
from checker.run import run_checks
from dsl import ir

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class Case:
    violated: frozenset[str] = frozenset()
    # Results that are neither PROVED nor VIOLATED, with their verdict.
    other: dict[str, Verdict] = field(default_factory=dict)


def _v(*names: str) -> frozenset[str]:
    return frozenset(names)


_CCP_SKIPPED = {
    name: Verdict.SKIPPED
    for name in (
        "requirement-monotone: maintenance",
        "gap-safety",
        "conservation",
        *(f"invariant: where of {s} stays true" for s in ("posted", "contrib", "skin", "assessed")),
    )
}

_MAKER_SKIPPED = {
    "requirement-monotone: initial": Verdict.SKIPPED,
    "requirement-monotone: maintenance": Verdict.SKIPPED,
}

CASES: dict[str, Case] = {
    # ---- good examples: fully PROVED single-state; invariants as noted ----
    # liquidation-enabled found a real gap here: `close_factor in [0, 1]` admitted 0, and then an
    # account with cf_threshold < HF < 1 could never be liquidated; the spec now assumes it positive.
    "aave_v3_lending.margin": Case(),
    "binance_usdm_perp.margin": Case(),
    "bitmex_inverse_perp.margin": Case(),
    # fund_solvent needs solvent's lemmas (equity >= 0, insurance >= 0): inductive at k=1 with them.
    "cross_margin_portfolio.margin": Case(),
    # Morpho Blue with one rule stricter than Morpho (a liquidation leaves equity >= 0 or takes all
    # the collateral); Morpho's own rule is bad/morpho_partial_insolvent_liquidation.
    "morpho_blue_market.margin": Case(),
    # vault_solvent needs the forced liquidations and max_move <= the maintenance rate: inductive, k=2.
    "hyperliquid_perp.margin": Case(),
    # Euler v2 with the cleanup rule (stricter than the EVK); the EVK's own rule is bad/euler_v2_*.
    "euler_v2_vault.margin": Case(),
    # One GMX v2 long: no_bad_debt needs the forced liquidation, the move bound and position_solvent.
    "gmx_v2_perp.margin": Case(),
    # Two accounts, an insurance fund capped at what it holds and socialised loss after it: every check and
    # the invariants proved for the declared 2 accounts (dsl.accounts).
    "perp_venue_waterfall.margin": Case(),
    # Auto-deleveraging against the top-ranked opposite position (an action naming another account), then
    # socialised loss; ADL takes only profit and a flat account never loses (step properties).
    "perp_venue_adl.margin": Case(),
    # A CCP's waterfall and a Cover 2 fund under a scenario range: single-state and step properties only
    # (no `init`, no env move, no `conserved` total; the maintenance role is 0).
    "ccp_cover2.margin": Case(other=_CCP_SKIPPED),
    # Halts that leave the liquidation engine running, and an open-interest-scaled initial margin.
    "perp_circuit_breaker.margin": Case(),
    # MakerDAO's Clipper (Liquidations 2.0): one vault kicked into a Dutch auction with time, price decay,
    # resets and keeper incentives; the invariants are inductive at k=1. The vault's requirement reads no
    # position state (its unit is DAI, the collateral ETH), so requirement-monotone is skipped.
    "maker_clipper_auction.margin": Case(other=_MAKER_SKIPPED),
    # ---- known-bad variants ----
    # Black Thursday (12 March 2020): a take at any price however stale, and no forced reset. A take below
    # cusp * top (single step and after kick, tick: a replayed trace) and an auction past `tail`.
    "bad/maker_clipper_no_reset.margin": Case(
        _v(
            "property: sells_above_cusp on take",
            "property: sells_above_cusp on take, in reachable states",
            "invariant: bounded_age",
        ),
        _MAKER_SKIPPED,
    ),
    # The redo incentive without clip.sol's chost floor: paid for resetting a lot worth less than chost
    # (reached from `init`); incentive_capped fails only in states no run reaches (tab < chost).
    "bad/maker_clipper_redo_pays_dust.margin": Case(
        _v(
            "property: incentive_capped on redo",
            "property: no_incentive_on_dust on redo",
            "property: no_incentive_on_dust on redo, in reachable states",
        ),
        _MAKER_SKIPPED,
    ),
    # lt * (1 + bonus) > 1 also leaves an underwater account no liquidation that makes progress.
    "bad/aave_bonus_spiral.margin": Case(_v("liquidation-improves-health: liquidate", "liquidation-enabled")),
    "bad/aave_partial_insolvent_liquidation.margin": Case(_v("liquidation-no-bad-debt: liquidate")),
    # OKEx 2018: the fund pays every shortfall and nothing comes after it; the fund goes negative in one
    # liquidation (single-state) and in a run from `init` (open, price moves, liquidate: a replayed trace).
    # ADL that asks the counterparty's whole profit, not the closed part's, to cover the shortfall.
    "bad/perp_venue_adl_whole_profit.margin": Case(_v("liquidation-no-bad-debt: deleverage")),
    # Nasdaq Clearing 2018: stress scenarios that miss the move that happens; here the down move only.
    "bad/ccp_cover2_down_move_only.margin": Case(
        _v("property: cover_1 on default_one", "property: cover_2 on default_pair"), other=_CCP_SKIPPED
    ),
    # LME nickel 2022: a halt that also stops liquidations; a stuck account is reached from `init`.
    "bad/perp_circuit_breaker_halt_strands_liquidation.margin": Case(
        _v("liquidation-enabled", "liquidation-enabled: in reachable states")
    ),
    "bad/perp_venue_fund_pays_every_shortfall.margin": Case(
        _v(
            "liquidation-no-bad-debt: liquidate",
            "invariant: fund_solvent",
            "invariant: where of insurance stays true",
        )
    ),
    # Aave v3.3's dust rule without its 100% close factor for small positions: a trigger failure. The
    # liquidation takes an argument, so there is no multi-step follow-up.
    "bad/aave_dust_rule_blocks_liquidation.margin": Case(_v("liquidation-enabled")),
    # Aave's own rule: a partial liquidation below HF lt * (1 + bonus) lowers the health factor; without
    # the good example's `lt * (1 + bonus) <= cf_threshold`, an underwater account above the threshold is
    # also stuck (the 50% close factor and the cleanup rule refuse every liquidation).
    "bad/aave_health_factor_spiral.margin": Case(_v("liquidation-improves-health: liquidate", "liquidation-enabled")),
    # The 0.8% floor also makes the initial requirement drop at the 250,000
    # edge (1% below it, 0.8% above it): requirement-monotone: initial.
    # ... and such an account is reached from `init` (open at the allowed leverage): a replayed trace.
    "bad/binance_leverage_above_mmr.margin": Case(
        _v(
            "maintenance-le-initial",
            "requirement-monotone: initial",
            "maintenance-le-initial: in reachable states",
        )
    ),
    "bad/binance_wrong_maintenance_amount.margin": Case(_v("requirement-monotone: maintenance")),
    # An uncapped fee also costs more health than the closed requirement frees.
    "bad/binance_uncapped_liquidation_fee.margin": Case(
        _v(
            "liquidation-no-bad-debt: liquidate",
            "liquidation-improves-health: liquidate",
            "invariant: no_bad_debt",
            "invariant: where of collateral stays true",
        )
    ),
    # The fee-paying partial liquidation raises the shortfall and leaves the account liquidatable: it
    # makes no progress, so liquidation-enabled fails too (reached from `init`: trade, move).
    "bad/binance_partial_liquidation_fee.margin": Case(
        _v(
            "liquidation-improves-health: liquidate",
            "liquidation-enabled",
            "liquidation-enabled: in reachable states",
        )
    ),
    # With no liquidation ever enabled, moves take an account below zero
    # equity within 4 steps (trade + 3 moves of 0.4% > 0.8% initial margin).
    # ... and a liquidatable account is never liquidated (liquidation-enabled, also reached from `init`).
    "bad/binance_unreachable_liquidation.margin": Case(
        _v(
            "vacuity: guard of liquidate can hold",
            "invariant: no_bad_debt",
            "liquidation-enabled",
            "liquidation-enabled: in reachable states",
        )
    ),
    "bad/binance_rounding_favours_account.margin": Case(_v("conservation: value by liquidate")),
    "bad/bitmex_linear_gap_assumption.margin": Case(_v("gap-safety: move", "invariant: fund_solvent")),
    # ---- multi-step (invariants over runs) ----
    "bad/binance_withdraw_unrealised_profit.margin": Case(_v("invariant: where of collateral stays true")),
    # Morpho.sol's liquidation: bad debt realised only at collateral == 0 (morpho-blue #82, #122).
    "bad/morpho_partial_insolvent_liquidation.margin": Case(_v("liquidation-no-bad-debt: liquidate")),
    # ETH at 50x before 12 March 2025: a 2% move beats the 1% maintenance margin; the vault pays.
    "bad/hyperliquid_eth_50x_leverage.margin": Case(_v("gap-safety: move", "invariant: vault_solvent")),
    # The EVK's rule: socialisation only at a zero collateral balance (whitepaper, "Bad Debt Socialisation").
    "bad/euler_v2_partial_insolvent_liquidation.margin": Case(_v("liquidation-no-bad-debt: liquidate")),
    # ... and a max discount above 1 - LLTV: the OpenZeppelin "Counterproductive Incentives" spiral.
    "bad/euler_v2_max_discount_too_large.margin": Case(
        _v("liquidation-improves-health: liquidate", "liquidation-no-bad-debt: liquidate")
    ),
    # GMX before Sherlock 2023-02 #154: a withdrawal counts pnl as collateral; own collateral runs out.
    "bad/gmx_v2_withdraw_counts_pnl.margin": Case(_v("invariant: collateral_backs_leverage")),
    # A factor for liquidation above the market's minCollateralFactor (only comments forbid it):
    # positions that pass validatePosition are liquidatable at once.
    "bad/gmx_v2_liquidation_factor_above_min.margin": Case(
        _v(
            "maintenance-le-initial",
            "maintenance-le-initial: in reachable states",
            "property: requirements_ordered",
            "property: open_leaves_position_valid on open",
            "property: open_leaves_position_valid on open, in reachable states",
            "property: withdraw_leaves_position_valid on withdraw",
            "property: withdraw_leaves_position_valid on withdraw, in reachable states",
            "invariant: collateral_backs_leverage",
        )
    ),
    # The PAXG/USDC market's oracle, 10^12 too high (October 2024): one borrow makes equity negative.
    "bad/morpho_oracle_scale_factor.margin": Case(
        _v(
            "insolvent-implies-liquidatable",
            "insolvent-implies-liquidatable: in reachable states",
            "gap-safety: oracle",
            "invariant: solvent_positions",
        )
    ),
    # The dust, once a short's notional grows back above the minimum, is
    # liquidated at negative equity: the fund pays (fund_solvent) as well.
    # liquidation-enabled finds the dust in one state, and a trace to it (trade, move).
    "bad/binance_partial_liquidation_dust.margin": Case(
        _v(
            "invariant: no_bad_debt",
            "invariant: fund_solvent",
            "liquidation-enabled",
            "liquidation-enabled: in reachable states",
        )
    ),
    "bad/binance_fund_pays_rounding.margin": Case(_v("invariant: fund_solvent")),
    # Too deep for BMC (bounded, depth 4 without the search): the deep search
    # finds a run of five liquidations, about 29 steps.
    "bad/binance_keeper_tip_drains_fund.margin": Case(_v("invariant: fund_solvent")),
    "bad/cross_collateral_haircut_too_small.margin": Case(
        _v("gap-safety: index", "property: move_cannot_bankrupt", "invariant: fund_solvent")
    ),
}

# Files whose whole catalogue takes at most 5 s (measured on the development
# machine; the rest are marked slow): bitmex_inverse_perp 26 s,
# cross_margin_portfolio 25 s, bad/cross_collateral_haircut_too_small 14 s,
# bad/binance_fund_pays_rounding 11 s, bad/binance_uncapped_liquidation_fee
# 11 s, bad/binance_partial_liquidation_dust 9 s,
# bad/binance_withdraw_unrealised_profit 7 s, bad/binance_unreachable_liquidation 6 s.
FAST = {
    "aave_v3_lending.margin",
    "binance_usdm_perp.margin",
    "bad/aave_bonus_spiral.margin",
    "bad/aave_partial_insolvent_liquidation.margin",
    "bad/aave_dust_rule_blocks_liquidation.margin",
    "bad/binance_leverage_above_mmr.margin",
    "bad/binance_partial_liquidation_fee.margin",
    "bad/binance_rounding_favours_account.margin",
    "bad/binance_wrong_maintenance_amount.margin",
    "bad/bitmex_linear_gap_assumption.margin",
    "morpho_blue_market.margin",
    "bad/morpho_partial_insolvent_liquidation.margin",
    "bad/morpho_oracle_scale_factor.margin",
    "hyperliquid_perp.margin",
    "bad/hyperliquid_eth_50x_leverage.margin",
    "euler_v2_vault.margin",
    "bad/euler_v2_partial_insolvent_liquidation.margin",
    "bad/euler_v2_max_discount_too_large.margin",
    "gmx_v2_perp.margin",
    "bad/gmx_v2_withdraw_counts_pnl.margin",
    "bad/gmx_v2_liquidation_factor_above_min.margin",
    "maker_clipper_auction.margin",
    "bad/maker_clipper_no_reset.margin",
    "bad/maker_clipper_redo_pays_dust.margin",
}


def test_every_example_file_has_a_case() -> None:
    found = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.margin")}
    assert found == set(CASES)


def test_every_good_example_has_a_bad_variant() -> None:
    goods = {name.removesuffix(".margin") for name in CASES if "/" not in name}
    bad_text = {name: (EXAMPLES / name).read_text() for name in CASES if name.startswith("bad/")}
    for good in goods:
        derived = [n for n, text in bad_text.items() if f"examples/{good}.margin" in text.split("\nspec ")[0]]
        assert derived, good


def test_bad_variants_have_a_header() -> None:
    for name in CASES:
        if not name.startswith("bad/"):
            continue
        head = (EXAMPLES / name).read_text().splitlines()[:3]
        assert head[0].startswith("# KNOWN-BAD"), name
        assert any("Derived from: examples/" in line for line in (EXAMPLES / name).read_text().splitlines()[:30])


def _params(names: list[str]) -> list[Any]:
    return [pytest.param(n, id=n, marks=() if n in FAST else pytest.mark.slow) for n in names]


@pytest.mark.parametrize("name", _params(sorted(CASES)))
def test_example_verdicts(name: str) -> None:
    case = CASES[name]
    spec = dsl.load(EXAMPLES / name)
    configure(0)
    results = list(run_checks(spec, Options()))  # the options `solvent check examples` runs with
    names = [r.name for r in results]
    assert len(names) == len(set(names)) or _dupes_are_proved(results), names
    got_violated = {r.name for r in results if r.verdict is Verdict.VIOLATED}
    got_other = {r.name: r.verdict for r in results if r.verdict in (Verdict.UNKNOWN, Verdict.SKIPPED)}
    assert got_violated == set(case.violated), {r.name: r.reason for r in results if r.verdict is Verdict.VIOLATED}
    assert got_other == case.other, {r.name: r.reason for r in results if r.name in got_other}
    for name_ in case.violated | set(case.other):
        assert name_ in names
    assert all(r.verdict is Verdict.PROVED for r in results if r.name not in case.violated and r.name not in case.other)
    for r in results:
        if r.verdict is Verdict.VIOLATED and r.counterexample is not None:
            assert r.counterexample.replayed, r.name
            _reevaluate(spec, r)
        elif r.verdict is Verdict.VIOLATED:
            # Only witness-style checks (vacuity, reachability, parameter
            # space) are VIOLATED without a counterexample.
            assert r.id in ("vacuity", "liquidation-reachable", "well-defined"), r.name


def _dupes_are_proved(results: list[CheckResult]) -> bool:
    # `well-defined` reports one result per partial operation; two operations
    # of one kind on one line share a name. Duplicates must all be PROVED.
    seen: dict[str, int] = {}
    for r in results:
        seen[r.name] = seen.get(r.name, 0) + 1
    return all(r.verdict is Verdict.PROVED for r in results if seen[r.name] > 1)


# ---------------------------------------------------------------------------
# Independent re-evaluation on the generated engine
# ---------------------------------------------------------------------------


class _Run:
    def __init__(self, spec: dsl.Spec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.eng = spec.engine
        self.p = self._build(self.eng.Params, params)

    def _build(self, cls: Any, values: dict[str, Any]) -> Any:
        return cls(**{self.eng.FIELDS[k]: v for k, v in values.items()})

    def frame(self, step: Step) -> tuple[Any, Any]:
        return self._build(self.eng.State, step.state), self._build(self.eng.Inputs, step.inputs)

    def let(self, name: str, s: Any, i: Any) -> Any:
        return getattr(self.eng, self.eng.NAMES[name])(self.p, s, i)

    def formula(self, key: str, s: Any, i: Any) -> Any:
        return getattr(self.eng, self.eng.FORMULAS[key])(self.p, s, i)

    def where(self, s: Any, i: Any) -> bool:
        return bool(self.eng.where_holds(self.p, s, i))

    def apply(self, step_name: str, s: Any, i: Any, after: Step) -> tuple[Any, Any]:
        """Apply action or env move `step_name` to (s, i), aiming at `after`."""
        prog = self.spec.program
        fn = getattr(self.eng, self.eng.STEPS[step_name])
        action = next((a for a in prog.actions if a.name == step_name), None)
        if action is not None:
            return fn(self.p, s, i, *[after.args[a.name] for a in action.args]), i
        env = next(e for e in prog.envs if e.name == step_name)
        choice: dict[str, Fraction] = {}
        for u in env.updates:
            values = after.inputs if u.sym.name in after.inputs else after.state
            v = values[u.sym.name]
            if isinstance(v, dict):
                assets = [u.index.name] if isinstance(u.index, ir.AssetName) else list(v)
                for a in assets:
                    choice[f"{u.sym.name}[{a}]"] = v[a]
            else:
                choice[u.sym.name] = v
        return fn(self.p, s, i, choice)  # type: ignore[no-any-return]

    def same(self, obj: Any, values: dict[str, Any], syms: tuple[ir.Symbol, ...]) -> None:
        for sym in syms:
            got = getattr(obj, self.eng.FIELDS[sym.name])
            want = values[sym.name]
            if isinstance(want, dict):
                assert {k: got[k] for k in want} == want, sym.name
            else:
                assert got == want, sym.name


def _health(run: _Run, s: Any, i: Any) -> Fraction:
    """The spec's declared `health` measure, else equity - maintenance (spec/checks.md, Notation)."""
    if run.spec.program.role("health") is not None:
        return run.let("health", s, i)  # type: ignore[no-any-return]
    return run.let("equity", s, i) - run.let("maintenance", s, i)  # type: ignore[no-any-return]


def _single_state_violation(run: _Run, r: CheckResult, s: Any, i: Any) -> None:
    if r.id == "maintenance-le-initial":
        assert run.let("maintenance", s, i) > run.let("initial", s, i)
    elif r.id == "requirement-nonnegative":
        assert run.let(r.name.split(": ")[1].split(" ")[0], s, i) < 0
    elif r.id == "insolvent-implies-liquidatable":
        assert run.let("equity", s, i) < 0 and not run.let("liquidatable", s, i)
    elif r.id == "liquidation-enabled":
        _stuck(run, s, i)
    elif r.id == "property":
        assert not run.formula(f"property:{r.name.removeprefix('property: ')}", s, i)
    elif r.id == "well-defined":
        let = r.name.split("`")[1]
        with pytest.raises(run.eng.UndefinedError):
            run.let(let, s, i)
    else:
        raise AssertionError(f"no re-evaluation for {r.name}")


def _stuck(run: _Run, s: Any, i: Any) -> None:
    """Liquidatable with a requirement, and every liquidation refused or without progress (checks.md).

    A liquidation with arguments is tried at the arguments 0, 1/2 and 1 each (the solver proved all).
    """
    from checker.checks.trigger import liquidations

    assert run.let("liquidatable", s, i) is True and run.let("maintenance", s, i) > 0
    short = run.let("maintenance", s, i) - run.let("equity", s, i)
    for a in liquidations(run.spec.program):
        fn = getattr(run.eng, run.eng.STEPS[a.name])
        grid: list[list[Fraction]] = [[]]
        for _ in a.args:
            grid = [[*g, v] for g in grid for v in (Fraction(0), Fraction(1, 2), Fraction(1))]
        for args in grid:
            try:
                t = fn(run.p, s, i, *args)
            except (run.eng.GuardError, run.eng.UndefinedError):
                continue
            assert run.let("maintenance", t, i) - run.let("equity", t, i) >= short, (a.name, args)
            assert run.let("maintenance", t, i) > 0 and run.let("liquidatable", t, i), (a.name, args)


def _reevaluate(spec: dsl.Spec, r: CheckResult) -> None:
    cex = r.counterexample
    assert cex is not None
    run = _Run(spec, cex.params)
    assert run.eng.assumptions_hold(run.p), r.name
    steps = cex.steps
    prog = spec.program
    if r.id == "invariant" or r.name.endswith(" in reachable states"):
        s, i = run.frame(steps[0])
        assert run.where(s, i)
        assert all(run.formula(f"init:{k}", s, i) for k in range(len(prog.init)))
        before = (s, i)
        for step in steps[1:]:
            # "N: X" along the trace; "then X" for the step a step property's trace ends with.
            label = step.label.split(": ", 1)[1] if ": " in step.label else step.label.removeprefix("then ")
            before = (s, i)
            s, i = run.apply(label, s, i, step)
            run.same(s, step.state, prog.states)
            run.same(i, step.inputs, prog.inputs)
        goal = r.name.removeprefix("invariant: ")
        if r.id == "property":  # a step property broken by the trace's last step
            assert steps[-1].label.startswith("then ") and run.where(*before)
            _step_violation(run, r, before, (s, i), steps[-1])
        elif r.id != "invariant":  # a single-state check's violation, reached by the trace
            assert run.where(s, i)
            _single_state_violation(run, r, s, i)
        elif goal.startswith("where of "):
            var = goal.removeprefix("where of ").split(" ")[0]
            sym = next(x for x in prog.states if x.name == var)
            assert not run.where(s, i), (r.name, sym)
        else:
            try:
                holds = run.formula(f"invariant:{goal}", s, i)
            except run.eng.UndefinedError:
                holds = False
            assert not holds, r.name
        return
    if len(steps) == 1:
        s, i = run.frame(steps[0])
        assert run.where(s, i)
        _single_state_violation(run, r, s, i)
        return
    first, second = steps
    s, i = run.frame(first)
    assert run.where(s, i)
    if r.id == "requirement-monotone":
        t, ti = run.frame(second)
        assert run.where(t, ti)
        role = r.name.split(": ")[1]
        assert run.let(role, t, ti) < run.let(role, s, i)
        return
    step_name = second.label.removeprefix("after ")
    t, ti = run.apply(step_name, s, i, second)
    run.same(t, second.state, prog.states)
    run.same(ti, second.inputs, prog.inputs)
    if r.id == "liquidation-improves-health":
        assert run.let("liquidatable", s, i)
        assert _health(run, t, ti) < _health(run, s, i)
    elif r.id == "liquidation-no-bad-debt":
        assert run.let("liquidatable", s, i)
        e0, e1 = run.let("equity", s, i), run.let("equity", t, ti)
        assert not run.where(t, ti) or (e1 < 0 and e1 < e0)
    elif r.id == "gap-safety":
        assert not run.let("liquidatable", s, i)
        assert run.where(t, ti) and run.let("equity", t, ti) < 0
    elif r.id == "conservation":
        key = "conserved:" + r.name.removeprefix("conservation: ").split(" by ")[0]
        assert run.formula(key, t, ti) != run.formula(key, s, i)
    elif r.id == "property":
        _step_violation(run, r, (s, i), (t, ti), second)
    else:
        raise AssertionError(f"no re-evaluation for {r.name}")


def _step_violation(run: _Run, r: CheckResult, before: tuple[Any, Any], after: tuple[Any, Any], step: Step) -> None:
    """The compiled step property (spec/language.md 3.12) is false on (before, the step's arguments, after)."""
    name = r.name.removeprefix("property: ").split(" on ")[0]
    fn = getattr(run.eng, run.eng.FORMULAS[f"step:{name}"])
    assert fn(run.p, *before, dict(step.args), *after) is False, r.name
