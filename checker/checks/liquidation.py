"""Checks on liquidation and value: reachability, insolvency, health, bad debt, gap safety, conservation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import z3

from checker.core.context import Context, run_formula, skip
from checker.core.encode import Frame
from checker.core.replay import Scene, View
from checker.core.results import CheckResult
from checker.core.steps import Transition, action_step, env_step
from dsl import ir
from dsl.symmetry import is_copy


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


def liquidation_reachable(cx: Context) -> Iterator[CheckResult]:
    if cx.program.role("liquidatable") is None:
        yield skip("liquidation-reachable", "liquidation-reachable", "no `liquidatable when ...` in the margin block")
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
        yield skip(
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
        yield skip(check_id, check_id, f"no `{missing[0]}` role in the margin block")
        return
    actions = _liquidations(cx.program)
    if not actions:
        yield skip(check_id, check_id, "no action is guarded by `liquidatable`")
        return
    for a in actions:
        f0 = cx.enc.frame("before")
        t = action_step(cx.enc, f0, a, "after")
        yield a, f0, t


def _health(cx: Context, frame: Frame) -> tuple[z3.ExprRef, z3.BoolRef]:
    """The spec's health measure in `frame` (higher is healthier) and when it is defined.

    The declared `health` role when there is one, else `equity - maintenance` (spec/checks.md, Notation).
    """
    if cx.program.role("health") is not None:
        return frame.role("health")
    eq, oke = frame.role("equity")
    m, okm = frame.role("maintenance")
    return eq - m, z3.And(oke, okm)


def _runtime_health(v: View) -> Any:
    """The same measure on the generated engine, through its `health_measure` function."""
    return v.engine.health_measure(v.params, v.state, v.inputs)


def liquidation_improves_health(cx: Context) -> Iterator[CheckResult]:
    declared = cx.program.role("health") is not None
    roles = ("health", "liquidatable") if declared else ("equity", "maintenance", "liquidatable")
    measure = "the declared `health` measure" if declared else "equity - maintenance"
    for item in _liquidation_steps(cx, "liquidation-improves-health", roles):
        if isinstance(item, CheckResult):
            yield item
            continue
        a, f0, t = item
        h0, ok0 = _health(cx, f0)
        h1, ok1 = _health(cx, t.post)
        # A liquidation after which the measure is undefined (a ratio whose denominator,
        # the debt or the position, it closed) is not a violation: only defined pairs compare.
        yield cx.ask(
            "liquidation-improves-health",
            f"liquidation-improves-health: {a.name}",
            [*cx.valid(f0), t.guard, t.defined, t.free, ok0, ok1, h1 < h0],
            Scene([("before", f0, None), (f"after {a.name}", t.post, t)]),
            lambda v: _runtime_health(v[1]) < _runtime_health(v[0]),
            f"`{a.name}` leaves the account less healthy ({measure} falls)",
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
        failing: list[str] = []  # the `where` the replayed state after the liquidation breaks, named

        def violated(v: list[View], failing: list[str] = failing) -> bool:
            broken = v[1].engine.failing_where(v[1].params, v[1].state, v[1].inputs)
            if broken is not None:
                failing.append(broken)
                return True
            return bool(v[1].let("equity") < min(v[0].let("equity"), 0))

        meaning = (
            f"`{a.name}` leaves a negative balance (a `where` fails) or creates or deepens negative equity: bad debt"
        )
        r = cx.ask(
            "liquidation-no-bad-debt",
            f"liquidation-no-bad-debt: {a.name}",
            [*cx.valid(f0), t.guard, t.defined, t.free, ok0, ok1, z3.Or(z3.Not(t.post.where()), loss)],
            Scene([("before", f0, None), (f"after {a.name}", t.post, t)]),
            violated,
            meaning,
            at=a.span,
        )
        if r.counterexample is not None:  # say which, from the replayed counterexample
            which = (
                f"`{a.name}` leaves a state where {failing[-1]} fails"
                if failing
                else f"`{a.name}` creates or deepens negative equity: bad debt"
            )
            r = dataclasses.replace(r, reason=r.reason.replace(meaning, which, 1))
        yield r


def gap_safety(cx: Context) -> Iterator[CheckResult]:
    missing = cx.has("equity", "liquidatable")
    if missing:
        yield skip("gap-safety", "gap-safety", f"no `{missing[0]}` role in the margin block")
        return
    if not cx.program.envs:
        yield skip("gap-safety", "gap-safety", "the spec declares no `env` move")
        return
    for env in cx.program.envs:
        f0 = cx.enc.frame("before")
        t = env_step(cx.enc, f0, env, "after")
        liq, okl = f0.role("liquidatable")
        eq1, oke = t.post.role("equity")
        yield cx.ask(
            "gap-safety",
            f"gap-safety: {env.name}",
            [*cx.valid(f0), okl, z3.Not(liq), t.guard, t.defined, t.free, t.post.where(), oke, eq1 < 0],
            Scene([("before", f0, None), (f"after {env.name}", t.post, t)]),
            lambda v: (not v[0].let("liquidatable")) and v[1].let("equity") < 0,
            f"a non-liquidatable account reaches negative equity in one `{env.name}` move: liquidation comes too late",
            at=env.span,
        )


def conservation(cx: Context) -> Iterator[CheckResult]:
    p = cx.program
    if not p.conserved:
        yield skip("conservation", "conservation", "the spec declares no `conserved` total")
        return
    if not p.actions:
        yield skip("conservation", "conservation", "the spec declares no action")
        return
    for c in p.conserved:
        for a in (a for a in p.actions if not is_copy(a.name)):  # by symmetry, account 1's copy speaks for all
            f0 = cx.enc.frame("before")
            t = action_step(cx.enc, f0, a, "after")
            v0, ok0 = cx.enc.formula(c.expr, f0)
            v1, ok1 = cx.enc.formula(c.expr, t.post)
            broken, meaning = _broken(c, a.name, v0, v1)
            yield cx.ask(
                "conservation",
                f"conservation: {c.name} by {a.name}",
                [*cx.valid(f0), t.guard, t.defined, t.free, ok0, ok1, broken],
                Scene([("before", f0, None), (f"after {a.name}", t.post, t)]),
                lambda v, k=f"conserved:{c.name}", d=c.direction: _moved(d, run_formula(v[0], k), run_formula(v[1], k)),
                meaning,
                at=a.span,
            )


def _broken(c: ir.Conserved, step: str, v0: z3.ExprRef, v1: z3.ExprRef) -> tuple[z3.BoolRef, str]:
    """The change of total `c` that breaks it (by its direction), and what a violation means."""
    if c.direction == "never decreases":
        return v1 < v0, f"`{step}` lowers the total `{c.name}`, which must never decrease"
    if c.direction == "never increases":
        return v1 > v0, f"`{step}` raises the total `{c.name}`, which must never increase"
    return v1 != v0, f"`{step}` changes the conserved total `{c.name}`"


def _moved(direction: str, before: Any, after: Any) -> bool:
    """On the engine: the total moved the way its direction forbids."""
    if direction == "never decreases":
        return bool(after < before)
    if direction == "never increases":
        return bool(after > before)
    return bool(after != before)
