"""The batch back end (`dsl.vector`) gives every `let`, role, guard and `where` the compiled engine's value.

Protects the third back end's semantics, node by node, on the bundled examples that between them use
every IR node: tables with and without gaps (`TableCall`, `RowCell`), `round_down`/`round_up`,
divisions by per-account values (inverse contracts, health factors), `min`/`max`/`abs`, `if`, sums and
quantifiers over assets, and partial operations (an undefined value must be undefined in both).

Points come from `checker.strategies` (valid points, biased to the solver's boundary points: tier
edges, the liquidation threshold). Each example's points are evaluated as one batch, in int64 mode
and in Python-int (`object`) mode, and compared with the engine one point at a time.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsl
from checker.testing.strategies import strategies
from dsl import ir
from dsl import vector as V
from dsl.units import BOOL
from dsl.vector_compile import Compiled

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [
    "examples/binance_usdm_perp.margin",
    "examples/bitmex_inverse_perp.margin",
    "examples/aave_v3_lending.margin",
    "examples/morpho_blue_market.margin",
    "examples/euler_v2_vault.margin",
    "examples/maker_clipper_auction.margin",
    "examples/perp_circuit_breaker.margin",
    "examples/bad/binance_rounding_favours_account.margin",
]


def _keys(program: ir.Program, sym: ir.Symbol) -> list[tuple[str, str | None]]:
    return [(f"{sym.name}[{a}]", a) for a in program.assets] if sym.indexed else [(sym.name, None)]


def _columns(spec: dsl.api.Spec, points: list[Any], checked: bool) -> V.Frame:
    """One frame holding every point: state, input and parameter values per point, exact."""
    program, fields = spec.program, spec.engine.FIELDS
    values: dict[str, V.Value] = {}
    groups = ((program.states, "state"), (program.inputs, "inputs"), (tuple(p.sym for p in program.params), "params"))
    for syms, part in groups:
        for sym in syms:
            for key, asset in _keys(program, sym):
                raw = [getattr(getattr(pt, part), fields[sym.name]) for pt in points]
                if sym.ty == BOOL:
                    flags = [bool(v[asset] if asset is not None else v) for v in raw]
                    values[key] = V.Bool(np.array(flags, dtype=bool))
                    continue
                exact = [Fraction(v[asset] if asset is not None else v) for v in raw]
                scale = int(np.lcm.reduce([x.denominator for x in exact], dtype=object))
                ints = np.array([int(x * scale) for x in exact], dtype=object)
                if checked and all(abs(int(x)) <= V.LIMIT for x in ints):
                    ints = ints.astype(np.int64)
                values[key] = V.column(ints, scale)
    return V.Frame(len(points), values, checked=checked)


def _engine_value(spec: dsl.api.Spec, name: str, pt: Any) -> Any:
    engine = spec.engine
    try:
        return getattr(engine, engine.NAMES[name])(pt.params, pt.state, pt.inputs)
    except engine.UndefinedError:
        return "undefined"


def _batch_value(value: V.Value, i: int, asset: str | None = None) -> Any:
    undefined = value.u
    if undefined is True or (undefined is not None and undefined is not False and bool(np.asarray(undefined)[i])):
        return "undefined"
    if isinstance(value, V.Bool):
        return bool(value.v) if isinstance(value.v, bool) else bool(value.v[i])
    return V.fraction_at(value, i)


def _compare(path: str, points: list[Any], checked: bool) -> None:
    spec = dsl.load(ROOT / path)
    program = spec.program
    code = Compiled(program)
    try:
        frame = _columns(spec, points, checked)
        for let in program.lets:
            for asset in (program.assets if let.sym.indexed else [None]):
                value = code.let(let.sym.name, asset)(frame)
                for i, pt in enumerate(points):
                    want = _engine_value(spec, let.sym.name, pt)
                    if want != "undefined" and asset is not None:
                        want = want[asset]
                    got = _batch_value(value, i)
                    if want == "undefined" and got != "undefined":
                        # The engine computes a per-asset let as a whole: one undefined asset makes it undefined.
                        continue
                    assert got == want, f"{path}: `{let.sym.name}`{f'[{asset}]' if asset else ''} at point {i}"
        _compare_actions(spec, code, frame, points)
    except V.Overflow:
        assert checked, "object mode never overflows"
        _compare(path, points, checked=False)


def _compare_actions(spec: dsl.api.Spec, code: Compiled, frame: V.Frame, points: list[Any]) -> None:
    """Every action the engine can take without arguments (or with a forced action's chosen ones): where
    the engine takes it, the batch guard holds and every update gives the engine's next value."""
    engine, program = spec.engine, spec.program
    for action in program.actions:
        if action.args and not action.forced:
            continue
        step = getattr(engine, engine.STEPS[action.name])
        for name, choice in zip((a.name for a in action.args), action.choices, strict=False):
            frame.values[name] = code.expr(choice)(frame)
        for let in action.locals:
            frame.values[let.sym.name] = code.expr(let.expr)(frame)
        guard = code.expr(action.guard)(frame) if action.guard is not None else V.Bool(True)
        updates = [(u, code.expr(u.expr)(frame)) for u in action.updates]
        for i, pt in enumerate(points):
            try:
                after = step(pt.params, pt.state, pt.inputs)
            except (engine.GuardError, engine.UndefinedError):
                continue
            assert _batch_value(guard, i) is True, f"{action.name}: guard at point {i}"
            for u, value in updates:
                want = getattr(after, engine.FIELDS[u.sym.name])
                if isinstance(u.index, ir.AssetName):
                    want = want[u.index.name]
                elif u.index is not None:
                    continue  # `x'[a in assets]` is unrolled per asset by the runner, not here
                assert _batch_value(value, i) == want, f"{action.name}: {u.sym.name}' at point {i}"


@pytest.mark.parametrize("path", EXAMPLES)
def test_every_let_agrees_with_the_engine(path: str) -> None:
    spec = dsl.load(ROOT / path)
    strategy = strategies(spec)

    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(st.lists(strategy.points(), min_size=1, max_size=25))
    def check(points: list[Any]) -> None:
        _compare(path, points, checked=True)
        _compare(path, points, checked=False)

    check()
