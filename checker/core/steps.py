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

from checker.core.encode import Encoder, Frame, Obligation, conj
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
    # The engine's forced-first rule (language.md §6.3): for a step that is not a forced action, no forced
    # action is enabled or undefined in `pre`; for a forced one, it is enabled and taken with its chosen
    # arguments, or no forced action is enabled (then it is an ordinary action).
    free: z3.BoolRef = field(default_factory=lambda: z3.BoolVal(True))
    # For a forced action: its guard holds and is defined in `pre` at its chosen arguments.
    enabled: z3.BoolRef = field(default_factory=lambda: z3.BoolVal(False))

    @property
    def kind(self) -> str:
        return "action" if isinstance(self.step, ir.Action) else "env"


@dataclass(frozen=True, slots=True)
class Forced:
    """A forced action's test in `pre`: its chosen arguments and its guard at them."""

    choice: dict[str, z3.ArithRef]  # argument -> its chosen value (an expression over `pre`)
    choice_defined: z3.BoolRef  # the choices evaluate without error (the engine computes them first)
    parts: tuple[z3.BoolRef, ...]  # the choices and the guard at them evaluate without error, conjunct by conjunct
    guard: z3.BoolRef  # the guard at the chosen arguments
    obligations: list[Obligation]  # the partial operations of the choices

    @property
    def defined(self) -> z3.BoolRef:
        return conj(*self.parts)

    @property
    def enabled(self) -> z3.BoolRef:
        return conj(*self.parts, self.guard)

    @property
    def clear(self) -> z3.BoolRef:
        """Defined and not enabled. Flat, so that for an argument-free forced action the term is
        the one this test always had (a term's shape can change how long the solver takes)."""
        return conj(*self.parts, z3.Not(self.guard))


def forced_test(enc: Encoder, pre: Frame, action: ir.Action) -> Forced:
    """Evaluate forced action `action`'s chosen arguments, then its guard at them, in `pre`.

    A condition on `pre` alone: the chosen values read only the pre-state (the front end makes sure),
    so the engine and the checker decide "enabled" from the same numbers.
    """
    true = z3.BoolVal(True)
    c = enc.translation(pre)
    choice: dict[str, z3.ArithRef] = {}
    oks: list[z3.BoolRef] = []
    for arg, expr in zip(action.args, action.choices, strict=True):
        term, ok = c.expr(expr, {}, true)
        choice[arg.name] = term
        oks.append(ok)
    assert action.guard is not None, "the front end requires a guard on a forced action"
    g = enc.translation(pre, dict(choice))
    guard, ok = g.expr(action.guard, {}, true)
    return Forced(choice, conj(*oks, *c.eager), (*oks, *c.eager, ok, *g.eager), guard, c.obligations)


def forced_clear(enc: Encoder, pre: Frame) -> z3.BoolRef:
    """No `forced` action stands in the way in `pre`: each one's choices and guard are defined, the guard false.

    The engine evaluates every forced action's chosen arguments and its guard at them before any other
    step: a guard that holds refuses the step with GuardError, a value that cannot be evaluated raises
    UndefinedError (found by the differential test), so another step runs only where all of them are
    defined and false.
    """
    clear = []
    for a in enc.program.actions:
        if a.forced and a.guard is not None:
            clear.append(forced_test(enc, pre, a).clear)
    return conj(*clear) if clear else z3.BoolVal(True)


def _free(enc: Encoder, pre: Frame, step: ir.Action | ir.Env, args: dict[str, z3.ArithRef]) -> z3.BoolRef:
    if not (isinstance(step, ir.Action) and step.forced):
        return forced_clear(enc, pre)
    if not step.args:
        return z3.BoolVal(True)  # its own guard holds and is defined: it is enabled
    # Enabled: taken with exactly its chosen arguments. Not enabled: an ordinary action, allowed
    # only while no forced action is enabled (forced_clear includes this one's test).
    f = forced_test(enc, pre, step)
    same = conj(*(args[k] == v for k, v in f.choice.items()))
    return z3.Or(conj(f.enabled, same), forced_clear(enc, pre))


def action_step(enc: Encoder, pre: Frame, action: ir.Action, tag: str) -> Transition:
    """The transition of `action` from `pre`; its arguments are fresh reals named `arg@tag`."""
    args = {a.name: z3.Real(f"{action.name}.{a.name}@{tag}") for a in action.args}
    locals_: dict[str, z3.ExprRef] = dict(args)
    true = z3.BoolVal(True)
    if action.guard is not None:
        g = enc.translation(pre, locals_)
        guard, guard_ok = g.expr(action.guard, {}, true)
        guard_defined = conj(guard_ok, *g.eager)
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
    defined = conj(guard_defined, z3.Implies(guard, conj(*oks, *body.eager)))
    # The body runs only once the guard has held.
    obligations = [
        *(g.obligations if action.guard is not None else []),
        *(Obligation(o.what, o.span, conj(guard, guard_defined, o.path), o.ok) for o in body.obligations),
    ]
    free = _free(enc, pre, action, args)
    # The chosen arguments' partial operations are asked on their own (checks/definedness.py): the
    # engine evaluates them before every step, not only this one.
    enabled: z3.BoolRef = z3.BoolVal(False)
    if action.forced and action.guard is not None:
        enabled = forced_test(enc, pre, action).enabled if action.args else conj(guard, defined)
    return Transition(action, pre, post, guard, defined, args, obligations, free, enabled)


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
        guard_defined = conj(gok, *g.eager)
    else:
        guard, guard_defined = true, true
    tr = enc.translation(pre)
    runs = conj(guard, guard_defined)
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
    defined = conj(guard_defined, z3.Implies(guard, conj(*oks, *tr.eager)))
    obligations = [*g.obligations, *tr.obligations]
    free = _free(enc, pre, env, choices)
    return Transition(env, pre, post, conj(guard, *in_range), defined, choices, obligations, free)


def _targets(enc: Encoder, sym: ir.Symbol, index: ir.Index | None) -> list[str | None]:
    match index:
        case None:
            return [None]
        case ir.AssetName(name=a):
            return [a]
        case ir.BoundVar():
            return list(enc.program.assets)
    raise AssertionError(index)
