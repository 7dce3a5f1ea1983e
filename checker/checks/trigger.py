"""`liquidation-enabled`: every liquidatable account can be liquidated, and the liquidation makes progress.

The "liquidation trigger failure": `liquidatable` holds, but every liquidation
action's guard adds a condition (a dust limit, a minimum size, a close factor,
a revert) that the account fails, or the only liquidation the guard admits
leaves it no better off. The other liquidation checks ask about the
liquidations that *can* run; this one asks that one can.

The question is ∀∃: for every valid liquidatable state with something to
liquidate (maintenance > 0), some liquidation L and some arguments make L
enabled (guard holds and is defined, no forced action pre-empts it) and
productive. Its negation, asked of the solver, is ∃∀: a state such that for
every liquidation and all its arguments, L is not enabled-with-progress.

- Without arguments there is no quantifier: one ground query through
  `Context.ask` (split, replayed, like every single-state check).
- With arguments, first a candidate search of ground queries: is there a
  state where every candidate argument tuple fails (the guard's bounds on
  each argument, and the arguments that worked in earlier rounds,
  generalised)? unsat is a proof. Then, if the rounds settle nothing, the
  query with a Z3 `ForAll` over the arguments, asked whole (never split:
  the split rewrites terms under the quantifier) of Z3 in this process,
  within a fixed number of quantifier-instantiation rounds
  (`solve_quantified`).
- A state the solver calls stuck is never taken on its word: it is pinned
  to exact values and a ground query with the arguments free must be unsat
  before it is VIOLATED (and replayed on the engine). Anything the solver
  cannot settle is UNKNOWN with the stage that gave up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import z3

from checker.checks.liquidation import _liquidations
from checker.core.context import Context, located, skip
from checker.core.encode import Frame
from checker.core.replay import Scene, View, rational_model, readable_model
from checker.core.results import CheckResult, Verdict
from checker.core.steps import Transition, action_step
from checker.solve.z3engine import free_constants, solve_quantified
from dsl import ir

CHECK = "liquidation-enabled"
_PROBES = (Fraction(0), Fraction(1), Fraction(-1))  # arguments the replay tries on the engine, per argument


def liquidations(program: ir.Program) -> list[ir.Action]:
    """The liquidation actions: guard `liquidatable`, or a conjunction that includes it (spec/checks.md)."""
    return _liquidations(program)


def premise(frame: Frame) -> tuple[z3.BoolRef, list[z3.BoolRef]]:
    """The account in `frame` is liquidatable and has something to liquidate (maintenance > 0), all defined."""
    liq, okl = frame.role("liquidatable")
    m, okm = frame.role("maintenance")
    _, oke = frame.role("equity")
    parts = [okl, liq, okm, oke, m > 0]
    return z3.And(*parts), parts


def shortfall(frame: Frame) -> tuple[z3.ExprRef, z3.BoolRef]:
    """maintenance - equity in `frame`, and when it is defined."""
    m, okm = frame.role("maintenance")
    eq, oke = frame.role("equity")
    return m - eq, z3.And(okm, oke)


def productive(t: Transition) -> z3.BoolRef:
    """`t` is enabled (guard holds, defined, not pre-empted by a forced action) and makes progress.

    Progress: the shortfall falls, or the position is closed (maintenance after <= 0), or the
    account is no longer liquidatable; every value it reads is defined.
    """
    s0, ok0 = shortfall(t.pre)
    s1, ok1 = shortfall(t.post)
    m1, okm1 = t.post.role("maintenance")
    liq1, okl1 = t.post.role("liquidatable")
    progress = z3.Or(s1 < s0, m1 <= 0, z3.And(okl1, z3.Not(liq1)))
    return z3.And(t.guard, t.defined, t.free, ok0, ok1, okm1, progress)


def stuck(t: Transition) -> z3.BoolRef:
    """No choice of `t`'s arguments makes it enabled and productive (a `ForAll` when it has arguments)."""
    body = z3.Not(productive(t))
    args = list(t.args.values())
    return z3.ForAll(args, body) if args else body


def transitions(cx: Context, frame: Frame, actions: Sequence[ir.Action]) -> list[Transition]:
    return [action_step(cx.enc, frame, a, f"{frame.tag}.{a.name}" if frame.tag else a.name) for a in actions]


# ---------------------------------------------------------------------------
# The engine's side
# ---------------------------------------------------------------------------


def _runtime_shortfall(v: View) -> Any:
    return v.let("maintenance") - v.let("equity")


def _runtime_productive(v: View, action: ir.Action, args: Sequence[Fraction]) -> bool:
    """Does the engine run `action` from `v`'s state with `args`, and does it make progress?"""
    fn = getattr(v.engine, v.engine.STEPS[action.name])
    try:
        after = fn(v.params, v.state, v.inputs, *args)
    except (v.engine.GuardError, v.engine.UndefinedError):
        return False
    w = View(v.engine, v.params, after, v.inputs)
    try:
        before_short, after_short = _runtime_shortfall(v), _runtime_shortfall(w)
        return bool(after_short < before_short or w.let("maintenance") <= 0 or w.let("liquidatable") is False)
    except TypeError:  # a let the engine could not compute (View.let gives its error as text)
        return False


def runtime_stuck(v: View, actions: Sequence[ir.Action]) -> bool:
    """On the engine: liquidatable with maintenance > 0, and no liquidation runs productively.

    Argument-free liquidations are run as they are. For one with arguments the engine is run at
    every combination of the probe values (0, 1, -1): that confirms the solver's claim at those
    points only; the claim for every argument is the solver's ground proof (see the module).
    """
    try:
        if v.let("liquidatable") is not True or not v.let("maintenance") > 0:
            return False
    except TypeError:
        return False
    for a in actions:
        for combo in _probes(len(a.args)):
            if _runtime_productive(v, a, combo):
                return False
    return True


def _probes(n: int) -> list[tuple[Fraction, ...]]:
    out: list[tuple[Fraction, ...]] = [()]
    for _ in range(n):
        out = [(*c, p) for c in out for p in _PROBES]
    return out


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


def liquidation_enabled(cx: Context) -> Iterator[CheckResult]:
    """One result: every valid liquidatable state with maintenance > 0 has an enabled, productive liquidation."""
    missing = cx.has("equity", "maintenance", "liquidatable")
    if missing:
        yield skip(CHECK, CHECK, f"no `{missing[0]}` role in the margin block")
        return
    actions = liquidations(cx.program)
    if not actions:
        yield skip(CHECK, CHECK, "no action is guarded by `liquidatable`")
        return
    f = cx.enc.frame("state")
    _, parts = premise(f)
    ts = transitions(cx, f, actions)
    names = ", ".join(f"`{a.name}`" for a in actions)
    meaning = (
        f"this account is liquidatable with maintenance > 0, but no liquidation ({names}) is enabled "
        "and makes progress for any arguments: it cannot be liquidated"
    )
    at = cx.program.let("liquidatable").span
    query = [*cx.valid(f), *parts, *(stuck(t) for t in ts)]
    if not any(t.args for t in ts):
        yield cx.ask(
            CHECK,
            CHECK,
            query,
            Scene([("state", f, None)]),
            lambda v: runtime_stuck(v[0], actions),
            meaning,
            at=at,
        )
        return
    yield located(_quantified(cx, query, [*cx.valid(f), *parts], f, ts, actions, meaning), at)


_ROUNDS = 8  # refinement rounds of the candidate search before the quantified query
_MAX_TUPLES = 64  # candidate argument tuples per liquidation


def _is_arg(e: ir.Expr, names: set[str]) -> bool:
    return isinstance(e, ir.Var) and e.sym.kind is ir.Kind.ARG and e.sym.name in names


def _mentions(e: ir.Expr, names: set[str]) -> bool:
    return any(_is_arg(n, names) for n in ir.walk(e))


def _summands(e: ir.Expr) -> list[ir.Expr]:
    if isinstance(e, ir.Arith) and e.op == "+":
        return [*_summands(e.left), *_summands(e.right)]
    return [e]


def candidate_terms(action: ir.Action) -> dict[str, list[ir.Expr]]:
    """Per argument, the argument-free terms its guard compares it with (its bounds) or takes a min/max with.

    `x >= t`, `t < x`, `x + y <= t` (t, with the other summands at 0), `min(x, t)`: t is a candidate
    value of x. Candidates are only a search heuristic: a proof from them is sound whatever they are.
    """
    names = {a.name for a in action.args}
    out: dict[str, list[ir.Expr]] = {a.name: [] for a in action.args}
    if action.guard is None:
        return out
    for node in ir.walk(action.guard):
        if isinstance(node, ir.Cmp):
            for side, other in ((node.left, node.right), (node.right, node.left)):
                if _mentions(other, names):
                    continue
                terms = _summands(side)
                if all(_is_arg(t, names) for t in terms):
                    for t in terms:
                        assert isinstance(t, ir.Var)
                        out[t.sym.name].append(other)
        elif isinstance(node, ir.MinMax):
            bare = [x for x in node.args if _is_arg(x, names)]
            rest = [x for x in node.args if not _mentions(x, names)]
            if len(bare) == 1 and len(bare) + len(rest) == len(node.args):
                assert isinstance(bare[0], ir.Var)
                out[bare[0].sym.name].extend(rest)
    return out


Substitution = list[tuple[z3.ExprRef, z3.ExprRef]]  # argument constant -> the term or value it takes


def _bases(cx: Context, f: Frame, t: Transition) -> list[list[z3.ExprRef]]:
    """Per argument of `t`, its candidate terms over `f`: 0 and the guard's bounds (`candidate_terms`)."""
    assert isinstance(t.step, ir.Action)
    tr = cx.enc.translation(f)
    per_arg: list[list[z3.ExprRef]] = []
    for exprs in candidate_terms(t.step).values():
        terms: dict[str, z3.ExprRef] = {"0": z3.RealVal(0)}
        for e in exprs:
            term, _ = tr.expr(e, {}, z3.BoolVal(True))
            terms.setdefault(str(term), term)
        per_arg.append(list(terms.values()))
    return per_arg


def _combine(keys: list[z3.ExprRef], per_arg: list[list[z3.ExprRef]]) -> list[Substitution]:
    combos: list[list[z3.ExprRef]] = [[]]
    for options in per_arg:
        combos = [[*c, x] for c in combos for x in options][:_MAX_TUPLES]
    return [list(zip(keys, c, strict=True)) for c in combos]


def _generalise(model: z3.ModelRef, keys: list[z3.ExprRef], bases: list[list[z3.ExprRef]]) -> list[Substitution]:
    """Arguments that work in `model`, as candidates for other states: each value a0 as a constant,
    and as the same multiple of each base term t (a0 / t0 * t, t0 its nonzero value in `model`)."""
    per_arg: list[list[z3.ExprRef]] = []
    for key, terms in zip(keys, bases, strict=True):
        a0 = model.eval(key, model_completion=True)
        if not z3.is_rational_value(a0):  # an irrational (nlsat) or missing value: nothing exact to reuse
            return []
        options = [a0]
        for term in terms:
            t0 = model.eval(term, model_completion=True)
            if z3.is_rational_value(t0) and t0.as_fraction() != 0:
                options.append(z3.RealVal(a0.as_fraction() / t0.as_fraction()) * term)
        per_arg.append(options)
    return _combine(keys, per_arg)


def _quantified(
    cx: Context,
    query: list[z3.BoolRef],
    ground: list[z3.BoolRef],
    f: Frame,
    ts: list[Transition],
    actions: Sequence[ir.Action],
    meaning: str,
) -> CheckResult:
    """Liquidations with arguments: a candidate search, then the ∃∀ query asked whole.

    Candidate search (ground queries): is there a state in which every candidate argument tuple
    (the guard's bounds, and argument values found in earlier rounds) fails? unsat is a proof (each
    state has a working tuple). A model s0 is tested with the state fixed and the arguments free:
    unsat confirms it (VIOLATED); a model gives argument values added as constants for the next round.
    """
    cx.seen[CHECK] = cx.seen.get(CHECK, 0) + 1
    start = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - start

    enabled = z3.Or(*(productive(t) for t in ts))
    bases = [_bases(cx, f, t) for t in ts]
    subs: list[list[Substitution]] = [
        _combine(list(t.args.values()), b) if t.args else [[]] for t, b in zip(ts, bases, strict=True)
    ]
    prods = [productive(t) for t in ts]
    notes: list[str] = []
    for round_ in range(_ROUNDS):
        failing = [
            z3.Not(z3.substitute(p, *sub) if sub else p)
            for p, tuples in zip(prods, subs, strict=True)
            for sub in tuples
        ]
        outcome = cx.solve([*ground, *failing], split=False)
        if outcome.status == "unsat":
            tried = sum(len(x) for x in subs)
            return CheckResult(
                CHECK, CHECK, Verdict.PROVED, elapsed(), "", f"single-state, by {tried} candidate argument choices"
            )
        if outcome.status == "unknown" or outcome.model is None:
            notes.append(f"candidate search, round {round_ + 1}: {outcome.reason}")
            break
        found = _confirm(cx, outcome.model, ground, enabled)
        if isinstance(found, z3.ModelRef):
            return _violated(cx, found, f, actions, meaning, elapsed())
        if isinstance(found, str):
            notes.append(found)
            break
        # A liquidation works there: its arguments become candidates for the next round.
        for i, t in enumerate(ts):
            if t.args:
                subs[i] += _generalise(found.model, list(t.args.values()), bases[i])
    # In this process, by Z3's quantifier instantiation within a fixed number of rounds: the portfolio's
    # engines would bound that work by the clock only (MBQI does not count it against the resource limit).
    outcome = solve_quantified(query, cx.options.budget, cx.options.seed)
    cx.count_clocked(outcome)
    if outcome.status == "unsat":
        return CheckResult(CHECK, CHECK, Verdict.PROVED, elapsed(), "", "single-state, quantified over the arguments")
    if outcome.status == "sat" and outcome.model is not None:
        found = _confirm(cx, outcome.model, ground, enabled)
        if isinstance(found, z3.ModelRef):
            return _violated(cx, found, f, actions, meaning, elapsed())
        notes.append(found if isinstance(found, str) else "the quantified query's witness is not stuck")
    else:
        notes.append(f"quantified query (for all arguments of the liquidations): {outcome.reason}")
    return CheckResult(CHECK, CHECK, Verdict.UNKNOWN, elapsed(), "the solver gave up: " + "; ".join(notes))


@dataclass(frozen=True)
class _Works:
    """A model, with the state fixed, in which some liquidation is enabled and productive."""

    model: z3.ModelRef


def _confirm(
    cx: Context, model: z3.ModelRef, ground: list[z3.BoolRef], enabled: z3.BoolRef
) -> z3.ModelRef | _Works | str:
    """With the state and parameters fixed at `model`'s (exact, rounded if possible) values, is no
    liquidation enabled-with-progress? The stuck model, or one where a liquidation works, or why not known."""
    exact = rational_model(model, ground, cx.options.budget)
    if exact is None:
        return "the solver's witness has irrational values; no exact counterexample was found"
    works: _Works | None = None
    for m in (readable_model(exact, ground, cx.preferred), exact):
        pins = [c == m.eval(c, model_completion=True) for c in free_constants(ground)]
        answer = cx.solve([*ground, *pins, enabled], split=False)
        if answer.status == "unsat":
            return m
        if answer.status == "unknown" or answer.model is None:
            return (
                f"with the state fixed, the solver could not decide whether a liquidation is enabled: {answer.reason}"
            )
        works = works or _Works(answer.model)
    assert works is not None
    return works


def _violated(
    cx: Context, model: z3.ModelRef, f: Frame, actions: Sequence[ir.Action], meaning: str, seconds: float
) -> CheckResult:
    cex = None
    if cx.options.replay:
        cex = cx.replayer.replay(model, Scene([("state", f, None)]), lambda v: runtime_stuck(v[0], actions))
    reason = (
        f"{meaning} (proved by the solver with the state fixed; on the engine each liquidation is refused "
        "or makes no progress at the probe arguments 0, 1, -1)"
    )
    return CheckResult(CHECK, CHECK, Verdict.VIOLATED, seconds, reason, "single-state", cex)
