"""The `vacuity` check, and the user's `property` statements."""

from __future__ import annotations

from collections.abc import Iterator

import z3

from checker.core.context import Context, raises, run_formula, skip
from checker.core.encode import Encoder
from checker.core.replay import Scene
from checker.core.results import CheckResult
from checker.core.steps import action_step, env_step
from dsl import ir
from dsl.diagnostics import Span
from dsl.symmetry import is_copy


def vacuity(cx: Context) -> Iterator[CheckResult]:
    p = cx.program
    f = cx.enc.frame()
    base = cx.valid(f)
    for a in p.actions:
        if a.guard is None or is_copy(a.name):  # another account's copy: the same question (dsl.accounts)
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
    # The declared ranges, not the options' pins: under `--params defaults` or `--param`, every `assume`
    # the pinned values satisfy would look implied, and a correct spec could never pass.
    declared = Encoder(p)
    ranges = declared.param_space()
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
        if is_copy(c.name):
            continue
        term, ok = cx.enc.formula(c.expr, f)
        yield cx.witness(
            "vacuity",
            f"vacuity: where of {c.name}",
            [ranges, declared.assumptions(), ok, z3.Not(term)],
            good="the constraint excludes some states",
            bad=f"the `where` of `{c.name}` ({c.span.where}) excludes nothing",
            at=c.span,
        )
    for c in (*p.properties, *(c for c in p.invariants if not is_copy(c.name))):
        # Lets, roles and table lookups are left free: a property that the definitions make true is what
        # the user wants proved; only one true of its own shape, whatever they define, checks nothing.
        g = cx.enc.frame("any", free=True)
        term, ok = cx.enc.formula(c.expr, g)
        yield _not_a_tautology(
            cx, f"{c.kind} {c.name}", f"{c.kind} `{c.name}`", ok, term, c.span, "and no range, `assume` or `where`"
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
    for sp in p.step_properties:
        # The same question for a step property: both frames free, and its arguments any reals.
        g0, g1 = cx.enc.frame("any", free=True), cx.enc.frame("any'", free=True)
        args: dict[str, z3.ExprRef] = {
            e.sym.name: z3.Real(f"{e.sym.name}!free")
            for e in ir.walk(sp.expr)
            if isinstance(e, ir.Var) and e.sym.kind is ir.Kind.ARG
        }
        term, ok = cx.enc.formula(sp.expr, g0, args, post=g1)
        yield _not_a_tautology(
            cx,
            f"property {sp.name}",
            f"step property `{sp.name}`",
            ok,
            term,
            sp.span,
            "before and after the step, and any arguments",
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
    if not cx.program.properties and not cx.program.step_properties:
        yield skip("property", "property", "the spec declares no `property`")
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
            lambda v, k=f"property:{prop.name}": raises(lambda: run_formula(v[0], k), eng) or not run_formula(v[0], k),
            f"property `{c.name}` ({c.span.where}) fails in this state",
            at=c.span,
        )


def _not_a_tautology(
    cx: Context, name: str, shown: str, ok: z3.BoolRef, term: z3.BoolRef, span: Span, free_too: str
) -> CheckResult:
    """Some values of what `term` reads (lets, roles and lookups left free) make it false: it checks something."""
    return cx.witness(
        "vacuity",
        f"vacuity: {name} is not a tautology",
        [ok, z3.Not(term)],
        good="with the lets, roles and table lookups it reads left free, some values make it false",
        bad=(
            f"{shown} holds whatever the spec says (with every let, role and table lookup it reads left free, "
            f"{free_too}): it checks nothing"
        ),
        at=span,
    )
