"""Runs as Z3 terms: frames linked by the transition relation, and a found run turned into a verdict.

Shared by bounded model checking, induction and the deep search: the
`Unrolling` of frames F0..Fn, the input `where`s every frame satisfies, and
`violation`, which replays a trace on the engine and reports it.
"""

from __future__ import annotations

import z3

from checker.core.context import Context
from checker.core.encode import Frame, conj
from checker.core.replay import Scene
from checker.core.results import CheckResult, Verdict
from checker.core.steps import Transition, action_step, env_step
from checker.mc.goals import Goal
from dsl.symmetry import pair_goals, representative


def input_wheres(cx: Context, frame: Frame) -> z3.BoolRef:
    return cx.input_wheres(frame)


def _same(a: Frame, b: Frame) -> z3.BoolRef:
    return conj(*[a.vars[k] == b.vars[k] for k in a.vars]) if a.vars else z3.BoolVal(True)


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
        # The same steps out of `pre` as the `cases` of the depth before, encoded again: the terms are
        # the same, but keeping those transitions for this step changes the order in which Z3 numbers
        # the terms, hence the text of later queries and how long they take. Measured on the bundle
        # (--jobs 1, CPU time, both orders): 7-10 s more in all with the transitions kept (binance
        # keeper tip, partial liquidation dust, ADL whole profit: +1.3-1.4 s each), where encoding the
        # steps costs 6.8 s; the same report either way.
        ts = [action_step(cx.enc, pre, a, tag) for a in cx.program.actions]
        ts += [env_step(cx.enc, pre, e, tag) for e in cx.program.envs]
        nxt = cx.enc.frame(tag)
        sel = [z3.Bool(f"took.{t.step.name}@{tag}") for t in ts]
        options = []
        for j, t in enumerate(ts):
            conds = [t.guard, t.defined, t.free, _same(nxt, t.post)]
            options.append(z3.Implies(sel[j], conj(*conds)))
        self.frames.append(nxt)
        self.steps.append((ts, sel))
        took = z3.Or(*sel) if sel else z3.BoolVal(False)
        return conj(took, *options, input_wheres(cx, nxt))

    def cases(self) -> list[tuple[Transition, z3.BoolRef]]:
        """The possible next steps from the last frame, one case each: (transition, when it is taken).

        Splitting the last step by cases gives the solver several small queries instead of one
        disjunction, which matters for nonlinear specs.
        """
        cx = self.cx
        pre = self.frames[-1]
        tag = f"{self.prefix}{len(self.frames)}"
        # With accounts, the last step of another account is one of a few representatives (dsl.accounts):
        # the goals are about account 1 or shared, and the steps before it are every step.
        every = pair_goals(cx.program)
        ts = [action_step(cx.enc, pre, a, tag) for a in cx.program.actions if every or representative(a.name)]
        ts += [env_step(cx.enc, pre, e, tag) for e in cx.program.envs]
        return [(t, conj(t.guard, t.defined, t.free, input_wheres(cx, t.post))) for t in ts]

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
    return Transition(t.step, t.pre, post, t.guard, t.defined, t.args, free=t.free)


def violation(
    cx: Context, g: Goal, u: Unrolling, model: z3.ModelRef | None, d: int, last: Transition | None, seconds: float
) -> CheckResult:
    reason = f"{g.meaning} after {d} step{'s' if d != 1 else ''} from `init`"
    if model is None:
        return CheckResult(
            g.check,
            g.name,
            Verdict.VIOLATED,
            seconds,
            reason + " (the witness is irrational; not replayed)",
            f"bounded, depth {d}",
        )
    scene = u.scene(model, d - 1, last) if last is not None else u.scene(model, 0)
    broken = lambda views: not g.runtime(views[-1])  # noqa: E731
    if g.then is not None:  # a step property: show the step that breaks it, with the solver's arguments
        t = g.then(cx, scene.frames[-1][1])
        scene.frames.append((f"then {t.step.name}", t.post, t))
        broken = lambda views: not g.runtime_step(views[-2], views[-1])  # noqa: E731
    cex = cx.replayer.replay(model, scene, broken) if cx.options.replay else None
    return CheckResult(g.check, g.name, Verdict.VIOLATED, seconds, reason, f"bounded, depth {d}", cex)
