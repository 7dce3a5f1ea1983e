"""`checker.strategies(spec)`: what it generates is valid on the engine, its boundary points lie on
their boundaries, and a plain @given test over it finds a known-bad example's violation."""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import checker
import dsl
from checker.testing.strategies import Point, SpecStrategies

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPECS = [
    "binance_usdm_perp.margin",
    "aave_v3_lending.margin",
    "morpho_blue_market.margin",
    "bad/binance_leverage_above_mmr.margin",
]
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _strategies(name: str) -> SpecStrategies:
    return checker.strategies(dsl.load(EXAMPLES / name))


def _exact(obj: Any) -> bool:
    values = [getattr(obj, f) for f in obj.__slots__]
    flat = [x for v in values for x in (v.values() if hasattr(v, "values") else [v])]
    return all(isinstance(x, (Fraction, bool)) for x in flat)


def _in_ranges(s: SpecStrategies, params: Any) -> bool:
    for p in s.spec.program.params:
        v = getattr(params, s.engine.FIELDS[p.sym.name])
        for x in v.values() if hasattr(v, "values") else [v]:
            if (p.lo is not None and x < p.lo) or (p.hi is not None and x > p.hi):
                return False
    return True


@pytest.mark.parametrize("name", SPECS)
def test_points_are_valid_on_the_engine(name: str) -> None:
    s = _strategies(name)

    @FAST
    @given(s.points())
    def check(pt: Point) -> None:
        assert _exact(pt.params) and _exact(pt.state) and _exact(pt.inputs)
        assert _in_ranges(s, pt.params)
        assert s.engine.assumptions_hold(pt.params)
        assert s.engine.where_holds(pt.params, pt.state, pt.inputs)

    check()


def test_states_and_inputs_for_given_params() -> None:
    s = _strategies("binance_usdm_perp.margin")
    params = s.engine.Params(imr=Fraction(1, 10))

    @FAST
    @given(s.states(params), s.inputs(params))
    def check(state: Any, inputs: Any) -> None:
        assert s.engine.where_holds(params, state, inputs)

    check()


@pytest.mark.parametrize(
    ("name", "action"), [("binance_usdm_perp.margin", "trade"), ("aave_v3_lending.margin", "borrow")]
)
def test_arguments_satisfy_the_guard(name: str, action: str) -> None:
    s = _strategies(name)
    fn = getattr(s.engine, s.engine.STEPS[action])

    @settings(FAST, suppress_health_check=list(HealthCheck))
    @given(s.transitions(action))
    def check(t: tuple[Point, dict[str, Fraction]]) -> None:
        pt, args = t
        fn(pt.params, pt.state, pt.inputs, **args)  # raises GuardError if the guard did not hold

    check()


def test_env_choices_stay_in_range_and_reach_the_ends() -> None:
    s = _strategies("binance_usdm_perp.margin")
    e = s.engine
    pt = next(p for p in s.boundary if not e.liquidatable(p.params, p.state, p.inputs))
    lo = pt.inputs.mark * (1 - pt.params.max_move)
    hi = pt.inputs.mark * (1 + pt.params.max_move)
    seen: set[Fraction] = set()

    @FAST
    @given(s.env_choices("move", pt))
    def check(choice: dict[str, Fraction]) -> None:
        assert lo <= choice["mark"] <= hi
        e.move(pt.params, pt.state, pt.inputs, choice)
        seen.add(choice["mark"])

    check()
    assert {lo, hi} <= seen


def test_boundary_points_lie_on_their_boundaries() -> None:
    s = _strategies("binance_usdm_perp.margin")
    e = s.engine
    labels = {part: pt for pt in s.boundary for part in pt.label.split("; ")}
    for label, want in (("== 0", 0), ("== 1/100", Fraction(1, 100)), ("== -1/100", Fraction(-1, 100))):
        pt = labels[f"equity - maintenance {label}"]
        health = e.equity(pt.params, pt.state, pt.inputs) - e.maintenance(pt.params, pt.state, pt.inputs)
        assert health == want
        assert e.maintenance(pt.params, pt.state, pt.inputs) > 0
        assert e.liquidatable(pt.params, pt.state, pt.inputs) == (want < 0)
    # Every finite bracket edge of the maintenance table, exactly and just below.
    for edge in (50_000, 250_000, 1_000_000, 300_000_000):
        pt = labels[f"mm_bracket edge {edge}"]
        assert e.notional(pt.params, pt.state, pt.inputs) == edge
        below = labels[f"mm_bracket edge {edge} - 1/100"]
        assert e.notional(below.params, below.state, below.inputs) == edge - Fraction(1, 100)
        assert e.mmr(below.params, below.state, below.inputs) < e.mmr(pt.params, pt.state, pt.inputs)
    for pt in s.boundary:
        assert e.where_holds(pt.params, pt.state, pt.inputs)


def _finds(
    strategy: st.SearchStrategy[Any], violated: Any, n: int, seed: int, explicit: SpecStrategies | None = None
) -> bool:
    found = []

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.explicit, Phase.generate])
    @given(strategy)
    def check(pt: Point) -> None:
        if violated(pt):
            found.append(pt)
            raise AssertionError

    if explicit is not None:
        check = explicit.with_boundary(check)

    from hypothesis import seed as with_seed

    with contextlib.suppress(AssertionError):
        with_seed(seed)(check)()
    return bool(found)


def test_given_over_the_strategies_finds_maintenance_above_initial() -> None:
    # bad/binance_leverage_above_mmr: in the 250,000-1,000,000 bracket the maintenance rate (1%)
    # exceeds the initial floor (0.8%); at imr near 0.8% maintenance > initial near the top of it.
    s = _strategies("bad/binance_leverage_above_mmr.margin")
    e = s.engine

    def violated(pt: Point) -> bool:
        return bool(e.maintenance(pt.params, pt.state, pt.inputs) > e.initial(pt.params, pt.state, pt.inputs))

    # With the boundary points as explicit examples: always, the solver's bracket edge is a witness.
    assert _finds(s.points(), violated, 1, 0, explicit=s)
    # Drawn: within 1,000 examples on every seed tried.
    assert all(_finds(s.points(), violated, 1000, seed) for seed in range(3))
    good = _strategies("binance_usdm_perp.margin")
    ge = good.engine
    # The corrected spec: the same test over the same kind of strategies finds nothing.
    assert not _finds(
        good.points(),
        lambda pt: ge.maintenance(pt.params, pt.state, pt.inputs) > ge.initial(pt.params, pt.state, pt.inputs),
        200,
        0,
    )


def test_the_readme_snippet_fails_as_shown() -> None:
    text = (EXAMPLES.parent / "README.md").read_text()
    section = text.split("## Property-based tests from a spec", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    shown = section.split("```\n$ pytest", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    here = os.getcwd()
    os.chdir(EXAMPLES.parent)  # the snippet loads its spec by a path relative to the repository
    try:
        # Not "README.md": Hypothesis reads a test's source by its file name and line (for its database
        # key), and tokenizing the README's prose from there failed once the README grew.
        exec(compile(code, "<README.md snippet>", "exec"), namespace)
        with pytest.raises(AssertionError) as failed:
            namespace["test_maintenance_at_most_initial"]()
        namespace["test_trade_keeps_the_account_healthy"]()
    finally:
        os.chdir(here)
    # The first failing explicit example is the one the README shows.
    notes = "\n".join(getattr(failed.value, "__notes__", []))
    label = "label='mm_bracket edge 1000000 - 1/100; imr_floor edge 1000000 - 1/100'"
    assert label in notes
    assert label in shown


TINY = """spec "Tiny account"

unit USD

param fee: rate = 0.01 in [0, 0.05]

state balance: USD
state fees: USD where fees >= 0

action deposit(x: USD) when x > 0:
    balance' = balance + x

action withdraw(x: USD) when x > 0 and GUARD:
    balance' = balance - x - x * fee
    fees'    = fees + x * fee

init: balance == 0 and fees == 0

invariant solvent: balance >= 0
"""


@pytest.mark.parametrize(
    ("guard", "broken"),
    [("x <= balance", True), ("x + x * fee <= balance", False)],
    ids=["fee-not-covered", "fee-covered"],
)
def test_the_machine_runs_the_spec_and_checks_its_invariants(tmp_path: Path, guard: str, broken: bool) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    path = tmp_path / "tiny.margin"
    path.write_text(TINY.replace("GUARD", guard))
    s = checker.strategies(dsl.load(path))
    machine = s.machine()
    config = settings(max_examples=60, stateful_step_count=5, deadline=None, database=None)
    if not broken:
        run_state_machine_as_test(machine, settings=config)
        return
    # The withdrawal's fee is not covered by the guard: deposit, then withdraw everything. Finding it is
    # what is tested; shrinking the run (13 of the test's 14 s) is Hypothesis's own business.
    no_shrink = settings(config, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    with pytest.raises(AssertionError, match="invariant:solvent fails after"):
        run_state_machine_as_test(machine, settings=no_shrink)


def test_the_machine_takes_only_steps_the_engine_allows() -> None:
    from hypothesis.stateful import run_state_machine_as_test

    s = _strategies("binance_usdm_perp.margin")
    steps: list[str] = []

    class Recording(s.machine()):  # type: ignore[misc]
        def teardown(self) -> None:
            steps.extend(name for name, _ in getattr(self, "trace", []))

    # Every step is run on the engine: a GuardError would fail the test.
    run_state_machine_as_test(
        Recording, settings=settings(max_examples=15, stateful_step_count=8, deadline=None, database=None)
    )
    assert {"deposit", "trade", "move"} <= set(steps)


def test_spec_strategies_find_what_uniform_ones_miss() -> None:
    # bad/gmx_v2_liquidation_factor_above_min: the liquidation factor exceeds the minimum collateral
    # factor, so a position's maintenance requirement is above its initial one.
    from hypothesis.errors import FailedHealthCheck, Unsatisfiable

    s = _strategies("bad/gmx_v2_liquidation_factor_above_min.margin")
    e = s.engine

    def violated(pt: Point) -> bool:
        return bool(e.maintenance(pt.params, pt.state, pt.inputs) > e.initial(pt.params, pt.state, pt.inputs))

    assert all(_finds(s.points(), violated, 100, seed) for seed in range(3))

    def uniform_finds(seed: int) -> bool:
        try:
            return _finds(s.uniform_points(), violated, 100, seed)
        except (Unsatisfiable, FailedHealthCheck):  # uniform draws (almost) never satisfy the `where`s here
            return False

    assert not any(uniform_finds(seed) for seed in range(3))


def test_boundary_points_are_computed_once_per_spec_and_budget() -> None:
    """A spec loaded again reuses its points (the same engine module); the memo changes no point."""
    from checker.testing import boundary

    path = EXAMPLES.parent / "tests" / "data" / "perpetual.margin"
    first = boundary.boundary_points(dsl.load(path))
    assert boundary.boundary_points(dsl.load(path)) is first
    assert boundary._boundary_points(dsl.load(path), boundary.BOUNDARY_RLIMIT, 0) == first
    other = boundary.boundary_points(dsl.load(path), rlimit=boundary.BOUNDARY_RLIMIT // 2)
    assert other is not first and all(p.label for p in other)
