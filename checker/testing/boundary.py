"""Boundary points from the solver: concrete valid states exactly where bugs live.

`boundary_points(spec)` asks Z3 one question per boundary of the spec and
turns each answer into the engine's own objects (a `Point`: `Params`, `State`,
`Inputs`). Every point satisfies the parameter ranges, the `assume`s and
every `where`; what makes it a boundary point is one extra condition:

- the liquidation threshold: `equity - maintenance` equal to 0, and to plus
  and minus `DELTA` (just healthy, just liquidatable), with a positive
  maintenance requirement (a position);
- solvency: `equity` equal to 0 and to plus and minus `DELTA`;
- every table bracket edge a lookup meets: the lookup's argument exactly at
  the edge (the upper bracket, brackets are half-open) and just below it
  (the lower bracket);
- each action enabled (its guard holds, no forced action stands first):
  anywhere, with a position (maintenance > 0), and insolvent (equity < 0);
  `SpecStrategies.transitions(action)` starts from these;
- an `init` state (where runs start, for `SpecStrategies.machine`);
- zero: each numeric state variable and input equal to 0, where a `where`
  allows it.

Each boundary is asked twice: with the parameters free (the solver often
picks a range's end) and at the spec's defaults; and each answer is made
lively: as many state variables and inputs nonzero as the boundary allows
(Z3's first model is mostly zeros).

Each query is bounded by a Z3 resource limit (`rlimit`, per query), never by
the clock, so the same spec gives the same points on any machine. A query
that is unsatisfiable (no valid state has `size == 0` ... ) or that runs out
of work gives no point. Each point is checked on the generated engine (its
ranges, `assume`s and `where`s, and for the threshold and solvency points
the value of the boundary itself): a disagreement between Z3 and the engine
is a bug in solvent and raises `InternalError`.
"""

from __future__ import annotations

import dataclasses
import threading
import types
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import z3

from checker.core.context import Context
from checker.core.encode import Frame, q
from checker.core.options import Options
from checker.core.replay import rational_model, state_value
from checker.core.steps import action_step
from checker.solve import Outcome, solve
from checker.solve.budget import Budget
from dsl import Spec, ir
from dsl.diagnostics import InternalError
from dsl.units import is_numeric

DELTA = Fraction(1, 100)  # "just either side" of a boundary in the boundary's own unit (a cent of USD)
BOUNDARY_RLIMIT = 2_000_000  # Z3 resource units per boundary query: a fraction of a second, most end far below
_TAG = "b"


@dataclass(frozen=True, slots=True)
class Point:
    """One concrete valid point of a spec: the engine's `Params`, `State` and `Inputs`, and why it was chosen."""

    # Why: e.g. "equity - maintenance == 0", "mm_bracket edge 50000", several joined by "; " when one
    # point lies on several boundaries, "" for a generated point.
    label: str

    def on(self, boundary: str) -> bool:
        """Whether this point was chosen for `boundary`: one of its labels, or the head of one before a comma."""
        return any(
            part == boundary or part.startswith((f"{boundary},", f"{boundary} (")) for part in self.label.split("; ")
        )

    params: Any
    state: Any
    inputs: Any


@dataclass(frozen=True, slots=True)
class _Target:
    label: str
    condition: z3.BoolRef
    check: tuple[str, str, Fraction] | None  # (role a, role b or "", value): on the engine, a - b == value


# Points already computed, per engine module (the same spec loaded again builds no new module, see
# `dsl.api.engine_module`) and (rlimit, seed): a test suite asks for a spec's strategies in many tests,
# and `solvent conform` twice in one process (the pytest plugin) asks twice; each time took 382 queries
# (2.4 s) on the Binance example. The points are a function of the spec and the two numbers, and
# immutable (frozen dataclasses of the engine's frozen values), so a second caller gets the same tuple.
_COMPUTED: weakref.WeakKeyDictionary[types.ModuleType, dict[tuple[int, int], tuple[Point, ...]]] = (
    weakref.WeakKeyDictionary()
)
_COMPUTING = threading.Lock()


def boundary_points(spec: Spec, rlimit: int = BOUNDARY_RLIMIT, seed: int = 0) -> tuple[Point, ...]:
    """The spec's boundary points (see the module docstring), in a fixed order; each query within `rlimit`."""
    with _COMPUTING:
        known = _COMPUTED.setdefault(spec.engine, {})
        if (rlimit, seed) not in known:
            known[(rlimit, seed)] = _boundary_points(spec, rlimit, seed)
        return known[(rlimit, seed)]


def _boundary_points(spec: Spec, rlimit: int, seed: int) -> tuple[Point, ...]:
    cx = Context(spec, Options(rlimit=rlimit, engines=("z3",), seed=seed))
    frame = cx.enc.frame(_TAG)
    base = cx.valid(frame)
    budget = Budget(rlimit, Fraction(60))
    points: list[Point] = []
    seen: dict[tuple[Any, Any, Any], int] = {}  # point -> its index in `points`
    nonzero = [
        frame.var(sym, a) != 0
        for sym in (*cx.program.states, *cx.program.inputs)
        if is_numeric(sym.ty)
        for a in cx.enc.assets_of(sym)
    ]
    defaults = [cx.enc.param(*key) == q(cx.preferred[cx.enc.varname(*key, "")]) for key in cx.enc.params]
    for target in _targets(cx, frame):
        # Each boundary twice: with the parameters the solver picks (often a range's end), and at the
        # spec's defaults (the venue's actual setting), when the boundary is reachable there.
        for params, suffix in (([], ""), (defaults, " (default parameters)")):
            query = [*base, *params, target.condition]
            outcome = solve(query, budget, seed)
            if outcome.status != "sat" or outcome.model is None:
                continue
            query, outcome = _lively(query, outcome, nonzero, budget.share(Fraction(1, 4)), seed)
            model = rational_model(outcome.model, query, budget) if outcome.model is not None else None
            if model is None:
                continue
            point = _point(cx, frame, model, target.label + suffix)
            _verify(cx, point, target)
            key = (point.params, point.state, point.inputs)
            if key in seen:  # one point on several boundaries: one point, all its labels
                i = seen[key]
                points[i] = dataclasses.replace(points[i], label=f"{points[i].label}; {point.label}")
            else:
                seen[key] = len(points)
                points.append(point)
    return tuple(points)


def _lively(
    query: list[z3.BoolRef], found: Outcome, nonzero: list[z3.BoolRef], budget: Budget, seed: int
) -> tuple[list[z3.BoolRef], Outcome]:
    """The same boundary with as many variables nonzero as it allows (all at once, else greedily in order).

    Z3's first model is mostly zeros (an empty account on the threshold); a state with a balance, a
    position and a price is the one a bug shows in, and the one perturbations start from.
    """
    every = solve([*query, *nonzero], budget, seed)
    if every.status == "sat" and every.model is not None:
        return [*query, *nonzero], every
    kept = list(query)
    for cond in nonzero:
        tried = solve([*kept, cond], budget, seed)
        if tried.status == "sat" and tried.model is not None:
            kept.append(cond)
            found = tried
    return kept, found


def _targets(cx: Context, f: Frame) -> Iterator[_Target]:
    program = cx.program
    if program.role("equity") is not None and program.role("maintenance") is not None:
        eq, oke = f.role("equity")
        m, okm = f.role("maintenance")
        for d, what in ((Fraction(0), "== 0"), (DELTA, f"== {DELTA}"), (-DELTA, f"== -{DELTA}")):
            # With a real requirement (maintenance > 0): the threshold of an empty account is trivial.
            cond = z3.And(oke, okm, m > 0, eq - m == q(d))
            yield _Target(f"equity - maintenance {what}", cond, ("equity", "maintenance", d))
    if program.role("equity") is not None:
        eq, oke = f.role("equity")
        for d, what in ((Fraction(0), "== 0"), (DELTA, f"== {DELTA}"), (-DELTA, f"== -{DELTA}")):
            yield _Target(f"equity {what}", z3.And(oke, eq == q(d)), ("equity", "", d))
    yield from _table_edges(cx, f)
    yield from _enabled(cx, f)
    if program.init:
        parts = []
        for c in program.init:
            term, ok = cx.enc.formula(c.expr, f)
            parts += [ok, term]
        yield _Target("init", z3.And(*parts), None)
    for sym in (*program.states, *program.inputs):
        if not is_numeric(sym.ty):
            continue
        for asset in cx.enc.assets_of(sym):
            shown = sym.name if asset is None else f"{sym.name}[{asset}]"
            yield _Target(f"{shown} == 0", f.var(sym, asset) == 0, None)


def _enabled(cx: Context, f: Frame) -> Iterator[_Target]:
    """For each action: a state where it can be taken; with a position; and insolvent (equity < 0)."""
    program = cx.program
    variants: list[tuple[str, z3.BoolRef]] = [("", z3.BoolVal(True))]
    if program.role("maintenance") is not None:
        m, okm = f.role("maintenance")
        variants.append((", maintenance > 0", z3.And(okm, m > 0)))
    if program.role("equity") is not None:
        eq, oke = f.role("equity")
        variants.append((", equity < 0", z3.And(oke, eq < 0)))
    for a in program.actions:
        t = action_step(cx.enc, f, a, f"{_TAG}.{a.name}")
        for what, extra in variants:
            yield _Target(f"{a.name} enabled{what}", z3.And(t.guard, t.defined, t.free, extra), None)


def _table_edges(cx: Context, f: Frame) -> Iterator[_Target]:
    """Each finite edge of each table lookup the spec's lets make: at the edge, and just below it."""
    for let in cx.program.lets:  # translating every let records its table lookups in the encoder
        for asset in cx.enc.assets_of(let.sym):
            f.let(let.sym.name, asset)
    done: set[tuple[str, str, Fraction]] = set()
    for use in list(cx.enc.structure.tables.values()):
        rows = use.rows
        for i, (lo, hi) in enumerate(rows):
            if lo is None or (use.table, str(use.arg), lo) in done:
                continue
            done.add((use.table, str(use.arg), lo))
            width = [w for w in (hi - lo if hi is not None else None, _width(rows, i - 1)) if w is not None]
            below = min([DELTA, *(w / 100 for w in width)])
            yield _Target(f"{use.table} edge {lo}", use.arg == q(lo), None)
            yield _Target(f"{use.table} edge {lo} - {below}", use.arg == q(lo - below), None)


def _width(rows: tuple[tuple[Fraction | None, Fraction | None], ...], i: int) -> Fraction | None:
    if i < 0:
        return None
    lo, hi = rows[i]
    return hi - lo if lo is not None and hi is not None else None


def _point(cx: Context, f: Frame, model: z3.ModelRef, label: str) -> Point:
    engine = cx.spec.engine
    program = cx.program

    def values(syms: tuple[ir.Symbol, ...], term: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in syms:
            if s.indexed:
                out[engine.FIELDS[s.name]] = {a: state_value(model, term(s, a)) for a in program.assets}
            else:
                out[engine.FIELDS[s.name]] = state_value(model, term(s, None))
        return out

    params = engine.Params(**values(tuple(p.sym for p in program.params), lambda s, a: cx.enc.param(s.name, a)))
    state = engine.State(**values(program.states, f.var))
    inputs = engine.Inputs(**values(program.inputs, f.var))
    return Point(label, params, state, inputs)


def _verify(cx: Context, point: Point, target: _Target) -> None:
    """The engine must agree that the solver's point is valid and lies on its boundary."""
    engine = cx.spec.engine
    p, s, i = point.params, point.state, point.inputs
    if not engine.assumptions_hold(p) or not engine.where_holds(p, s, i):
        raise InternalError(f"boundary point `{point.label}`: the engine says it breaks an `assume` or a `where`")
    if target.check is None:
        return
    a, b, value = target.check
    role_a = cx.program.role(a)
    role_b = cx.program.role(b) if b else None
    assert role_a is not None
    got = getattr(engine, engine.NAMES[role_a.name])(p, s, i)
    if role_b is not None:
        got -= getattr(engine, engine.NAMES[role_b.name])(p, s, i)
    if got != value:
        raise InternalError(f"boundary point `{point.label}`: Z3 has {value} but the engine computes {got}")
