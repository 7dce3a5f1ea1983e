"""The model checker: invariants over sequences of actions and env moves.

A spec is a transition system: initial states satisfy `init` and every
`where`; a step is one action (with any arguments its guard admits) or one env
move; inputs' `where` constraints hold in every state (they describe the
market, not the rules), while states' `where` constraints are checked as
implicit invariants ("no negative balance is reachable"). A `forced` action
must be taken whenever its guard holds: no other step is possible then.

Three ways to answer, reported as such and never confused:
- bounded model checking to depth D: a violation is a trace, replayed step by
  step on the engine; no violation is "PROVED (bounded, depth D)", which is
  not a proof for longer runs;
- k-induction, Houdini-style: the invariants that are mutually k-inductive are
  "PROVED (inductive, k=...)", for all depths;
- Z3's Spacer (CHC) engine, tried when the transition system is linear.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import z3

from checker.encode import Frame
from checker.replay import Scene, View, rational_model, readable_model
from checker.results import CheckResult
from checker.solver import Verdict
from checker.steps import Transition, action_step, env_step
from dsl import ir

if TYPE_CHECKING:
    from checker.checks import Context


@dataclass
class Goal:
    """One invariant to check: a user `invariant` or a state's `where`."""

    name: str
    key: str | None  # FORMULAS key of the compiled invariant; None for a where-constraint
    expr: ir.Expr
    where: str = ""  # path:line:col of the declaration

    def holds(self, cx: Context, frame: Frame) -> z3.BoolRef:
        term, ok = cx.enc.formula(self.expr, frame)
        return z3.And(ok, term)

    def runtime_holds(self, view: View) -> bool:
        try:
            if self.key is None:
                return bool(view.engine.where_holds(view.params, view.state, view.inputs))
            return bool(getattr(view.engine, view.engine.FORMULAS[self.key])(view.params, view.state, view.inputs))
        except view.engine.UndefinedError:
            return False


def goals(program: ir.Program) -> list[Goal]:
    states = {s.name for s in program.states}
    out = [Goal(f"invariant: {c.name}", f"invariant:{c.name}", c.expr, c.span.where) for c in program.invariants]
    out += [
        Goal(f"invariant: where of {c.name} stays true", None, c.expr, c.span.where)
        for c in program.wheres
        if c.name in states
    ]
    return out


def _input_wheres(cx: Context, frame: Frame) -> z3.BoolRef:
    inputs = {s.name for s in cx.program.inputs}
    parts = []
    for c in cx.program.wheres:
        if c.name in inputs:
            term, ok = cx.enc.formula(c.expr, frame)
            parts += [ok, term]
    return z3.And(*parts) if parts else z3.BoolVal(True)


def _same(a: Frame, b: Frame) -> z3.BoolRef:
    return z3.And(*[a.vars[k] == b.vars[k] for k in a.vars]) if a.vars else z3.BoolVal(True)


class Unrolling:
    """Frames F0..Fn linked by the transition relation; `steps[i]` leads from F(i) to F(i+1)."""

    def __init__(self, cx: Context, prefix: str) -> None:
        self.cx = cx
        self.prefix = prefix
        self.frames = [cx.enc.frame(f"{prefix}0")]
        self.steps: list[tuple[list[Transition], list[z3.BoolRef]]] = []

    def extend(self) -> z3.BoolRef:
        """Add one step; returns its constraint (the relation and the next frame's input `where`s)."""
        cx = self.cx
        i = len(self.frames)
        pre = self.frames[-1]
        tag = f"{self.prefix}{i}"
        ts = [action_step(cx.enc, pre, a, tag) for a in cx.program.actions]
        ts += [env_step(cx.enc, pre, e, tag) for e in cx.program.envs]
        nxt = cx.enc.frame(tag)
        sel = [z3.Bool(f"took.{t.step.name}@{tag}") for t in ts]
        forced = [t for t in ts if isinstance(t.step, ir.Action) and t.step.forced]
        forced_enabled = z3.Or(*[z3.And(t.guard, t.defined) for t in forced]) if forced else z3.BoolVal(False)
        options = []
        for j, t in enumerate(ts):
            conds = [t.guard, t.defined, _same(nxt, t.post)]
            if forced and not (isinstance(t.step, ir.Action) and t.step.forced):
                conds.append(z3.Not(forced_enabled))
            options.append(z3.Implies(sel[j], z3.And(*conds)))
        self.frames.append(nxt)
        self.steps.append((ts, sel))
        took = z3.Or(*sel) if sel else z3.BoolVal(False)
        return z3.And(took, *options, _input_wheres(cx, nxt))

    def cases(self) -> list[tuple[Transition, z3.BoolRef]]:
        """The possible next steps from the last frame, one case each: (transition, when it is taken).

        Splitting the last step by cases gives the solver several small queries instead of one
        disjunction, which matters for nonlinear specs.
        """
        cx = self.cx
        pre = self.frames[-1]
        tag = f"{self.prefix}{len(self.frames)}"
        ts = [action_step(cx.enc, pre, a, tag) for a in cx.program.actions]
        ts += [env_step(cx.enc, pre, e, tag) for e in cx.program.envs]
        forced = [t for t in ts if isinstance(t.step, ir.Action) and t.step.forced]
        forced_enabled = z3.Or(*[z3.And(t.guard, t.defined) for t in forced]) if forced else z3.BoolVal(False)
        out = []
        for t in ts:
            conds = [t.guard, t.defined, _input_wheres(cx, t.post)]
            if forced and not (isinstance(t.step, ir.Action) and t.step.forced):
                conds.append(z3.Not(forced_enabled))
            out.append((t, z3.And(*conds)))
        return out

    def scene(self, model: z3.ModelRef, upto: int, last: Transition | None = None) -> Scene:
        frames: list[tuple[str, Frame, Transition | None]] = [("init", self.frames[0], None)]
        for i in range(upto):
            ts, sel = self.steps[i]
            chosen = next(t for t, b in zip(ts, sel, strict=True) if z3.is_true(model.eval(b, model_completion=True)))
            label = f"{i + 1}: {chosen.step.name}"
            frames.append((label, self.frames[i + 1], _relabel(chosen, self.frames[i + 1])))
        if last is not None:
            frames.append((f"{upto + 1}: {last.step.name}", last.post, last))
        return Scene(frames)


def _relabel(t: Transition, post: Frame) -> Transition:
    return Transition(t.step, t.pre, post, t.guard, t.defined, t.args)


def invariants(cx: Context) -> Iterator[CheckResult]:
    """Induction first (cheap when it works), then BMC to the requested depth, then Spacer."""
    todo = goals(cx.program)
    if not todo:
        yield CheckResult(
            "invariant", "invariant", Verdict.SKIPPED, 0.0, "the spec declares no `invariant` and no `where` on a state"
        )
        return
    if not cx.program.init:
        for g in todo:
            yield CheckResult("invariant", g.name, Verdict.SKIPPED, 0.0, "the spec declares no `init` states")
        return
    depth = cx.options.depth or cx.options.max_k
    start = time.perf_counter()
    bmc = _BMC(cx, todo)
    proofs: dict[str, str] = {}
    hard: set[str] = set()  # goals whose induction query timed out: a larger k will not be easier
    for k in range(1, cx.options.max_k + 1):
        bmc.run_to(k - 1)  # the base case of k-induction
        candidates = [g for g in bmc.open() if g.name not in proofs and g.name not in hard]
        if not candidates:
            break
        for name in _houdini(cx, candidates, k, hard):
            proofs[name] = f"inductive, k={k}"
    rest = [g for g in bmc.open() if g.name not in proofs]
    if rest:
        bmc.goals = rest
        bmc.run_to(depth)
    leftover = [g for g in bmc.open() if g.name not in proofs]
    spacer = _spacer(cx, leftover) if leftover else {}
    seconds = time.perf_counter() - start
    share = seconds / len(todo)
    for g in todo:
        yield dataclasses.replace(_verdict(g, bmc, proofs, spacer, share), where=g.where)


def _verdict(g: Goal, bmc: _BMC, proofs: dict[str, str], spacer: dict[str, str], share: float) -> CheckResult:
    if g.name in bmc.found:
        return bmc.found[g.name]
    elif g.name in proofs:
        return CheckResult("invariant", g.name, Verdict.PROVED, share, "", proofs[g.name])
    elif spacer.get(g.name) == "proved":
        return CheckResult("invariant", g.name, Verdict.PROVED, share, "", "inductive, Spacer (CHC)")
    elif g.name in bmc.unknown:
        return CheckResult("invariant", g.name, Verdict.UNKNOWN, share, bmc.unknown[g.name])
    else:
        note = spacer.get(g.name, "")
        return CheckResult(
            "invariant",
            g.name,
            Verdict.PROVED,
            share,
            f"no violation in {bmc.reached} steps from `init`; not proved for longer runs"
            + (f" ({note})" if note else ""),
            f"bounded, depth {bmc.reached}",
        )


class _BMC:
    """Bounded model checking, extended one depth at a time; each query solved afresh.

    Solving afresh (not incrementally) lets `solve` fall back on nlsat, which is complete for the
    nonlinear real arithmetic that prices times sizes produce.
    """

    def __init__(self, cx: Context, goals_: list[Goal]) -> None:
        self.cx = cx
        self.goals = goals_
        self.u = Unrolling(cx, "")
        init = [cx.enc.formula(c.expr, self.u.frames[0]) for c in cx.program.init]
        self.assertions: list[z3.BoolRef] = [*cx.valid(self.u.frames[0]), *[z3.And(ok, t) for t, ok in init]]
        self.reached = -1
        self.found: dict[str, CheckResult] = {}
        self.unknown: dict[str, str] = {}

    def open(self) -> list[Goal]:
        return [g for g in self.goals if g.name not in self.found and g.name not in self.unknown]

    def run_to(self, depth: int) -> None:
        cx = self.cx
        while self.reached < depth and self.open():
            d = self.reached + 1
            cases: list[tuple[Transition | None, Frame, z3.BoolRef]]
            if d > 1:
                self.assertions.append(self.u.extend())  # frames 0..d-1 linked; the last step split below
            if d == 0:
                cases = [(None, self.u.frames[0], z3.BoolVal(True))]
            else:
                cases = [(t, t.post, cond) for t, cond in self.u.cases()]
            for g in self.open():
                t0 = time.perf_counter()
                for t, frame, cond in cases:
                    bad = z3.Not(g.holds(cx, frame))
                    query = [*self.assertions, cond, bad]
                    outcome = cx.solve(query)
                    if outcome.status == "sat" and outcome.model is not None:
                        model = rational_model(outcome.model, query, cx.options.timeout)
                        if model is not None:
                            model = readable_model(model, query, cx.preferred)
                        self.found[g.name] = _violation(cx, g, self.u, model, d, t, time.perf_counter() - t0)
                        break
                    if outcome.status == "unknown":
                        self.unknown[g.name] = f"the solver gave up at depth {d}: {outcome.reason}"
                        break
            self.reached = d


def _violation(
    cx: Context, g: Goal, u: Unrolling, model: z3.ModelRef | None, d: int, last: Transition | None, seconds: float
) -> CheckResult:
    reason = f"`{g.name.removeprefix('invariant: ')}` fails after {d} step{'s' if d != 1 else ''} from `init`"
    if model is None:
        return CheckResult(
            "invariant",
            g.name,
            Verdict.VIOLATED,
            seconds,
            reason + " (the witness is irrational; not replayed)",
            f"bounded, depth {d}",
        )
    scene = u.scene(model, d - 1, last) if last is not None else u.scene(model, 0)
    cex = cx.replayer.replay(model, scene, lambda views: not g.runtime_holds(views[-1])) if cx.options.replay else None
    return CheckResult("invariant", g.name, Verdict.VIOLATED, seconds, reason, f"bounded, depth {d}", cex)


def _houdini(cx: Context, candidates: list[Goal], k: int, hard: set[str]) -> list[str]:
    """The largest subset of `candidates` that is mutually k-inductive (their names).

    Frames 0..k-1 are arbitrary states linked by k-1 steps, all satisfying the candidates; the
    last step is split by cases and each case must keep every surviving candidate.
    """
    u = Unrolling(cx, f"ind{k}.")
    constraints: list[z3.BoolRef] = [*cx.params, _input_wheres(cx, u.frames[0])]
    for _ in range(k - 1):
        constraints.append(u.extend())
    cases = u.cases()
    alive = list(candidates)
    changed = True
    while changed and alive:
        changed = False
        hyp = [g.holds(cx, f) for g in alive for f in u.frames]
        for g in list(alive):
            for t, cond in cases:
                outcome = cx.solve([*constraints, *hyp, cond, z3.Not(g.holds(cx, t.post))])
                if outcome.status != "unsat":
                    if outcome.status == "unknown":
                        hard.add(g.name)
                    alive.remove(g)
                    changed = True
                    break
            if changed:
                break
    return [g.name for g in alive]


def _nonlinear(terms: list[z3.ExprRef]) -> bool:
    seen: set[int] = set()
    stack = list(terms)
    while stack:
        e = stack.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_to_int(e):
            return True
        if z3.is_mul(e) and sum(1 for c in e.children() if not z3.is_rational_value(c)) > 1:
            return True
        if z3.is_div(e) and not z3.is_rational_value(e.children()[1]):
            return True
        stack.extend(e.children())
    return False


def _spacer(cx: Context, goals_: list[Goal]) -> dict[str, str]:
    """Try Z3's CHC engine on the goals; 'proved' or why not, per goal."""
    enc = cx.enc
    x = enc.frame("chc")
    u = Unrolling(cx, "chc.")
    step = u.extend()
    pre, post = u.frames[0], u.frames[1]
    params = list(enc.params.values())
    keys = list(x.vars)
    init_parts = [cx.enc.formula(c.expr, pre) for c in cx.program.init]
    init = z3.And(*cx.params, pre.where(), *[z3.And(ok, t) for t, ok in init_parts])
    if _nonlinear([init, step, *[g.holds(cx, post) for g in goals_]]):
        return {g.name: "Spacer not tried: the transition system is nonlinear" for g in goals_}
    sorts = [z3.RealSort()] * (len(params) + len(keys))
    inv = z3.Function("Inv", *sorts, z3.BoolSort())
    out: dict[str, str] = {}
    for g in goals_:
        fp = z3.Fixedpoint()
        fp.set(engine="spacer")
        fp.set("timeout", max(1, int(cx.options.timeout * 1000)))
        fp.register_relation(inv)
        free = _free(init, step, g.holds(cx, pre))
        fp.declare_var(*free)
        pre_args = [*params, *[pre.vars[k] for k in keys]]
        post_args = [*params, *[post.vars[k] for k in keys]]
        fp.rule(inv(*pre_args), init)
        fp.rule(inv(*post_args), [inv(*pre_args), step])
        try:
            result = fp.query(z3.And(inv(*pre_args), z3.Not(g.holds(cx, pre))))
        except z3.Z3Exception as err:
            out[g.name] = f"Spacer failed: {err}"
            continue
        out[g.name] = "proved" if result == z3.unsat else f"Spacer: {result}"
    return out


def _free(*terms: Any) -> list[z3.ExprRef]:
    from checker.replay import _free_constants

    return _free_constants(list(terms))
