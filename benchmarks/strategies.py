"""How often a plain @given test finds the known-bad examples' violations: spec strategies vs uniform ones.

Run from the repository root:

    .venv/bin/python benchmarks/strategies.py             # seeds 0-2, 100 and 1,000 examples
    .venv/bin/python benchmarks/strategies.py --seeds 5

For every known-bad example whose violation is one state or one step (the
`VIOLATED` results of tests/test_examples.py that are single-state checks,
user `property`s, or one action or env move), a property is written by hand
on the engine (the check's meaning, e.g. `maintenance > initial`) and tested
with `@given` at 100 and 1,000 examples, once per seed, with

- `spec`: `checker.strategies(spec)` drawn (`points`, `transitions`, env
  choices), no explicit examples;
- `spec+explicit`: the same with the boundary points first as `@example`s
  (`with_boundary`; single-state targets only, the others equal `spec`);
- `uniform`: hand-written uniform strategies (`uniform_points`: each number
  on cents in [-10^6, 10^6], parameters uniform on their range; arguments and
  env choices uniform, filtered by the guard like the others).

A cell says on how many seeds the violation was found. Writes
benchmarks/results/strategies.md and strategies.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import checker  # noqa: E402
import dsl  # noqa: E402
from checker.testing.strategies import Point, SpecStrategies  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Target:
    example: str  # under examples/bad/
    check: str  # the result name in tests/test_examples.py
    kind: str  # "state", "action" or "env"
    step: str = ""  # the action or env move


TARGETS = [
    Target("binance_leverage_above_mmr", "maintenance-le-initial", "state"),
    Target("gmx_v2_liquidation_factor_above_min", "maintenance-le-initial", "state"),
    Target("gmx_v2_liquidation_factor_above_min", "property: requirements_ordered", "state"),
    Target("morpho_oracle_scale_factor", "insolvent-implies-liquidatable", "state"),
    Target("cross_collateral_haircut_too_small", "property: move_cannot_bankrupt", "state"),
    Target("aave_bonus_spiral", "liquidation-improves-health: liquidate", "action", "liquidate"),
    Target("aave_health_factor_spiral", "liquidation-improves-health: liquidate", "action", "liquidate"),
    Target("binance_partial_liquidation_fee", "liquidation-improves-health: liquidate", "action", "liquidate"),
    Target("binance_uncapped_liquidation_fee", "liquidation-improves-health: liquidate", "action", "liquidate"),
    Target("euler_v2_max_discount_too_large", "liquidation-improves-health: liquidate", "action", "liquidate"),
    Target("aave_partial_insolvent_liquidation", "liquidation-no-bad-debt: liquidate", "action", "liquidate"),
    Target("binance_uncapped_liquidation_fee", "liquidation-no-bad-debt: liquidate", "action", "liquidate"),
    Target("morpho_partial_insolvent_liquidation", "liquidation-no-bad-debt: liquidate", "action", "liquidate"),
    Target("euler_v2_partial_insolvent_liquidation", "liquidation-no-bad-debt: liquidate", "action", "liquidate"),
    Target("euler_v2_max_discount_too_large", "liquidation-no-bad-debt: liquidate", "action", "liquidate"),
    Target("binance_rounding_favours_account", "conservation: value by liquidate", "action", "liquidate"),
    Target("bitmex_linear_gap_assumption", "gap-safety: move", "env", "move"),
    Target("hyperliquid_eth_50x_leverage", "gap-safety: move", "env", "move"),
    Target("morpho_oracle_scale_factor", "gap-safety: oracle", "env", "oracle"),
    Target("cross_collateral_haircut_too_small", "gap-safety: index", "env", "index"),
]


def _call(fn: Callable[[], bool]) -> bool:
    try:
        return fn()
    except ArithmeticError:  # the engine's UndefinedError: not this check's violation
        return False


def _role(e: Any, name: str, pt: Point, state: Any = None, inputs: Any = None) -> Any:
    return getattr(e, e.NAMES[name])(pt.params, state or pt.state, inputs or pt.inputs)


def violation(s: SpecStrategies, t: Target) -> Callable[[Any], bool]:
    """The check's meaning, on the engine, as a predicate over what the strategy draws."""
    e, program = s.engine, s.spec.program
    roles = dict(program.roles)

    def r(name: str, pt: Point, state: Any = None, inputs: Any = None) -> Any:
        return _role(e, roles[name].name, pt, state, inputs)

    if t.check == "maintenance-le-initial":
        return lambda pt: _call(lambda: bool(r("maintenance", pt) > r("initial", pt)))
    if t.check == "insolvent-implies-liquidatable":
        return lambda pt: _call(lambda: bool(r("equity", pt) < 0 and not r("liquidatable", pt)))
    if t.check.startswith("property: "):
        fn = getattr(e, e.FORMULAS["property:" + t.check.removeprefix("property: ")])
        return lambda pt: _call(lambda: not fn(pt.params, pt.state, pt.inputs))
    if t.kind == "action":
        step = getattr(e, e.STEPS[t.step])
        order = [a.name for a in program.action(t.step).args]

        def after(pt: Point, args: dict[str, Fraction]) -> Any:
            return step(pt.params, pt.state, pt.inputs, *[args[a] for a in order])

        if t.check.startswith("liquidation-improves-health"):

            def worse(x: tuple[Point, dict[str, Fraction]]) -> bool:
                pt, args = x
                return bool(
                    e.health_measure(pt.params, after(pt, args), pt.inputs)
                    < e.health_measure(pt.params, pt.state, pt.inputs)
                )

            return lambda x: _call(lambda: worse(x))
        if t.check.startswith("liquidation-no-bad-debt"):

            def bad_debt(x: tuple[Point, dict[str, Fraction]]) -> bool:
                pt, args = x
                nxt = after(pt, args)
                eq0, eq1 = r("equity", pt), r("equity", pt, nxt)
                return (not e.where_holds(pt.params, nxt, pt.inputs)) or bool(eq1 < 0 and eq1 < eq0)

            return lambda x: _call(lambda: bad_debt(x))
        if t.check.startswith("conservation"):
            total = getattr(e, e.FORMULAS["conserved:value"])

            def moved(x: tuple[Point, dict[str, Fraction]]) -> bool:
                pt, args = x
                return bool(total(pt.params, after(pt, args), pt.inputs) != total(pt.params, pt.state, pt.inputs))

            return lambda x: _call(lambda: moved(x))
    if t.kind == "env":
        move = getattr(e, e.STEPS[t.step])

        def gap(x: tuple[Point, dict[str, Fraction]]) -> bool:
            pt, choice = x
            if r("liquidatable", pt):
                return False
            state, inputs = move(pt.params, pt.state, pt.inputs, choice)
            return bool(e.where_holds(pt.params, state, inputs) and r("equity", pt, state, inputs) < 0)

        return lambda x: _call(lambda: gap(x))
    raise ValueError(t.check)


def drawn(s: SpecStrategies, t: Target, uniform: bool) -> st.SearchStrategy[Any]:
    """What the @given test draws: a point, a point and an action's arguments, or a point and env choices."""
    points = s.uniform_points() if uniform else s.points()
    if t.kind == "state":
        return points
    if t.kind == "action":
        if not uniform:
            return s.transitions(t.step)
        e = s.engine
        step = getattr(e, e.STEPS[t.step])
        names = [a.name for a in s.spec.program.action(t.step).args]
        cents = st.integers(-(10**8), 10**8).map(lambda k: Fraction(k, 100))

        def args_for(pt: Point) -> st.SearchStrategy[tuple[Point, dict[str, Fraction]]]:
            def ok(args: dict[str, Fraction]) -> bool:
                try:
                    step(pt.params, pt.state, pt.inputs, *[args[n] for n in names])
                except (e.GuardError, e.UndefinedError):
                    return False
                return True

            return st.fixed_dictionaries({n: cents for n in names}).filter(ok).map(lambda a: (pt, a))

        return points.flatmap(args_for)

    def choices(pt: Point) -> st.SearchStrategy[tuple[Point, dict[str, Fraction]]]:
        if _call(lambda: bool(_role(s.engine, s.spec.program.role("liquidatable").name, pt))):  # type: ignore[union-attr]
            return st.nothing()  # the engine refuses an env move while the forced liquidation is enabled
        if not uniform:
            return s.env_choices(t.step, pt).map(lambda c: (pt, c))
        grid = {
            k: st.integers(0, 10**4).map(lambda i, lo=lo, hi=hi: lo + (hi - lo) * Fraction(i, 10**4))
            for k, (lo, hi) in s.env_ranges(t.step, pt).items()
        }
        return st.fixed_dictionaries(grid).map(lambda c: (pt, c))

    return points.flatmap(choices)


def found(
    strategy: st.SearchStrategy[Any], violated: Callable[[Any], bool], n: int, at: int, explicit: SpecStrategies | None
) -> bool:
    """Does a plain @given test with `n` examples (seed `at`) find the violation?"""
    hit: list[Any] = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def test(x: Any) -> None:
        if violated(x):
            hit.append(x)
            raise AssertionError("violated")

    if explicit is not None:
        test = explicit.with_boundary(test)
    try:
        seed(at)(test)()
    except AssertionError:
        pass
    except Exception as err:  # Hypothesis gave up (Unsatisfiable: every draw filtered): not found
        print(f"    ({type(err).__name__})", file=sys.stderr)
    return bool(hit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", default="100,1000")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    start = time.perf_counter()
    rows = []
    cache: dict[str, SpecStrategies] = {}
    for t in TARGETS:
        if t.example not in cache:
            cache[t.example] = checker.strategies(dsl.load(ROOT / "examples" / "bad" / f"{t.example}.margin"))
        s = cache[t.example]
        pred = violation(s, t)
        row: dict[str, Any] = {"example": t.example, "check": t.check, "boundary points": len(s.boundary)}
        t0 = time.perf_counter()
        for label, uniform, explicit in (
            ("spec", False, False),
            ("spec+explicit", False, True),
            ("uniform", True, False),
        ):
            if explicit and t.kind != "state":
                continue
            for n in sizes:
                strat = drawn(s, t, uniform)
                row[f"{label} {n}"] = sum(found(strat, pred, n, k, s if explicit else None) for k in range(args.seeds))
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(row, flush=True)
    total = time.perf_counter() - start
    _write(rows, sizes, args.seeds, total)


def _write(rows: list[dict[str, Any]], sizes: list[int], seeds: int, total: float) -> None:
    cols = [f"{label} {n}" for label in ("spec", "spec+explicit", "uniform") for n in sizes]
    lines = [
        "# Strategies from a spec: do plain @given tests find the known-bad examples' violations?",
        "",
        f"Machine: Python {platform.python_version()}, {platform.platform()}; one process.",
        f"Command: `benchmarks/strategies.py --seeds {seeds} --sizes {','.join(map(str, sizes))}` "
        f"({total / 60:.1f} min).",
        "",
        f"Each cell: on how many of {seeds} seeds a `@given` test of that many examples found the violation "
        "(no shrinking). `spec`: `checker.strategies(spec)` drawn; `spec+explicit`: the boundary points first as "
        "`@example`s (single-state targets; '-' for steps); `uniform`: hand-written uniform strategies.",
        "",
        "| example | check | " + " | ".join(cols) + " |",
        "|---|---|" + "---:|" * len(cols),
    ]
    for r in rows:
        cells = [str(r.get(c, "-")) for c in cols]
        lines.append(f"| {r['example']} | {r['check']} | " + " | ".join(cells) + " |")
    summary = []
    for c in cols:
        got = [r[c] for r in rows if c in r]
        summary.append(f"{sum(1 for g in got if g > 0)}/{len(got)}")
    lines.append("| **targets found (any seed)** | | " + " | ".join(summary) + " |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "strategies.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "strategies.json").write_text(
        json.dumps({"seeds": seeds, "sizes": sizes, "rows": rows}, indent=1) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
