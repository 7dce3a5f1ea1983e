"""Hypothesis strategies from a spec: valid parameters, states, inputs, action arguments and env moves.

`strategies(spec)` returns a `SpecStrategies` whose strategies produce the
spec's engine objects (`spec.engine.Params`, `State`, `Inputs`) with exact
values (Fractions, never floats):

- `params()`: every parameter in its declared range, the `assume`s holding;
- `points(params=None)`: a `Point` (parameters, state, inputs) satisfying
  every `where`; `states(...)` and `inputs(...)` are its parts;
- `arguments(action, point)`: an action's arguments under which its guard
  holds (the engine runs the action without `GuardError`);
- `env_choices(env, point)`: one env move's choices within their ranges,
  the ends of each range (the largest move) among them;
- `machine()`: whole runs, a `RuleBasedStateMachine` from `init` through the
  spec's actions and env moves, checking every `where` and `invariant`.

Where bugs live: the solver's boundary points (`checker.testing.boundary`:
the exact liquidation threshold and just either side, each table bracket
edge, zero equity, zero of each variable) are drawn as explicit examples,
and the general values are built around them: a drawn point starts from a
boundary point and keeps, perturbs (scaled, or shifted by cents) or redraws
each value, at the magnitudes the boundary points show. Values are then
filtered on the engine with `assume` (ranges, `assume`s, `where`s, guards):
what is generated is always valid, and the filter rarely rejects because
the values start from valid witnesses and simple bounds (`x >= 0`) are
respected by construction.

`uniform_points()` is the unbiased baseline a person would write by hand
(each number uniform on a fixed grid, bounds respected), kept for
comparison (benchmarks/strategies.py).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

import z3
from hypothesis import assume, example
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine

from checker.core.encode import Encoder, Frame, q
from checker.core.replay import exact_value, rational_model, to_fraction
from checker.core.steps import action_step
from checker.solve.budget import Budget
from checker.solve.z3engine import solve_z3
from checker.testing.boundary import BOUNDARY_RLIMIT, Point, boundary_points
from dsl import Spec, ir
from dsl.units import is_numeric

__all__ = ["Point", "SpecStrategies", "strategies"]

F = TypeVar("F", bound=Callable[..., Any])
Key = tuple[str, str | None]  # (name, asset)
ARGUMENT_RLIMIT = 500_000  # Z3 resource units for one point's argument witness (the query is ground but for them)
_SCALE = 1000  # a perturbed value is anchor * k / _SCALE, k in [0, 2 * _SCALE]


@dataclass(frozen=True, slots=True)
class Bound:
    """A simple bound a `where` states on one variable: `lo <(=) x <(=) hi`."""

    lo: Fraction | None = None
    lo_strict: bool = False
    hi: Fraction | None = None
    hi_strict: bool = False

    def holds(self, v: Fraction) -> bool:
        if self.lo is not None and (v < self.lo or (self.lo_strict and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.hi_strict and v == self.hi)))

    def into(self, v: Fraction) -> Fraction:
        """`v` reflected into the bound (a negative draw for `x >= 0` becomes positive), else clamped."""
        if self.lo is not None and v < self.lo:
            v = self.lo + (self.lo - v)
        if self.hi is not None and v > self.hi:
            v = self.hi - (v - self.hi)
        if self.lo is not None and v < self.lo:
            v = self.lo
        return v


def strategies(spec: Spec, rlimit: int = BOUNDARY_RLIMIT, seed: int = 0) -> SpecStrategies:
    """Hypothesis strategies for `spec` (a `dsl.load`ed spec), biased towards the solver's boundary points.

    The boundary points are computed once, here: one Z3 query per boundary, each within `rlimit`
    resource units (deterministic: the same spec gives the same points on any machine).
    """
    return SpecStrategies(spec, boundary_points(spec, rlimit, seed))


@dataclass(frozen=True)
class SpecStrategies:
    """Strategies for one spec; see the module docstring. Build it with `strategies(spec)`."""

    spec: Spec
    boundary: tuple[Point, ...]
    _bounds: dict[Key, Bound] = field(init=False, repr=False)
    _anchors: dict[Key, tuple[Fraction, ...]] = field(init=False, repr=False)
    _cache: dict[str, Any] = field(init=False, repr=False, default_factory=dict)  # per action: its Z3 step
    _witnesses: dict[Any, dict[str, Fraction] | None] = field(
        init=False, repr=False, default_factory=dict
    )  # per action and point
    # The strategies that draws build from, each made once (see `_once`).
    _made: dict[tuple[object, ...], st.SearchStrategy[Any]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_bounds", _where_bounds(self.spec.program))
        object.__setattr__(self, "_anchors", _anchors(self))

    @property
    def engine(self) -> Any:
        return self.spec.engine

    def _once(self, key: tuple[object, ...], build: Callable[[], st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
        """The strategy `build` makes, made once per `key` and reused by every later draw.

        A draw that built its strategies afresh had Hypothesis validate each new one on first use:
        in a profile of 1,000 drawn points (tests/test_strategies.py), that validation was 36 of
        the 68 s spent drawing. The same strategy drawn again costs only the draw.
        """
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = build()
        return made

    def with_boundary(self, test: F) -> F:
        """Decorate a `@given(s.points())` test so that every boundary point runs first, as an `@example`.

        Put it above `@given`. Explicit examples run before any generated one (Hypothesis' explicit
        phase) and in addition to `max_examples`; a test whose @given takes several arguments should
        use `points()` alone, where the boundary points are drawn often but not always.
        """
        for pt in reversed(self.boundary):
            test = example(pt)(test)
        return test

    # ---- parameters ------------------------------------------------------

    def params(self) -> st.SearchStrategy[Any]:
        """The engine's `Params`: each parameter in its declared range (ends and default likely), `assume`s holding."""
        witnesses = [pt.params for pt in self.boundary] or [self.engine.Params()]
        return st.sampled_from(witnesses).flatmap(self._params_around)

    def _params_around(self, base: Any) -> st.SearchStrategy[Any]:
        """Parameters drawn around `base`: each kept, at a range end or default, or anywhere in its range."""
        return self._once(("around", _frozen(base)), lambda: self._new_params_around(base))

    def _new_params_around(self, base: Any) -> st.SearchStrategy[Any]:
        program, engine = self.spec.program, self.engine

        @st.composite
        def draw(data: st.DrawFn) -> Any:
            values: dict[str, Any] = {}
            for p in program.params:
                name = engine.FIELDS[p.sym.name]
                old = getattr(base, name)
                if p.sym.indexed:
                    values[name] = {a: data(self._param_value(p, a, old[a])) for a in program.assets}
                else:
                    values[name] = data(self._param_value(p, None, old))
            made = engine.Params(**values)
            assume(engine.assumptions_hold(made))
            return made

        return draw()

    def _param_value(self, p: ir.Param, asset: str | None, old: Fraction) -> st.SearchStrategy[Fraction]:
        return self._once(("param", p.sym.name, asset, type(old), old), lambda: self._new_param_value(p, asset, old))

    def _new_param_value(self, p: ir.Param, asset: str | None, old: Fraction) -> st.SearchStrategy[Fraction]:
        default = dict(p.default)[asset] if isinstance(p.default, tuple) and asset else p.default
        assert isinstance(default, Fraction)
        if p.pinned or (p.lo is not None and p.lo == p.hi):
            return st.just(default)
        lo, hi = p.lo, p.hi
        if lo is not None and hi is not None:
            span = hi - lo
            grid = st.integers(0, 10_000).map(lambda k: lo + span * Fraction(k, 10_000))
            return st.one_of(st.just(old), st.sampled_from([lo, hi, default]), grid)
        bound = Bound(lo=lo, hi=hi)
        return st.one_of(st.just(old), st.just(default), _numbers((old, default)).map(bound.into))

    # ---- points, states, inputs -------------------------------------------

    def points(self, params: Any = None) -> st.SearchStrategy[Point]:
        """Valid points: parameters (from `params()`, or the given `Params`), a state and inputs, every `where` holding.

        The solver's boundary points (with these parameters, when given) come first and often.
        """
        general = self._general(params)
        explicit = [pt for pt in self.boundary if params is None or pt.params == params]
        return st.one_of(st.sampled_from(explicit), general) if explicit else general

    def states(self, params: Any = None) -> st.SearchStrategy[Any]:
        """The engine's `State`, part of a valid point (`points`)."""
        return self.points(params).map(lambda pt: pt.state)

    def inputs(self, params: Any = None) -> st.SearchStrategy[Any]:
        """The engine's `Inputs`, part of a valid point (`points`)."""
        return self.points(params).map(lambda pt: pt.inputs)

    def _general(self, params: Any, bases: list[Point] | None = None) -> st.SearchStrategy[Point]:
        program, engine = self.spec.program, self.engine
        bases = list(self.boundary) if bases is None else bases
        fallback = st.just(params) if params is not None else self.params()

        @st.composite
        def draw(data: st.DrawFn) -> Point:
            base = data(st.sampled_from(bases)) if bases else None
            # Parameters around the base point's own (a state on a threshold is on it for its parameters).
            p = data(fallback if params is not None or base is None else self._params_around(base.params))
            parts = []
            for syms, cls in ((program.states, engine.State), (program.inputs, engine.Inputs)):
                values: dict[str, Any] = {}
                for sym in syms:
                    name = engine.FIELDS[sym.name]
                    old = getattr(base.state if sym.kind is ir.Kind.STATE else base.inputs, name) if base else None
                    if sym.indexed:
                        values[name] = {
                            a: data(self._var_value(sym, a, old[a] if old is not None else None))
                            for a in program.assets
                        }
                    else:
                        values[name] = data(self._var_value(sym, None, old))
                parts.append(cls(**values))
            state, inputs = parts
            assume(engine.where_holds(p, state, inputs))
            return Point("", p, state, inputs)

        return draw()

    def _var_value(self, sym: ir.Symbol, asset: str | None, old: Any) -> st.SearchStrategy[Any]:
        # `old` by type too: a flag's True and a number's 1 are equal keys in a dict.
        return self._once(("var", sym.name, asset, type(old), old), lambda: self._new_var_value(sym, asset, old))

    def _new_var_value(self, sym: ir.Symbol, asset: str | None, old: Any) -> st.SearchStrategy[Any]:
        if not is_numeric(sym.ty):
            return st.booleans() if old is None else st.one_of(st.just(old), st.booleans())
        key = (sym.name, asset)
        bound = self._bounds.get(key, Bound())
        anchors = self._anchors.get(key, ())
        fresh = self._once(("fresh", *key), lambda: _numbers(anchors).map(bound.into).filter(bound.holds))
        if old is None:
            return fresh
        nudged = st.integers(-100, 100).map(lambda k: bound.into(old + Fraction(k, 100))).filter(bound.holds)
        return st.one_of(st.just(old), nudged, fresh)

    def uniform_points(self, params: Any = None, scale: int = 10**6) -> st.SearchStrategy[Point]:
        """The hand-written baseline: each number uniform on cents in [-scale, scale], reflected into simple bounds.

        Parameters are uniform on their range (or `params`); no boundary points, no anchors.
        """
        program, engine = self.spec.program, self.engine

        @functools.cache  # each strategy made once, not per draw (see `_once`)
        def number(bound: Bound) -> st.SearchStrategy[Fraction]:
            return st.integers(-scale * 100, scale * 100).map(lambda k: bound.into(Fraction(k, 100)))

        def param(p: ir.Param) -> st.SearchStrategy[Fraction]:
            default = p.default if isinstance(p.default, Fraction) else p.default[0][1]
            if p.pinned or p.lo is None or p.hi is None:
                return st.just(default)
            lo, span = p.lo, p.hi - p.lo
            return st.integers(0, 10_000).map(lambda k: lo + span * Fraction(k, 10_000))

        each_param = {p.sym.name: param(p) for p in program.params}

        @st.composite
        def draw(data: st.DrawFn) -> Point:
            if params is None:
                pv: dict[str, Any] = {}
                for p in program.params:
                    s = each_param[p.sym.name]
                    pv[engine.FIELDS[p.sym.name]] = {a: data(s) for a in program.assets} if p.sym.indexed else data(s)
                made = engine.Params(**pv)
                assume(engine.assumptions_hold(made))
            else:
                made = params
            parts = []
            for syms, cls in ((program.states, engine.State), (program.inputs, engine.Inputs)):
                values: dict[str, Any] = {}
                for sym in syms:

                    def one(a: str | None, sym: ir.Symbol = sym) -> Any:
                        if not is_numeric(sym.ty):
                            return data(st.booleans())
                        return data(number(self._bounds.get((sym.name, a), Bound())))

                    values[engine.FIELDS[sym.name]] = {a: one(a) for a in program.assets} if sym.indexed else one(None)
                parts.append(cls(**values))
            assume(engine.where_holds(made, parts[0], parts[1]))
            return Point("", made, parts[0], parts[1])

        return draw()

    # ---- steps -----------------------------------------------------------

    def arguments(self, action: str, point: Point) -> st.SearchStrategy[dict[str, Fraction]]:
        """Arguments of `action` (by name) under which the engine takes it from `point` (its guard holds).

        Z3 first finds one witness at this point (the point's values substituted, only the arguments
        free, within `ARGUMENT_RLIMIT`); draws keep it, scale it or shift it by cents, or take fresh
        numbers at the magnitudes of the point's own values; a draw the engine refuses (run on it)
        is replaced by the witness, so nothing is filtered out. When no argument makes the guard hold
        at `point` (Z3 says so), the strategy is empty: Hypothesis rejects the point (use
        `transitions` to draw both together, or `can_take` to ask first).
        """
        a = self.spec.program.action(action)
        engine = self.engine
        fn = getattr(engine, engine.STEPS[a.name])
        witness = self._witness_args(a, point)
        if witness is None:
            return st.nothing()
        anchors = _point_numbers(self.spec.program, engine, point)

        made: dict[Fraction, st.SearchStrategy[Fraction]] = {}  # per witness value, made once (see `_once`)

        def around(w: Fraction) -> st.SearchStrategy[Fraction]:
            if w not in made:
                made[w] = st.one_of(
                    st.just(w),
                    st.integers(0, 2 * _SCALE).map(lambda k: w * Fraction(k, _SCALE)),
                    st.integers(-100, 100).map(lambda k: w + Fraction(k, 100)),
                    _numbers([w, *anchors]),
                )
            return made[w]

        @st.composite
        def draw(data: st.DrawFn) -> dict[str, Fraction]:
            args = {arg.name: data(around(witness[arg.name])) for arg in a.args}
            try:
                fn(point.params, point.state, point.inputs, *[args[x.name] for x in a.args])
            except (engine.GuardError, engine.UndefinedError):
                # Not `assume`: a rejection inside a stateful rule throws the whole run away.
                return witness
            return args

        return st.one_of(st.just(witness), draw())

    def can_take(self, action: str, point: Point) -> bool:
        """Whether some arguments let the engine take `action` at `point` (Z3, within `ARGUMENT_RLIMIT`)."""
        return self._witness_args(self.spec.program.action(action), point) is not None

    def can_move(self, env: str, point: Point) -> bool:
        """Whether the engine takes env move `env` at `point` (its guard holds, no forced action first)."""
        engine = self.engine
        try:
            choice = {k: lo for k, (lo, _) in self.env_ranges(env, point).items()}
            getattr(engine, engine.STEPS[env])(point.params, point.state, point.inputs, choice)
        except (engine.GuardError, engine.UndefinedError, ArithmeticError):
            return False
        return True

    def initial_points(self) -> st.SearchStrategy[Point]:
        """Valid points satisfying every `init`: the solver's `init` witness, as it is or perturbed."""
        engine = self.engine
        inits = [getattr(engine, fn) for k, fn in engine.FORMULAS.items() if k.startswith("init:")]
        bases = [pt for pt in self.boundary if pt.on("init")]

        def ok(pt: Point) -> bool:
            return all(f(pt.params, pt.state, pt.inputs) for f in inits)

        general = self._general(None, bases or None).filter(ok)
        return st.one_of(st.sampled_from(bases), general) if bases else general

    def machine(self) -> type[RuleBasedStateMachine]:
        """A Hypothesis `RuleBasedStateMachine` of the spec's runs (`checker.testing.machine`)."""
        from checker.testing.machine import spec_machine

        return spec_machine(self)

    def transitions(self, action: str) -> st.SearchStrategy[tuple[Point, dict[str, Fraction]]]:
        """A valid point where `action` can be taken, and arguments for it (`points` then `arguments`).

        The points start from the solver's witnesses where the action is enabled (boundary points
        labelled `ACTION enabled...`), drawn as they are or perturbed.
        """
        self.spec.program.action(action)  # KeyError for an unknown action, before any drawing
        enabled = [pt for pt in self.boundary if pt.on(f"{action} enabled")]
        points = st.one_of(st.sampled_from(enabled), self._general(None, enabled)) if enabled else self.points()
        return points.flatmap(lambda pt: self.arguments(action, pt).map(lambda args: (pt, args)))

    def _witness_args(self, a: ir.Action, point: Point) -> dict[str, Fraction] | None:
        """Arguments for which Z3 says `a` runs from `point` (guard holds, defined, no forced action first)."""
        memo = (a.name, point.params, point.state, point.inputs)
        if memo in self._witnesses:
            return self._witnesses[memo]
        found = self._solve_args(a, point)
        if len(self._witnesses) < 10_000:
            self._witnesses[memo] = found
        return found

    def _solve_args(self, a: ir.Action, point: Point) -> dict[str, Fraction] | None:
        key = f"action:{a.name}"
        if key not in self._cache:
            enc = Encoder(self.spec.program)
            frame = enc.frame("now")
            self._cache[key] = (enc, frame, action_step(enc, frame, a, "next"))
        enc, frame, t = self._cache[key]
        subst = _substitution(self.spec.program, self.engine, enc, frame, point)
        query = (
            [z3.substitute(c, *subst) for c in (t.guard, t.defined, t.free)] if subst else [t.guard, t.defined, t.free]
        )
        outcome = solve_z3(query, Budget(ARGUMENT_RLIMIT, Fraction(60)), 0)
        if outcome.status != "sat" or outcome.model is None:
            return None
        model = rational_model(outcome.model, query, Budget(ARGUMENT_RLIMIT, Fraction(60)))
        if model is None:
            return None
        return {name: exact_value(model, v) for name, v in t.args.items()}

    def env_choices(self, env: str, point: Point) -> st.SearchStrategy[dict[str, Fraction]]:
        """One `env` move's choices from `point` (keys as the engine's move takes them), within their ranges.

        The ends of each range (the largest move either way) are drawn often. Each range is computed
        by the Z3 encoding of the spec with the point's values substituted (exact).
        """
        ranges = self.env_ranges(env, point)
        parts = {}
        for key, (lo, hi) in ranges.items():
            parts[key] = st.one_of(st.sampled_from([lo, hi]), grid(lo, hi, 1000))
        return st.fixed_dictionaries(parts)

    def env_ranges(self, env: str, point: Point) -> dict[str, tuple[Fraction, Fraction]]:
        """Each choice of `env` from `point` (keys as the engine takes them) and its exact closed range."""
        program = self.spec.program
        step = next(e for e in program.envs if e.name == env)
        enc = Encoder(program)
        frame = enc.frame("now")
        subst = _substitution(program, self.engine, enc, frame, point)
        out: dict[str, tuple[Fraction, Fraction]] = {}
        for u in step.updates:
            match u.index:
                case None:
                    items: list[tuple[str, dict[str, str]]] = [(u.sym.name, {})]
                case ir.AssetName(name=a):
                    items = [(f"{u.sym.name}[{a}]", {})]
                case ir.BoundVar(name=v):
                    items = [(f"{u.sym.name}[{a}]", {v: a}) for a in program.assets]
            for key, scope in items:
                lo, _ = enc.formula(u.lo, frame, scope=scope)
                hi, _ = enc.formula(u.hi, frame, scope=scope)
                out[key] = (_ground(lo, subst), _ground(hi, subst))
        return out


# ---- helpers -------------------------------------------------------------


def _substitution(
    program: ir.Program, engine: Any, enc: Encoder, frame: Frame, point: Point
) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
    """Each Z3 constant of the parameters and of `frame` paired with `point`'s exact value."""
    subst: list[tuple[z3.ExprRef, z3.ExprRef]] = []
    for p in program.params:
        value = getattr(point.params, engine.FIELDS[p.sym.name])
        for a in enc.assets_of(p.sym):
            subst.append((enc.param(p.sym.name, a), q(value[a] if a is not None else value)))
    for sym in (*program.states, *program.inputs):
        obj = point.state if sym.kind is ir.Kind.STATE else point.inputs
        value = getattr(obj, engine.FIELDS[sym.name])
        for a in enc.assets_of(sym):
            v = value[a] if a is not None else value
            subst.append((frame.var(sym, a), z3.BoolVal(v) if isinstance(v, bool) else q(v)))
    return subst


def grid(lo: Fraction, hi: Fraction, steps: int) -> st.SearchStrategy[Fraction]:
    """`lo + (hi - lo) * k / steps` for k in [0, steps]: exact points spread over a closed range."""
    span = hi - lo
    return st.integers(0, steps).map(lambda k: lo + span * Fraction(k, steps))


def _ground(term: z3.ExprRef, subst: list[tuple[z3.ExprRef, z3.ExprRef]]) -> Fraction:
    return to_fraction(z3.simplify(z3.substitute(term, *subst)))


def _numbers(anchors: tuple[Fraction, ...] | list[Fraction], signed: bool = True) -> st.SearchStrategy[Fraction]:
    """Exact numbers at the anchors' magnitudes: anchors, anchors scaled, round numbers, 0 and ±1."""
    nonzero = sorted({abs(a) for a in anchors if a != 0})
    exps = sorted({len(str(int(a))) - 1 for a in nonzero if a >= 1} | {-2, 0, 2})
    mags = [Fraction(10) ** e for e in exps]
    parts: list[st.SearchStrategy[Fraction]] = [
        st.sampled_from([Fraction(0), Fraction(1), Fraction(-1)]),
        st.builds(lambda m, k: m * Fraction(k, 1000), st.sampled_from(mags), st.integers(-10_000, 10_000)),
    ]
    if nonzero:
        scaled = st.builds(
            lambda a, k: a * Fraction(k, _SCALE), st.sampled_from(nonzero), st.integers(-2 * _SCALE, 2 * _SCALE)
        )
        parts = [st.sampled_from([*nonzero, *(-a for a in nonzero)]), scaled, *parts]
    return st.one_of(parts)


def _point_numbers(program: ir.Program, engine: Any, point: Point) -> list[Fraction]:
    out: list[Fraction] = []
    for obj, syms in ((point.params, [p.sym for p in program.params]), (point.state, program.states)):
        for sym in syms:
            v = getattr(obj, engine.FIELDS[sym.name])
            out += [x for x in (v.values() if isinstance(v, Mapping) else [v]) if isinstance(x, Fraction)]
    for sym in program.inputs:
        v = getattr(point.inputs, engine.FIELDS[sym.name])
        out += [x for x in (v.values() if isinstance(v, Mapping) else [v]) if isinstance(x, Fraction)]
    return out


def _anchors(s: SpecStrategies) -> dict[Key, tuple[Fraction, ...]]:
    """Each variable's values across the boundary points: the magnitudes general draws start from."""
    engine, program = s.engine, s.spec.program
    out: dict[Key, set[Fraction]] = {}
    for pt in s.boundary:
        for sym in (*program.states, *program.inputs):
            if not is_numeric(sym.ty):
                continue
            v = getattr(pt.state if sym.kind is ir.Kind.STATE else pt.inputs, engine.FIELDS[sym.name])
            for a in program.assets if sym.indexed else [None]:
                out.setdefault((sym.name, a), set()).add(v[a] if a is not None else v)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _where_bounds(program: ir.Program) -> dict[Key, Bound]:
    """Simple bounds (`x >= 0`, `all(a in assets: x[a] > 0)`) the `where`s state, per variable and asset."""
    out: dict[Key, Bound] = {}
    assets: list[str | None] = list(program.assets)

    def visit(e: ir.Expr) -> None:
        match e:
            case ir.BoolOp(op="and", left=left, right=right):
                visit(left)
                visit(right)
            case ir.Quant(kind="all", body=body):
                visit(body)
            case ir.Cmp(op=op, left=ir.Var() as v, right=ir.Const(value=c)):
                record(v, op, c)
            case ir.Cmp(op=op, left=ir.Const(value=c), right=ir.Var() as v):
                record(v, _FLIP.get(op, op), c)

    def record(v: ir.Var, op: str, c: Fraction) -> None:
        if v.sym.kind not in (ir.Kind.STATE, ir.Kind.INPUT):
            return
        match v.index:
            case None:
                keys: list[str | None] = [None]
            case ir.AssetName(name=name):
                keys = [name]
            case ir.BoundVar():
                keys = assets
        for a in keys:
            b = out.get((v.sym.name, a), Bound())
            if op in (">", ">="):
                b = Bound(c, op == ">", b.hi, b.hi_strict) if b.lo is None or c >= b.lo else b
            elif op in ("<", "<="):
                b = Bound(b.lo, b.lo_strict, c, op == "<") if b.hi is None or c <= b.hi else b
            elif op == "==":
                b = Bound(c, False, c, False)
            out[(v.sym.name, a)] = b

    for w in program.wheres:
        visit(w.expr)
    return out


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _frozen(obj: Any) -> tuple[object, ...]:
    """A hashable key for one of the engine's dataclasses (per-asset maps as sorted pairs, each value by type too)."""
    out: list[object] = [type(obj)]
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        items = sorted(v.items()) if isinstance(v, Mapping) else [(None, v)]
        out.append(tuple((a, type(x), x) for a, x in items))
    return tuple(out)
