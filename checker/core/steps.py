"""One transition in Z3: an action or an env move from one frame to the next.

Shared by the single-step checks (liquidation, conservation, gap safety) and
the model checker. The semantics follow the Python back end: an action's
guard (and the lets it needs) is evaluated first; the updates, evaluated on
the pre-state, only when the guard holds; variables an action does not
assign keep their value. An env move chooses each listed variable anywhere
in its closed range and keeps everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import z3

from checker.core.encode import Encoder, Frame, Obligation
from dsl import ir


@dataclass
class Transition:
    """`pre` --step--> `post`, enabled when `guard`, evaluable without error when `defined`."""

    step: ir.Action | ir.Env
    pre: Frame
    post: Frame
    guard: z3.BoolRef
    defined: z3.BoolRef
    args: dict[str, z3.ArithRef] = field(default_factory=dict)  # action arguments / env choices by key
    obligations: list[Obligation] = field(default_factory=list)  # partial operations the step runs
    # No `forced` action enabled or undefined in `pre` (the engine refuses any other step then); true for a forced one.
    free: z3.BoolRef = field(default_factory=lambda: z3.BoolVal(True))

    @property
    def kind(self) -> str:
        return "action" if isinstance(self.step, ir.Action) else "env"


def forced_clear(enc: Encoder, pre: Frame) -> z3.BoolRef:
    """No `forced` action stands in the way in `pre`: every forced guard is defined and false.

    A forced action has a guard and no arguments (the front end makes sure), so this is a condition
    on `pre` alone. The engine evaluates every forced guard before any other step: one that holds
    refuses the step with GuardError, one that cannot be evaluated raises UndefinedError (found by
    the differential test), so another step runs only where all of them are defined and false.
    """
    clear = []
    for a in enc.program.actions:
        if a.forced and a.guard is not None:
            g = enc.translation(pre)
            guard, ok = g.expr(a.guard, {}, z3.BoolVal(True))
            clear.append(z3.And(ok, *g.eager, z3.Not(guard)))
    return z3.And(*clear) if clear else z3.BoolVal(True)


def _free(enc: Encoder, pre: Frame, step: ir.Action | ir.Env) -> z3.BoolRef:
    return z3.BoolVal(True) if isinstance(step, ir.Action) and step.forced else forced_clear(enc, pre)


def action_step(enc: Encoder, pre: Frame, action: ir.Action, tag: str) -> Transition:
    """The transition of `action` from `pre`; its arguments are fresh reals named `arg@tag`."""
    args = {a.name: z3.Real(f"{action.name}.{a.name}@{tag}") for a in action.args}
    locals_: dict[str, z3.ExprRef] = dict(args)
    true = z3.BoolVal(True)
    if action.guard is not None:
        g = enc.translation(pre, locals_)
        guard, guard_ok = g.expr(action.guard, {}, true)
        guard_defined = z3.And(guard_ok, *g.eager)
    else:
        guard, guard_defined = true, true
    body = enc.translation(pre, locals_)
    oks: list[z3.BoolRef] = []
    for local in action.locals:
        term, ok = body.expr(local.expr, {}, true)
        locals_[local.sym.name] = term
        oks.append(ok)
    new: dict[tuple[str, str | None], z3.ArithRef] = {}
    for u in action.updates:
        for asset in _targets(enc, u.sym, u.index):
            scope = {u.index.name: asset} if isinstance(u.index, ir.BoundVar) and asset is not None else {}
            term, ok = body.expr(u.expr, scope, true)
            new[(u.sym.name, asset)] = term
            oks.append(ok)
    post = enc.frame(tag, {**pre.vars, **new})
    defined = z3.And(guard_defined, z3.Implies(guard, z3.And(*oks, *body.eager)))
    # The body runs only once the guard has held.
    obligations = [
        *(g.obligations if action.guard is not None else []),
        *(Obligation(o.what, o.span, z3.And(guard, guard_defined, o.path), o.ok) for o in body.obligations),
    ]
    return Transition(action, pre, post, guard, defined, args, obligations, _free(enc, pre, action))


def env_step(enc: Encoder, pre: Frame, env: ir.Env, tag: str) -> Transition:
    """The transition of env move `env` from `pre`; chosen values are fresh reals."""
    true = z3.BoolVal(True)
    new: dict[tuple[str, str | None], z3.ArithRef] = {}
    choices: dict[str, z3.ArithRef] = {}
    in_range: list[z3.BoolRef] = []
    # Like the engine: the guard first; the bounds are evaluated only once it holds.
    g = enc.translation(pre)
    if env.guard is not None:
        guard, gok = g.expr(env.guard, {}, true)
        guard_defined = z3.And(gok, *g.eager)
    else:
        guard, guard_defined = true, true
    tr = enc.translation(pre)
    runs = z3.And(guard, guard_defined)
    oks: list[z3.BoolRef] = []
    for u in env.updates:
        for asset in _targets(enc, u.sym, u.index):
            key = u.sym.name if asset is None else f"{u.sym.name}[{asset}]"
            v = z3.Real(f"{env.name}.{key}@{tag}")
            scope = {u.index.name: asset} if isinstance(u.index, ir.BoundVar) and asset is not None else {}
            lo, ok_lo = tr.expr(u.lo, scope, runs)
            hi, ok_hi = tr.expr(u.hi, scope, runs)
            in_range += [lo <= v, v <= hi]
            oks += [ok_lo, ok_hi]
            new[(u.sym.name, asset)] = v
            choices[key] = v
    post = enc.frame(tag, {**pre.vars, **new})
    defined = z3.And(guard_defined, z3.Implies(guard, z3.And(*oks, *tr.eager)))
    obligations = [*g.obligations, *tr.obligations]
    return Transition(env, pre, post, z3.And(guard, *in_range), defined, choices, obligations, _free(enc, pre, env))


def _targets(enc: Encoder, sym: ir.Symbol, index: ir.Index | None) -> list[str | None]:
    match index:
        case None:
            return [None]
        case ir.AssetName(name=a):
            return [a]
        case ir.BoundVar():
            return list(enc.program.assets)
    raise AssertionError(index)
