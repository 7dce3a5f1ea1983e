"""The built-in catalogue of specification errors, and user properties.

Each check states its question as a satisfiability query over the spec's
parameter space (ranges and `assume`s), one or two frames of state and the
`where` constraints, and asks Z3: `unsat` is PROVED, `sat` is VIOLATED (with
a counterexample replayed on the engine), anything else UNKNOWN with the
reason. Every check that needs something the spec lacks is reported as
SKIPPED with what is missing. The formulas are documented in spec/checks.md.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any

import z3

from checker.encode import Encoder, Frame, q
from checker.replay import Predicate, Replayer, Scene, View, rational_model, readable_model
from checker.results import CheckResult
from checker.solver import Options, Outcome, Verdict, solve, validate_pins
from checker.steps import Transition, action_step, env_step
from dsl import Spec, ir
from dsl.diagnostics import Span

Check = Callable[["Context"], Iterator[CheckResult]]


class Context:
    """Everything the checks share for one spec: encoder, engine, options."""

    def __init__(self, spec: Spec, options: Options) -> None:
        self.spec = spec
        self.program = spec.program
        self.options = options
        validate_pins(self.program, options.pins)
        self.zctx = z3.Context()  # for the deep search's optimisation queries
        self.seen: dict[str, int] = {}  # result names given so far
        self.integers = uses_rounding(self.program)
        self.enc = Encoder(self.program, options.pins, options.all_defaults)
        self.replayer = Replayer(self.program, self.enc, spec.engine)
        self.params = [self.enc.param_space(), self.enc.assumptions()]
        # Counterexamples prefer the spec's default parameters, when the violation allows them.
        self.preferred: dict[str, Fraction] = {}
        for p in self.program.params:
            for asset in self.enc.assets_of(p.sym):
                default = dict(p.default)[asset] if isinstance(p.default, tuple) and asset else p.default
                assert isinstance(default, Fraction)
                self.preferred[self.enc.varname(p.sym.name, asset, "")] = default

    def solve(self, assertions: list[z3.BoolRef], timeout: Fraction | None = None) -> Outcome:
        """One query (with a shorter `timeout` than the options', if given), in a fresh Z3 context.

        Z3's search depends on the numbering of terms in its context. A context shared by all the
        queries of a spec made an answer depend on which queries came before (one known-bad example
        was VIOLATED in a full run and UNKNOWN with `--only invariant`); a fresh one per query makes
        it depend on the query alone.
        """
        options = self.options if timeout is None else dataclasses.replace(self.options, timeout=timeout)
        return solve(assertions, options, self.integers, z3.Context())

    def witness(
        self, check_id: str, name: str, assertions: list[z3.BoolRef], good: str, bad: str, at: Span | None = None
    ) -> CheckResult:
        """A query whose satisfiability is the good outcome (a state, a parameter value exists)."""
        return self.ask(check_id, name, assertions, None, None, "", sat_is_good=True, good=good, bad=bad, at=at)

    def valid(self, frame: Frame) -> list[z3.BoolRef]:
        """Parameters in their space, and `frame` a state that satisfies every `where`."""
        return [*self.params, frame.where()]

    def role(self, frame: Frame, name: str) -> tuple[z3.ExprRef, z3.BoolRef]:
        return frame.role(name)

    def has(self, *roles: str) -> list[str]:
        return [r for r in roles if self.program.role(r) is None]

    def ask(
        self,
        check_id: str,
        name: str,
        assertions: list[z3.BoolRef],
        scene: Scene | None,
        violated: Predicate | None,
        meaning: str,
        proof: str = "single-state",
        sat_is_good: bool = False,
        good: str = "",
        bad: str = "",
        at: Span | None = None,
    ) -> CheckResult:
        """Run one query. By default sat means VIOLATED; `sat_is_good` flips it (reachability)."""
        self.seen[name] = self.seen.get(name, 0) + 1
        if self.seen[name] > 1:  # e.g. two divisions on one line: keep every result's name distinct
            name = f"{name} #{self.seen[name]}"
        start = time.perf_counter()
        outcome = self.solve(assertions)
        seconds = time.perf_counter() - start
        if outcome.status == "unknown":
            return _located(
                CheckResult(check_id, name, Verdict.UNKNOWN, seconds, f"the solver gave up: {outcome.reason}"), at
            )
        if sat_is_good:
            if outcome.status == "sat":
                return _located(CheckResult(check_id, name, Verdict.PROVED, seconds, good, proof), at)
            return _located(CheckResult(check_id, name, Verdict.VIOLATED, seconds, bad, proof), at)
        if outcome.status == "unsat":
            return _located(CheckResult(check_id, name, Verdict.PROVED, seconds, "", proof), at)
        cex = None
        reason = meaning
        if scene is not None and violated is not None and outcome.model is not None:
            model = rational_model(outcome.model, assertions, self.options.timeout)
            if model is None:
                reason += " (the solver's witness has irrational values; no exact counterexample was found)"
            elif self.options.replay:
                model = readable_model(model, assertions, self.preferred)
                cex = self.replayer.replay(model, scene, violated)
        return _located(
            CheckResult(check_id, name, Verdict.VIOLATED, time.perf_counter() - start, reason, proof, cex), at
        )


def uses_rounding(program: ir.Program) -> bool:
    """Whether any formula of the program rounds (Z3 integer conversion, which rules out nlsat)."""
    exprs: list[ir.Expr] = [let.expr for let in program.lets]
    exprs += [
        c.expr for c in (*program.assumes, *program.wheres, *program.init, *program.invariants, *program.properties)
    ]
    exprs += [c.expr for c in program.conserved]
    for a in program.actions:
        exprs += [
            *([a.guard] if a.guard is not None else []),
            *(x.expr for x in a.locals),
            *(u.expr for u in a.updates),
        ]
    for e in program.envs:
        exprs += [*([e.guard] if e.guard is not None else []), *(u.lo for u in e.updates), *(u.hi for u in e.updates)]
    return any(isinstance(node, ir.Round) for e in exprs for node in ir.walk(e))


def _located(result: CheckResult, at: Span | None) -> CheckResult:
    return dataclasses.replace(result, where=at.where) if at is not None else result


def _skip(check_id: str, name: str, why: str) -> CheckResult:
    return CheckResult(check_id, name, Verdict.SKIPPED, 0.0, why)


def _conjuncts(e: ir.Expr) -> Iterator[ir.Expr]:
    if isinstance(e, ir.BoolOp) and e.op == "and":
        yield from _conjuncts(e.left)
        yield from _conjuncts(e.right)
    else:
        yield e


def _liquidations(program: ir.Program) -> list[ir.Action]:
    """The spec's liquidations: actions whose guard is `liquidatable` or a conjunction that includes it."""
    role = program.role("liquidatable")
    if role is None:
        return []
    return [
        a
        for a in program.actions
        if a.guard is not None and any(isinstance(c, ir.Var) and c.sym == role for c in _conjuncts(a.guard))
    ]


def _where(span_line: int, program: ir.Program) -> str:
    return f"{program.source.path}:{span_line}"


# ---- well-defined -------------------------------------------------------------


def well_defined(cx: Context) -> Iterator[CheckResult]:
    p = cx.program
    yield cx.witness(
        "well-defined",
        "well-defined: parameter space",
        list(cx.params),
        good="some parameter values satisfy every range and `assume`",
        bad="no parameter value satisfies the ranges and `assume`s together: every check would hold vacuously",
    )
    if not (cx.options.all_defaults or cx.options.pins):
        defaults = Encoder(p, {}, all_defaults=True)
        yield cx.witness(
            "well-defined",
            "well-defined: defaults satisfy the assumes",
            [defaults.param_space(), defaults.assumptions()],
            good="the default parameter values satisfy every `assume`",
            bad="the default parameter values break an `assume`: the engine's defaults are outside "
            "the space the checks cover",
        )
    f = cx.enc.frame()
    yield cx.witness(
        "well-defined",
        "well-defined: where-constraints",
        cx.valid(f),
        good="some state satisfies every `where`",
        bad="no state satisfies the `where` constraints under these parameters",
    )
    base = cx.valid(f)
    for let in p.lets:
        for asset in list(p.assets) if let.sym.indexed else [None]:
            f.let(let.sym.name, asset)
    seen: set[tuple[str, int, int]] = set()
    for let, ob in f.obligations:
        key = (let.sym.name, ob.span.line, ob.span.col)
        if key in seen:
            continue
        seen.add(key)
        name = f"well-defined: `{let.sym.name}` ({ob.what.split(' ')[0]} at line {ob.span.line})"
        scene = Scene([("state", f, None)])
        let_name = let.sym.name
        yield cx.ask(
            "well-defined",
            name,
            [*base, ob.path, z3.Not(ob.ok)],
            scene,
            lambda v, n=let_name: isinstance(v[0].let(n), str),
            f"`{let.sym.name}` can fail at {ob.span.where}: {ob.what}",
            at=ob.span,
        )
    yield from _step_obligations(cx)
    yield from _formula_obligations(cx)
    for table in p.tables:
        yield from _table_checks(cx, table)


def _raises(call: Callable[[], object], engine: Any) -> bool:
    """True when the engine raises UndefinedError running `call` (the runtime side of a definedness finding)."""
    try:
        call()
    except engine.UndefinedError:
        return True
    return False


def _step_runner(eng: Any, step: ir.Action | ir.Env, keys: list[str]) -> Callable[[View], object]:
    """Runs `step` on the engine from a replayed view, with the view's free arguments or env choices."""
    fn = getattr(eng, eng.STEPS[step.name])
    if isinstance(step, ir.Action):
        return lambda v: fn(v.params, v.state, v.inputs, *[v.arg(k) for k in keys])
    return lambda v: fn(v.params, v.state, v.inputs, {k: v.arg(k + "'") for k in keys})


def _step_obligations(cx: Context) -> Iterator[CheckResult]:
    """Partial operations in action guards and bodies and in env bounds, where the step can run."""
    p = cx.program
    eng = cx.spec.engine
    steps: list[ir.Action | ir.Env] = [*p.actions, *p.envs]
    for step in steps:
        f = cx.enc.frame()
        extra: list[z3.BoolRef] = []
        if isinstance(step, ir.Action):
            t = action_step(cx.enc, f, step, "after")
            kind = "action"
            shown = dict(t.args)
        else:
            t = env_step(cx.enc, f, step, "after")
            kind = "env move"
            extra = _env_choices_in_range(cx, f, step, t)
            shown = {k + "'": z for k, z in t.args.items()}  # env choices shown primed, next to the current value
        run = _step_runner(eng, step, list(t.args))
        for ob in _distinct(t.obligations):
            name = f"well-defined: {kind} `{step.name}` ({ob.what.split(' ')[0]} at line {ob.span.line})"
            yield cx.ask(
                "well-defined",
                name,
                [*cx.valid(f), *extra, ob.path, z3.Not(ob.ok)],
                Scene([("state", f, None)], args=shown),
                lambda v, r=run: _raises(lambda: r(v[0]), eng),
                f"{kind} `{step.name}` can fail at {ob.span.where}: {ob.what}",
                at=ob.span,
            )


def _env_choices_in_range(cx: Context, f: Frame, env: ir.Env, t: Transition) -> list[z3.BoolRef]:
    """Every env choice inside its range wherever that range is defined (the engine checks them in order)."""
    out = []
    tr = cx.enc.translation(f)
    for u in env.updates:
        assets = (
            [None]
            if u.index is None
            else ([u.index.name] if isinstance(u.index, ir.AssetName) else list(cx.program.assets))
        )
        for asset in assets:
            key = u.sym.name if asset is None else f"{u.sym.name}[{asset}]"
            scope = {u.index.name: asset} if isinstance(u.index, ir.BoundVar) and asset is not None else {}
            lo, ok_lo = tr.expr(u.lo, scope, z3.BoolVal(True))
            hi, ok_hi = tr.expr(u.hi, scope, z3.BoolVal(True))
            v = t.args[key]
            out.append(z3.Implies(z3.And(ok_lo, ok_hi), z3.And(lo <= v, v <= hi)))
    return out


def _formula_obligations(cx: Context) -> Iterator[CheckResult]:
    """Partial operations in `where`, `init`, `property`, `invariant` and `conserved` formulas."""
    p = cx.program
    eng = cx.spec.engine
    f = cx.enc.frame()
    before: list[z3.BoolRef] = []
    for c in p.wheres:  # the engine checks `where`s in order and stops at the first that fails
        tr = cx.enc.translation(f)
        term, ok = tr.expr(c.expr, {}, z3.BoolVal(True))
        for ob in _distinct(tr.obligations):
            yield cx.ask(
                "well-defined",
                f"well-defined: where of `{c.name}` ({ob.what.split(' ')[0]} at line {ob.span.line})",
                [*cx.params, *before, ob.path, z3.Not(ob.ok)],
                Scene([("state", f, None)]),
                lambda v: _raises(lambda: eng.where_holds(v[0].params, v[0].state, v[0].inputs), eng),
                f"the `where` of `{c.name}` can fail at {ob.span.where}: {ob.what}",
                at=ob.span,
            )
        before += [ok, term, *tr.eager]
    before = [cx.enc.param_space()]
    g = cx.enc.frame("assume")
    for c in p.assumes:  # `assumptions_hold` checks the assumes in order, stopping at the first that fails
        tr = cx.enc.translation(g)
        term, ok = tr.expr(c.expr, {}, z3.BoolVal(True))
        for ob in _distinct(tr.obligations):
            yield cx.ask(
                "well-defined",
                f"well-defined: assume at line {c.span.line} ({ob.what.split(' ')[0]})",
                [*before, ob.path, z3.Not(ob.ok)],
                Scene([("parameters", f, None)]),
                lambda v: _raises(lambda: eng.assumptions_hold(v[0].params), eng),
                f"the `assume` at {c.span.where} can fail: {ob.what}",
                at=ob.span,
            )
        before += [ok, term, *tr.eager]
    formulas = [(f"init:{i}", "init", c.expr, c.span) for i, c in enumerate(p.init)]
    formulas += [(f"property:{c.name}", f"property `{c.name}`", c.expr, c.span) for c in p.properties]
    formulas += [(f"invariant:{c.name}", f"invariant `{c.name}`", c.expr, c.span) for c in p.invariants]
    formulas += [(f"conserved:{c.name}", f"conserved `{c.name}`", c.expr, c.span) for c in p.conserved]
    for key, label, expr, _span in formulas:
        tr = cx.enc.translation(f)
        tr.expr(expr, {}, z3.BoolVal(True))
        for ob in _distinct(tr.obligations):
            yield cx.ask(
                "well-defined",
                f"well-defined: {label} ({ob.what.split(' ')[0]} at line {ob.span.line})",
                [*cx.valid(f), ob.path, z3.Not(ob.ok)],
                Scene([("state", f, None)]),
                lambda v, k=key: _raises(lambda: _formula(v[0], k), eng),
                f"{label} can fail at {ob.span.where}: {ob.what}",
                at=ob.span,
            )


def _distinct(obligations: list[Any]) -> list[Any]:
    seen: set[tuple[int, int, str]] = set()
    out = []
    for ob in obligations:
        key = (ob.span.line, ob.span.col, ob.what)
        if key not in seen:
            seen.add(key)
            out.append(ob)
    return out


def _table_checks(cx: Context, table: ir.Table) -> Iterator[CheckResult]:
    x = z3.Real(f"{table.name}.x")
    rows = sorted(table.rows, key=lambda r: (r.lo is not None, r.lo if r.lo is not None else 0))

    def inside(r: ir.Row) -> z3.BoolRef:
        parts = []
        if r.lo is not None:
            parts.append(x >= q(r.lo))
        if r.hi is not None:
            parts.append(x < q(r.hi))
        return z3.And(*parts) if parts else z3.BoolVal(True)

    overlap = (
        z3.Or(*[z3.And(inside(a), inside(b)) for a, b in itertools.pairwise(rows)])
        if len(rows) > 1
        else z3.BoolVal(False)
    )
    yield _table_query(
        cx, table, x, "overlap", [overlap], f"two brackets of table `{table.name}` overlap; only the first applies"
    )
    lo = min((r.lo for r in rows if r.lo is not None), default=None)
    hi_values = [r.hi for r in rows]
    hi = None if any(h is None for h in hi_values) else max(h for h in hi_values if h is not None)
    span = [z3.Not(z3.Or(*[inside(r) for r in rows]))]
    if lo is not None and any(r.lo is None for r in rows) is False:
        span.append(x >= q(lo))
    if hi is not None:
        span.append(x < q(hi))
    yield _table_query(cx, table, x, "gap", span, f"table `{table.name}` has a gap between its brackets")


def _table_query(
    cx: Context, table: ir.Table, x: z3.ArithRef, what: str, assertions: list[z3.BoolRef], meaning: str
) -> CheckResult:
    start = time.perf_counter()
    outcome = cx.solve(assertions)
    seconds = time.perf_counter() - start
    name = f"well-defined: table `{table.name}` ({what}s)"
    if outcome.status == "unknown":
        return CheckResult("well-defined", name, Verdict.UNKNOWN, seconds, outcome.reason)
    if outcome.status == "unsat":
        return CheckResult("well-defined", name, Verdict.PROVED, seconds)
    assert outcome.model is not None
    value = cx.replayer.value(outcome.model, x)
    assert not isinstance(value, bool)
    # Replay: count the brackets holding the value, exactly as the engine's lookup scans them.
    holding = [r for r in table.rows if (r.lo is None or value >= r.lo) and (r.hi is None or value < r.hi)]
    if (what == "overlap") != (len(holding) > 1):
        from dsl.diagnostics import InternalError

        raise InternalError(f"table `{table.name}`: the solver's {what} at {value} is not one")
    from checker.results import show

    return CheckResult(
        "well-defined",
        name,
        Verdict.VIOLATED,
        seconds,
        f"{meaning}: at {table.name}({show(value)}) — {len(holding)} brackets hold it",
    )


# ---- requirements -------------------------------------------------------------


def requirement_nonnegative(cx: Context) -> Iterator[CheckResult]:
    reqs = [r for r in ("initial", "maintenance") if cx.program.role(r) is not None]
    if not reqs:
        yield _skip(
            "requirement-nonnegative",
            "requirement-nonnegative",
            "the margin block declares no `initial` or `maintenance` requirement",
        )
    for role in reqs:
        f = cx.enc.frame()
        term, ok = f.role(role)
        yield cx.ask(
            "requirement-nonnegative",
            f"requirement-nonnegative: {role}",
            [*cx.valid(f), ok, term < 0],
            Scene([("state", f, None)]),
            lambda v, r=role: v[0].let(r) < 0,
            f"the {role} requirement is negative here",
            at=cx.program.let(role).span,
        )


def maintenance_le_initial(cx: Context) -> Iterator[CheckResult]:
    missing = cx.has("initial", "maintenance")
    if missing:
        yield _skip("maintenance-le-initial", "maintenance-le-initial", f"no `{missing[0]}` role in the margin block")
        return
    f = cx.enc.frame()
    m, okm = f.role("maintenance")
    i, oki = f.role("initial")
    yield cx.ask(
        "maintenance-le-initial",
        "maintenance-le-initial",
        [*cx.valid(f), okm, oki, m > i],
        Scene([("state", f, None)]),
        lambda v: v[0].let("maintenance") > v[0].let("initial"),
        "the maintenance requirement exceeds the initial one: an account can open a position that "
        "is liquidatable at once",
        at=cx.program.let("maintenance").span,
    )


def _depends_on(program: ir.Program, let_name: str) -> set[ir.Symbol]:
    lets = {let.sym.name: let for let in program.lets}
    seen: set[str] = set()
    out: set[ir.Symbol] = set()
    stack = [let_name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for e in ir.walk(lets[n].expr):
            if isinstance(e, ir.Var):
                if e.sym.kind is ir.Kind.LET:
                    stack.append(e.sym.name)
                elif e.sym.kind is ir.Kind.STATE:
                    out.add(e.sym)
    return out


def position_states(program: ir.Program, role: str) -> list[ir.Symbol]:
    """The states a requirement reads whose unit is not equity's: the position sizes."""
    money = program.role("equity") or program.role(role)
    assert money is not None
    return sorted((s for s in _depends_on(program, role) if s.ty != money.ty), key=lambda s: s.name)


def requirement_monotone(cx: Context) -> Iterator[CheckResult]:
    p = cx.program
    reqs = [r for r in ("initial", "maintenance") if p.role(r) is not None]
    if not reqs:
        yield _skip("requirement-monotone", "requirement-monotone", "no `initial` or `maintenance` role")
    for role in reqs:
        positions = position_states(p, role)
        name = f"requirement-monotone: {role}"
        if not positions:
            yield _skip(
                "requirement-monotone",
                name,
                f"`{role}` reads no position state (a state whose unit differs from equity's)",
            )
            continue
        f1 = cx.enc.frame("small")
        moved = {k: v for k, v in f1.vars.items() if k[0] not in {s.name for s in positions}}
        f2 = cx.enc.frame("large", moved)
        grow = []
        for s in positions:
            for a in cx.enc.assets_of(s):
                v1, v2 = f1.var(s, a), f2.var(s, a)
                grow.append(z3.Or(z3.And(v1 >= 0, v2 >= v1), z3.And(v1 <= 0, v2 <= v1)))
        r1, ok1 = f1.role(role)
        r2, ok2 = f2.role(role)
        sizes = ", ".join(s.name for s in positions)
        yield cx.ask(
            "requirement-monotone",
            name,
            [*cx.valid(f1), f2.where(), *grow, ok1, ok2, r2 < r1],
            Scene([("smaller position", f1, None), ("larger position", f2, None)]),
            lambda v, r=role: v[1].let(r) < v[0].let(r),
            f"the {role} requirement falls when the position ({sizes}) grows at the same price",
            at=cx.program.let(role).span,
        )


# ---- liquidation ------------------------------------------------------------------


def liquidation_reachable(cx: Context) -> Iterator[CheckResult]:
    if cx.program.role("liquidatable") is None:
        yield _skip("liquidation-reachable", "liquidation-reachable", "no `liquidatable when ...` in the margin block")
        return
    f = cx.enc.frame()
    liq, ok = f.role("liquidatable")
    yield cx.witness(
        "liquidation-reachable",
        "liquidation-reachable",
        [*cx.valid(f), ok, liq],
        good="some valid state is liquidatable",
        bad="no valid state is liquidatable: the liquidation rule can never trigger",
        at=cx.program.let("liquidatable").span,
    )


def insolvent_implies_liquidatable(cx: Context) -> Iterator[CheckResult]:
    missing = cx.has("equity", "liquidatable")
    if missing:
        yield _skip(
            "insolvent-implies-liquidatable",
            "insolvent-implies-liquidatable",
            f"no `{missing[0]}` role in the margin block",
        )
        return
    f = cx.enc.frame()
    eq, oke = f.role("equity")
    liq, okl = f.role("liquidatable")
    yield cx.ask(
        "insolvent-implies-liquidatable",
        "insolvent-implies-liquidatable",
        [*cx.valid(f), oke, okl, eq < 0, z3.Not(liq)],
        Scene([("state", f, None)]),
        lambda v: v[0].let("equity") < 0 and not v[0].let("liquidatable"),
        "this account has negative equity but is not liquidatable",
        at=cx.program.let("liquidatable").span,
    )


def _liquidation_steps(
    cx: Context, check_id: str, roles: tuple[str, ...]
) -> Iterator[tuple[ir.Action, Frame, Transition] | CheckResult]:
    missing = cx.has(*roles)
    if missing:
        yield _skip(check_id, check_id, f"no `{missing[0]}` role in the margin block")
        return
    actions = _liquidations(cx.program)
    if not actions:
        yield _skip(check_id, check_id, "no action is guarded by `liquidatable`")
        return
    for a in actions:
        f0 = cx.enc.frame("before")
        t = action_step(cx.enc, f0, a, "after")
        yield a, f0, t


def _health(frame: Frame) -> tuple[z3.ExprRef, z3.BoolRef]:
    eq, oke = frame.role("equity")
    m, okm = frame.role("maintenance")
    return eq - m, z3.And(oke, okm)


def _runtime_health(v: View) -> Any:
    return v.let("equity") - v.let("maintenance")


def liquidation_improves_health(cx: Context) -> Iterator[CheckResult]:
    for item in _liquidation_steps(cx, "liquidation-improves-health", ("equity", "maintenance", "liquidatable")):
        if isinstance(item, CheckResult):
            yield item
            continue
        a, f0, t = item
        h0, ok0 = _health(f0)
        h1, ok1 = _health(t.post)
        yield cx.ask(
            "liquidation-improves-health",
            f"liquidation-improves-health: {a.name}",
            [*cx.valid(f0), t.guard, t.defined, ok0, ok1, h1 < h0],
            Scene([("before", f0, None), (f"after {a.name}", t.post, t)]),
            lambda v: _runtime_health(v[1]) < _runtime_health(v[0]),
            f"`{a.name}` leaves the account less healthy (equity - maintenance falls)",
            at=a.span,
        )


def liquidation_no_bad_debt(cx: Context) -> Iterator[CheckResult]:
    for item in _liquidation_steps(cx, "liquidation-no-bad-debt", ("equity", "liquidatable")):
        if isinstance(item, CheckResult):
            yield item
            continue
        a, f0, t = item
        eq0, ok0 = f0.role("equity")
        eq1, ok1 = t.post.role("equity")
        # Bad debt the liquidation creates or deepens: negative equity after, and worse than before.
        loss = z3.And(eq1 < 0, eq1 < eq0)
        yield cx.ask(
            "liquidation-no-bad-debt",
            f"liquidation-no-bad-debt: {a.name}",
            [*cx.valid(f0), t.guard, t.defined, ok0, ok1, z3.Or(z3.Not(t.post.where()), loss)],
            Scene([("before", f0, None), (f"after {a.name}", t.post, t)]),
            lambda v: (
                (not v[1].engine.where_holds(v[1].params, v[1].state, v[1].inputs))
                or v[1].let("equity") < min(v[0].let("equity"), 0)
            ),
            f"`{a.name}` leaves a negative balance (a `where` fails) or creates or deepens negative equity: bad debt",
            at=a.span,
        )


def gap_safety(cx: Context) -> Iterator[CheckResult]:
    missing = cx.has("equity", "liquidatable")
    if missing:
        yield _skip("gap-safety", "gap-safety", f"no `{missing[0]}` role in the margin block")
        return
    if not cx.program.envs:
        yield _skip("gap-safety", "gap-safety", "the spec declares no `env` move")
        return
    for env in cx.program.envs:
        f0 = cx.enc.frame("before")
        t = env_step(cx.enc, f0, env, "after")
        liq, okl = f0.role("liquidatable")
        eq1, oke = t.post.role("equity")
        yield cx.ask(
            "gap-safety",
            f"gap-safety: {env.name}",
            [*cx.valid(f0), okl, z3.Not(liq), t.guard, t.defined, t.post.where(), oke, eq1 < 0],
            Scene([("before", f0, None), (f"after {env.name}", t.post, t)]),
            lambda v: (not v[0].let("liquidatable")) and v[1].let("equity") < 0,
            f"a non-liquidatable account reaches negative equity in one `{env.name}` move: liquidation comes too late",
            at=env.span,
        )


def conservation(cx: Context) -> Iterator[CheckResult]:
    p = cx.program
    if not p.conserved:
        yield _skip("conservation", "conservation", "the spec declares no `conserved` total")
        return
    if not p.actions:
        yield _skip("conservation", "conservation", "the spec declares no action")
        return
    for c in p.conserved:
        for a in p.actions:
            f0 = cx.enc.frame("before")
            t = action_step(cx.enc, f0, a, "after")
            v0, ok0 = cx.enc.formula(c.expr, f0)
            v1, ok1 = cx.enc.formula(c.expr, t.post)
            total = c
            yield cx.ask(
                "conservation",
                f"conservation: {c.name} by {a.name}",
                [*cx.valid(f0), t.guard, t.defined, ok0, ok1, v1 != v0],
                Scene([("before", f0, None), (f"after {a.name}", t.post, t)]),
                lambda v, k=f"conserved:{total.name}": _formula(v[0], k) != _formula(v[1], k),
                f"`{a.name}` changes the conserved total `{c.name}`",
                at=a.span,
            )


def _formula(view: View, key: str) -> Any:
    """A compiled `property`, `invariant`, `init` or `conserved` formula, run on the engine."""
    fn = getattr(view.engine, view.engine.FORMULAS[key])
    return fn(view.params, view.state, view.inputs)


# ---- vacuity and user properties ----------------------------------------------------


def vacuity(cx: Context) -> Iterator[CheckResult]:
    p = cx.program
    f = cx.enc.frame()
    base = cx.valid(f)
    for a in p.actions:
        if a.guard is None:
            continue
        t = action_step(cx.enc, f, a, "after")
        yield cx.witness(
            "vacuity",
            f"vacuity: guard of {a.name} can hold",
            [*base, t.guard, t.defined],
            good="the guard holds in some valid state",
            bad=f"the guard of `{a.name}` never holds: the action can never run",
            at=a.span,
        )
        yield cx.witness(
            "vacuity",
            f"vacuity: guard of {a.name} can fail",
            [*base, z3.Not(t.guard), t.defined],
            good="the guard excludes some valid state",
            bad=f"the guard of `{a.name}` always holds: it excludes nothing",
            at=a.span,
        )
    for e in p.envs:
        t = env_step(cx.enc, f, e, "after")
        yield cx.witness(
            "vacuity",
            f"vacuity: env move {e.name} can happen",
            [*base, t.guard, t.defined],
            good="the move is possible from some valid state",
            bad=f"env move `{e.name}` can never happen (its guard or range is empty)",
            at=e.span,
        )
    ranges = cx.enc.param_space()
    for c in p.assumes:
        term, ok = cx.enc.formula(c.expr, cx.enc.frame("assume"))
        yield cx.witness(
            "vacuity",
            f"vacuity: assume at line {c.span.line}",
            [ranges, ok, z3.Not(term)],
            good="the assumption excludes some parameter values",
            bad=f"the `assume` at {c.span.where} is implied by the parameter ranges: it says nothing",
            at=c.span,
        )
    for c in p.wheres:
        term, ok = cx.enc.formula(c.expr, f)
        yield cx.witness(
            "vacuity",
            f"vacuity: where of {c.name}",
            [*cx.params, ok, z3.Not(term)],
            good="the constraint excludes some states",
            bad=f"the `where` of `{c.name}` ({c.span.where}) excludes nothing",
            at=c.span,
        )
    for c in (*p.properties, *p.invariants):
        g = cx.enc.frame("any")
        term, ok = cx.enc.formula(c.expr, g)
        yield cx.witness(
            "vacuity",
            f"vacuity: {c.kind} {c.name} is not a tautology",
            [ok, z3.Not(term)],
            good="the statement depends on the spec",
            bad=f"{c.kind} `{c.name}` holds whatever the spec says: it checks nothing",
            at=c.span,
        )
        if isinstance(c.expr, ir.BoolOp) and c.expr.op == "implies":
            lhs, okl = cx.enc.formula(c.expr.left, f)
            yield cx.witness(
                "vacuity",
                f"vacuity: {c.kind} {c.name} applies",
                [*base, okl, lhs],
                good="its premise holds in some valid state",
                bad=f"the premise of {c.kind} `{c.name}` never holds: it is vacuously true",
                at=c.span,
            )
    if p.role("liquidatable") is not None:
        liq, ok = f.role("liquidatable")
        yield cx.witness(
            "vacuity",
            "vacuity: some state is not liquidatable",
            [*base, ok, z3.Not(liq)],
            good="some valid state is healthy",
            bad="every valid state is liquidatable",
            at=cx.program.let("liquidatable").span,
        )


def properties(cx: Context) -> Iterator[CheckResult]:
    eng = cx.spec.engine
    if not cx.program.properties:
        yield _skip("property", "property", "the spec declares no `property`")
    for c in cx.program.properties:
        f = cx.enc.frame()
        term, ok = cx.enc.formula(c.expr, f)
        prop = c
        # Undefined counts as failing, as for invariants: the engine would raise instead of answering.
        yield cx.ask(
            "property",
            f"property: {c.name}",
            [*cx.valid(f), z3.Not(z3.And(ok, term))],
            Scene([("state", f, None)]),
            lambda v, k=f"property:{prop.name}": _raises(lambda: _formula(v[0], k), eng) or not _formula(v[0], k),
            f"property `{c.name}` ({c.span.where}) fails in this state",
            at=c.span,
        )


SINGLE_STATE: tuple[tuple[str, Check], ...] = (
    ("well-defined", well_defined),
    ("requirement-nonnegative", requirement_nonnegative),
    ("maintenance-le-initial", maintenance_le_initial),
    ("requirement-monotone", requirement_monotone),
    ("liquidation-reachable", liquidation_reachable),
    ("insolvent-implies-liquidatable", insolvent_implies_liquidatable),
    ("liquidation-improves-health", liquidation_improves_health),
    ("liquidation-no-bad-debt", liquidation_no_bad_debt),
    ("gap-safety", gap_safety),
    ("conservation", conservation),
    ("vacuity", vacuity),
    ("property", properties),
)


def run_checks(spec: Spec, options: Options, only: Sequence[str] = ()) -> Iterator[CheckResult]:
    """Run the catalogue (or the ids in `only`) on `spec`, yielding results as they come."""
    cx = Context(spec, options)
    unproved: set[str] = set()  # single-state checks with a violation or an UNKNOWN
    for check_id, check in SINGLE_STATE:
        if only and check_id not in only:
            continue
        for result in check(cx):
            if result.verdict in (Verdict.VIOLATED, Verdict.UNKNOWN):
                unproved.add(result.id)
            yield result
    from checker.bmc import invariants
    from checker.goals import reachable_goals

    # A single-state violation may lie outside every run from `init`: ask whether one is reachable.
    reachable = reachable_goals(cx.program, unproved) if cx.program.init else []
    if not only or "invariant" in only:
        yield from invariants(cx, reachable)
    elif reachable:
        yield from invariants(cx, reachable, own=False)
