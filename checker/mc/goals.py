"""What the model checker checks over runs: goals, and the lemmas that may help prove them.

A goal is a statement about one state that must hold in every state reachable
from `init`. It comes from the spec (an `invariant`, a state's `where`) or
from the built-in catalogue in its multi-step form ("no *reachable* state has
negative equity without being liquidatable"), asked when the single-state
form was not proved. Each goal can be stated to Z3 over a frame and evaluated
on the compiled engine, so that a trace is replayed against the same
statement the solver refuted.

A lemma is an auxiliary candidate invariant solvent proposes itself (no bad
debt, the sign of a balance). Lemmas are never reported on their own; the
ones that survive induction strengthen it, and a proof that needed them says
which it used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import z3

from checker.core.context import Context
from checker.core.encode import Frame, conj
from checker.core.replay import View
from dsl import ir
from dsl.symmetry import is_copy
from dsl.units import BOOL

Z3Holds = Callable[["Context", Frame], z3.BoolRef]
RuntimeHolds = Callable[[View], bool]


@dataclass(frozen=True)
class Goal:
    """One statement that must hold in every reachable state."""

    name: str  # the result's name, e.g. "invariant: fund_solvent"
    check: str  # the catalogue id the result is reported under
    z3_holds: Z3Holds
    runtime_holds: RuntimeHolds  # on a replayed state; an engine error counts as not holding
    meaning: str  # what a violation means, e.g. "`fund_solvent` fails"
    where: str = ""  # path:line:col of the declaration
    share: Fraction | None = None  # of the query budget, for each of this goal's queries (None: all of it)
    # A step property's goal: the step that breaks it from a violating frame, shown after the trace,
    # and the property on the engine for (before, after) views of that step (instead of `runtime_holds`).
    then: Callable[[Context, Frame], Any] | None = None
    step_holds: Callable[[View, View], bool] | None = None
    # With `accounts`: the same goal for every other account (dsl.accounts). Only account 1's is asked;
    # the copies are assumed wherever the goal is (a hypothesis of induction, a proved fact), which is
    # sound because the accounts are symmetric: what holds for account 1 holds for each.
    copies: tuple[Z3Holds, ...] = ()

    def holds(self, cx: Context, frame: Frame) -> z3.BoolRef:
        return self.z3_holds(cx, frame)

    def assumed(self, cx: Context, frame: Frame) -> z3.BoolRef:
        """The goal as a hypothesis: for account 1 and, with `accounts`, for every other account too."""
        if not self.copies:
            return self.z3_holds(cx, frame)
        return conj(self.z3_holds(cx, frame), *[c(cx, frame) for c in self.copies])

    def runtime(self, view: View) -> bool:
        try:
            return bool(self.runtime_holds(view))
        except (view.engine.UndefinedError, TypeError):  # TypeError: a let the engine could not compute
            return False

    def runtime_step(self, before: View, after: View) -> bool:
        """A step goal on the engine: the step from `before` to `after` satisfies the property."""
        assert self.step_holds is not None
        try:
            return bool(self.step_holds(before, after))
        except (before.engine.UndefinedError, TypeError):
            return False


def _formula_holds(expr: ir.Expr) -> Z3Holds:
    def holds(cx: Context, frame: Frame) -> z3.BoolRef:
        term, ok = cx.enc.formula(expr, frame)
        return conj(ok, term)

    return holds


def _compiled(key: str) -> RuntimeHolds:
    return lambda v: getattr(v.engine, v.engine.FORMULAS[key])(v.params, v.state, v.inputs)


def spec_goals(program: ir.Program) -> list[Goal]:
    """The spec's own goals: every `invariant`, and every state's `where` ("no negative balance")."""
    states = {s.name for s in program.states}
    out = [
        Goal(
            f"invariant: {c.name}",
            "invariant",
            _formula_holds(c.expr),
            _compiled(f"invariant:{c.name}"),
            f"`{c.name}` fails",
            c.span.where,
            copies=_copies(program.invariants, c.name),
        )
        for c in program.invariants
        if not is_copy(c.name)  # another account's copy: assumed with the goal, never asked on its own
    ]

    def every_where(v: View) -> bool:
        # The solver's query named this goal's `where`; the replay confirms that a `where` fails in the
        # last state (the engine names the first that does, which is this one or an earlier one).
        return v.engine.failing_where(v.params, v.state, v.inputs) is None

    out += [
        Goal(
            f"invariant: where of {c.name} stays true",
            "invariant",
            _formula_holds(c.expr),
            every_where,
            f"the `where` of `{c.name}` ({c.span.where}) fails",
            c.span.where,
            copies=_copies(program.wheres, c.name),
        )
        for c in program.wheres
        if c.name in states and not is_copy(c.name)  # another account's copy: the same goal by symmetry
    ]
    return out


def _copies(constraints: tuple[ir.Constraint, ...], name: str) -> tuple[Z3Holds, ...]:
    """The other accounts' copies of constraint `name` (`name#2`, ...), as goals to assume."""
    return tuple(_formula_holds(c.expr) for c in constraints if is_copy(c.name) and c.name.split("#")[0] == name)


def _roles(*names: str) -> Callable[[Frame], tuple[list[z3.ExprRef], z3.BoolRef]]:
    def get(frame: Frame) -> tuple[list[z3.ExprRef], z3.BoolRef]:
        pairs = [frame.role(n) for n in names]
        return [t for t, _ in pairs], conj(*[ok for _, ok in pairs])

    return get


def _nonnegative_at_runtime(role: str) -> RuntimeHolds:
    return lambda v: bool(v.let(role) >= 0)


# Each query of a follow-up (the multi-step form of a single-state check) gets a quarter of the budget.
# The single-state verdict stands whatever the follow-up finds; it only adds whether a run from `init`
# reaches the failure. Measured at 500 tier brackets, one k-induction query of `maintenance-le-initial`'s
# follow-up spent the full budget to end UNKNOWN (92 of 109 s), against 0.7 s for the check itself.
FOLLOW_UP_SHARE = Fraction(1, 4)


def reachable_goals(program: ir.Program, check_ids: set[str]) -> list[Goal]:
    """The multi-step forms of the single-state checks in `check_ids` that apply to this spec.

    Each says the single-state statement holds in every *reachable* state: a single-state
    violation may be a state no run from `init` can reach. Their queries are asked with
    `FOLLOW_UP_SHARE` of the budget each.
    """
    out: list[Goal] = []
    has = {name for name, _ in program.roles}
    where = program.let("liquidatable").span.where if "liquidatable" in has else ""
    if "insolvent-implies-liquidatable" in check_ids and {"equity", "liquidatable"} <= has:
        roles = _roles("equity", "liquidatable")

        def solvent_or_liquidatable(cx: Context, frame: Frame) -> z3.BoolRef:
            (eq, liq), ok = roles(frame)
            return conj(ok, z3.Or(eq >= 0, liq))

        out.append(
            Goal(
                "insolvent-implies-liquidatable: in reachable states",
                "insolvent-implies-liquidatable",
                solvent_or_liquidatable,
                lambda v: v.let("equity") >= 0 or v.let("liquidatable") is True,
                "a state with negative equity that is not liquidatable is reached",
                where,
                FOLLOW_UP_SHARE,
            )
        )
    for role in ("initial", "maintenance"):
        if "requirement-nonnegative" in check_ids and role in has:
            req = _roles(role)

            def nonnegative(cx: Context, frame: Frame, req: Any = req) -> z3.BoolRef:
                (r,), ok = req(frame)
                return conj(ok, r >= 0)

            out.append(
                Goal(
                    f"requirement-nonnegative: {role} in reachable states",
                    "requirement-nonnegative",
                    nonnegative,
                    _nonnegative_at_runtime(role),
                    f"a state with a negative {role} requirement is reached",
                    program.let(role).span.where,
                    FOLLOW_UP_SHARE,
                )
            )
    if "maintenance-le-initial" in check_ids and {"initial", "maintenance"} <= has:
        both = _roles("maintenance", "initial")

        def below(cx: Context, frame: Frame) -> z3.BoolRef:
            (m, i), ok = both(frame)
            return conj(ok, m <= i)

        out.append(
            Goal(
                "maintenance-le-initial: in reachable states",
                "maintenance-le-initial",
                below,
                lambda v: v.let("maintenance") <= v.let("initial"),
                "a state whose maintenance requirement exceeds the initial one is reached",
                program.let("maintenance").span.where,
                FOLLOW_UP_SHARE,
            )
        )
    if "liquidation-enabled" in check_ids:
        out += _liquidation_enabled_goal(program, where)
    out += step_property_goals(program, check_ids)
    return out


def step_property_goals(program: ir.Program, unproved: set[str]) -> list[Goal]:
    """Step properties over runs: every step taken from a reachable state satisfies the property.

    For each step-property result in `unproved` (by name), the goal on a frame f says "the step T
    from f satisfies c": (guard_T ∧ def_T ∧ free_T [∧ Win(f')]) ⇒ (def(c) ∧ c)(f, args, f'), with T's
    arguments (or env choices) fresh constants named after f. The statement meant is "for all
    arguments"; the model checker only ever asserts the goal's negation (there the fresh constants
    are the violating arguments: exactly "some arguments break c") or assumes the goal as a
    hypothesis, where "for some arguments c holds" is weaker than the truth and so sound to assume.
    A violation is replayed by taking T with the solver's arguments on the engine (`then`).
    """
    from checker.checks.steps import result_name

    steps: dict[str, ir.Action | ir.Env] = {a.name: a for a in program.actions}
    steps.update({e.name: e for e in program.envs})
    out: list[Goal] = []
    for sp in program.step_properties:
        for name in sp.steps:
            if result_name(sp, name) not in unproved:
                continue
            step = steps[name]

            def holds(
                cx: Context, frame: Frame, sp: ir.StepProperty = sp, step: ir.Action | ir.Env = step
            ) -> z3.BoolRef:
                t = _then(step)(cx, frame)
                locals_ = dict(t.args) if isinstance(step, ir.Action) else {}
                term, ok = cx.enc.formula(sp.expr, frame, locals_, post=t.post)
                after = [cx.input_wheres(t.post)] if isinstance(step, ir.Env) else []
                return z3.Implies(conj(t.guard, t.defined, t.free, *after), conj(ok, term))

            out.append(
                Goal(
                    f"{result_name(sp, name)}, in reachable states",
                    "property",
                    holds,
                    lambda v: True,  # not used: `step_holds` checks the step `then` adds to the trace
                    f"a state is reached from which a `{name}` step breaks step property `{sp.name}`",
                    sp.span.where,
                    FOLLOW_UP_SHARE,
                    _then(step),
                    _step_at_runtime(sp.name),
                )
            )
    return out


def _then(step: ir.Action | ir.Env) -> Callable[[Context, Frame], Any]:
    """The transition of `step` from a frame, its arguments named after the frame (the same terms each time)."""
    from checker.core.steps import action_step, env_step

    def then(cx: Context, frame: Frame) -> Any:
        tag = f"{frame.tag}>{step.name}"
        return (
            action_step(cx.enc, frame, step, tag) if isinstance(step, ir.Action) else env_step(cx.enc, frame, step, tag)
        )

    return then


def _step_at_runtime(prop: str) -> Callable[[View, View], bool]:
    """On the engine: the compiled step property, on the replayed step from `before` to `after`."""

    def holds(before: View, after: View) -> bool:
        eng = before.engine
        fn = getattr(eng, eng.FORMULAS[f"step:{prop}"])
        return bool(fn(before.params, before.state, before.inputs, after.args, after.state, after.inputs))

    return holds


def _liquidation_enabled_goal(program: ir.Program, where: str) -> list[Goal]:
    """`liquidation-enabled` over runs, when every liquidation is argument-free (else no goal).

    With arguments the goal would hold an `Exists` over them, which neither induction nor the replay
    of a trace (the engine can only try some arguments) can settle soundly; spec/checks.md says so.
    """
    from checker.checks.trigger import liquidations, premise, productive, runtime_stuck, transitions

    actions = liquidations(program)
    if not actions or any(a.args for a in actions) or program.role("maintenance") is None:
        return []
    if program.role("equity") is None or program.role("liquidatable") is None:
        return []

    def can_liquidate(cx: Context, frame: Frame) -> z3.BoolRef:
        stuck_premise, _ = premise(frame)
        return z3.Or(z3.Not(stuck_premise), *(productive(t) for t in transitions(cx, frame, actions)))

    return [
        Goal(
            "liquidation-enabled: in reachable states",
            "liquidation-enabled",
            can_liquidate,
            lambda v: not runtime_stuck(v, actions),
            "a liquidatable account that no liquidation can liquidate is reached",
            where,
            FOLLOW_UP_SHARE,
        )
    ]


@dataclass(frozen=True)
class Lemma:
    """An auxiliary candidate invariant, and how it reads in a proof."""

    text: str
    goal: Goal


def lemmas(program: ir.Program) -> list[Lemma]:
    """Candidates solvent tries when the spec's goals are not inductive on their own.

    No bad debt (`equity >= 0`), and the sign of each numeric state that has no `where`
    (`insurance >= 0`, `paid >= 0`, ...). Induction keeps those that hold together. With
    `accounts`, a lemma about account 1 carries every other account's copy, assumed with it
    (as a goal's copies are, see `Goal.copies`), rather than being a candidate of its own.
    """
    out: list[Lemma] = []
    role = program.role("equity")
    if role is not None:
        lets = {let.sym.name for let in program.lets}

        def solvent_of(name: str) -> Z3Holds:
            def solvent(cx: Context, frame: Frame) -> z3.BoolRef:
                e, ok = frame.let(name)
                return conj(ok, e >= 0)

            return solvent

        others = tuple(solvent_of(n) for n in sorted(lets) if is_copy(n) and n.split("#")[0] == role.name)
        goal = Goal("lemma: equity >= 0", "lemma", solvent_of(role.name), lambda v: True, "", copies=others)
        out.append(Lemma("equity >= 0", goal))
    constrained = {c.name for c in program.wheres}
    for s in program.states:
        if s.ty == BOOL or s.name in constrained or is_copy(s.name):
            continue
        copies = [c for c in program.states if is_copy(c.name) and c.name.split("#")[0] == s.name]
        for sign in (">=", "<="):
            text = f"{s.name}{'[a]' if s.indexed else ''} {sign} 0"
            goal = Goal(
                f"lemma: {text}",
                "lemma",
                _signed(s, sign),
                lambda v: True,
                "",
                copies=tuple(_signed(c, sign) for c in copies),
            )
            out.append(Lemma(text, goal))
    return out


def _signed(s: ir.Symbol, sign: str) -> Z3Holds:
    def signed(cx: Context, frame: Frame) -> z3.BoolRef:
        vs = [frame.var(s, a) for a in cx.enc.assets_of(s)]
        return conj(*[v >= 0 if sign == ">=" else v <= 0 for v in vs])

    return signed
