"""The `well-defined` check: every partial operation, table and constraint of the spec can be evaluated."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import z3

from checker.core.context import Context, raises, run_formula
from checker.core.encode import Encoder, Frame, q
from checker.core.replay import Scene, View
from checker.core.results import CheckResult, Verdict
from checker.core.steps import Transition, action_step, env_step, forced_test
from dsl import ir
from dsl.symmetry import is_copy


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
    steps: list[ir.Action | ir.Env] = [*(a for a in p.actions if not is_copy(a.name)), *p.envs]
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
        if isinstance(step, ir.Action) and step.forced and step.args and step.guard is not None:
            yield from _choice_obligations(cx, f, step)
        for ob in _distinct(t.obligations):
            name = f"well-defined: {kind} `{step.name}` ({ob.what.split(' ')[0]} at line {ob.span.line})"
            yield cx.ask(
                "well-defined",
                name,
                [*cx.valid(f), *extra, t.free, ob.path, z3.Not(ob.ok)],
                Scene([("state", f, None)], args=shown),
                lambda v, r=run: raises(lambda: r(v[0]), eng),
                f"{kind} `{step.name}` can fail at {ob.span.where}: {ob.what}",
                at=ob.span,
            )


def _choice_obligations(cx: Context, f: Frame, action: ir.Action) -> Iterator[CheckResult]:
    """Partial operations in a forced action's chosen arguments, in any valid state.

    The engine evaluates them before every step (the forced-first test of language.md §6.3), so
    they must be defined wherever the `where`s hold; replayed by taking the forced action with its
    arguments omitted (the engine then computes them first).
    """
    eng = cx.spec.engine
    fn = getattr(eng, eng.STEPS[action.name])
    for ob in _distinct(forced_test(cx.enc, f, action).obligations):
        yield cx.ask(
            "well-defined",
            f"well-defined: chosen arguments of `{action.name}` ({ob.what.split(' ')[0]} at line {ob.span.line})",
            [*cx.valid(f), ob.path, z3.Not(ob.ok)],
            Scene([("state", f, None)]),
            lambda v: raises(lambda: fn(v[0].params, v[0].state, v[0].inputs), eng),
            f"the chosen arguments of forced action `{action.name}` can fail at {ob.span.where}: {ob.what}",
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
                lambda v: raises(lambda: eng.where_holds(v[0].params, v[0].state, v[0].inputs), eng),
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
                lambda v: raises(lambda: eng.assumptions_hold(v[0].params), eng),
                f"the `assume` at {c.span.where} can fail: {ob.what}",
                at=ob.span,
            )
        before += [ok, term, *tr.eager]
    formulas = [(f"init:{i}", "init", c.expr, c.span) for i, c in enumerate(p.init)]
    formulas += [(f"property:{c.name}", f"property `{c.name}`", c.expr, c.span) for c in p.properties]
    formulas += [
        (f"invariant:{c.name}", f"invariant `{c.name}`", c.expr, c.span) for c in p.invariants if not is_copy(c.name)
    ]
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
                lambda v, k=key: raises(lambda: run_formula(v[0], k), eng),
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
    from checker.core.results import show

    return CheckResult(
        "well-defined",
        name,
        Verdict.VIOLATED,
        seconds,
        f"{meaning}: at {table.name}({show(value)}) — {len(holding)} brackets hold it",
    )
