"""Counterexamples: from a Z3 model to exact values, replayed on the runtime.

A violation is only reported after the generated Python engine has been run
on the solver's values: the engine must reach the same states, compute the
same value for every `let` and role, and agree that the property fails. Any
disagreement is a bug in solvent and raises `InternalError` naming both
values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import ModuleType
from typing import Any

import z3

from checker.core.encode import Encoder, Frame, q
from checker.core.results import Counterexample, Step, Value, show
from checker.core.steps import Transition
from checker.solve.budget import Budget
from checker.solve.z3engine import cheap_solver, free_constants, smt2, solve_z3
from dsl import ir
from dsl.diagnostics import InternalError


@dataclass
class Scene:
    """What a query talks about: a sequence of frames, each reached by a transition or given."""

    frames: list[tuple[str, Frame, Transition | None]]
    args: dict[str, z3.ArithRef] = field(default_factory=dict)  # free step arguments of a single-state scene


class View:
    """A replayed state: the engine's objects and lazily computed lets."""

    def __init__(self, engine: ModuleType, params: Any, state: Any, inputs: Any) -> None:
        self.engine = engine
        self.params = params
        self.state = state
        self.inputs = inputs
        self._cache: dict[str, Value] = {}
        self.args: dict[str, Fraction] = {}

    def let(self, name: str) -> Any:
        if name not in self._cache:
            fn = getattr(self.engine, self.engine.NAMES[name])
            try:
                self._cache[name] = fn(self.params, self.state, self.inputs)
            except self.engine.UndefinedError as err:
                self._cache[name] = f"undefined ({err})"
        return self._cache[name]

    def arg(self, name: str) -> Fraction:
        """The value of a step argument (or env choice) the scene left free."""
        return self.args[name]


Predicate = Callable[..., bool]  # takes the replayed views (Sequence[View]); lambdas bind extras as defaults


def to_fraction(v: z3.ExprRef) -> Fraction:
    if z3.is_rational_value(v):
        return Fraction(v.numerator_as_long(), v.denominator_as_long())
    if z3.is_int_value(v):
        return Fraction(v.as_long())
    raise ValueError(f"not a rational: {v}")


def satisfies(model: z3.ModelRef, assertions: Sequence[z3.BoolRef]) -> bool:
    """Does `model` make every assertion true (free constants it leaves out counted as 0)?"""
    return all(z3.is_true(model.eval(a, model_completion=True)) for a in assertions)


def _fresh_model(assertions: Sequence[z3.BoolRef], budget: Budget) -> z3.ModelRef | None:
    """A model of `assertions` from Z3 in its own context (so that the answer is reproducible), or None."""
    outcome = solve_z3(list(assertions), budget, 0)
    return outcome.model if outcome.status == "sat" else None


def exact_value(model: z3.ModelRef, term: z3.ExprRef) -> Fraction:
    """`term`'s value in `model` as a Fraction (an irrational value is rounded to 20 digits)."""
    v = model.eval(term, model_completion=True)
    if z3.is_algebraic_value(v):
        v = v.approx(20)
    return to_fraction(v)


def state_value(model: z3.ModelRef, term: z3.ExprRef) -> Fraction | bool:
    """A state's or input's value in `model`: a bool for a flag, else as `exact_value`."""
    if z3.is_bool(term):
        return bool(z3.is_true(model.eval(term, model_completion=True)))
    return exact_value(model, term)


def rational_model(model: z3.ModelRef, assertions: list[z3.BoolRef], budget: Budget) -> z3.ModelRef | None:
    """A model with rational values for every free constant, or None if none was found.

    nlsat may answer with irrational algebraic numbers; the runtime is exact
    rationals, so such a model is moved to nearby rationals and re-checked.
    """
    if not satisfies(model, assertions):
        # Seen once under load in the full test suite: a model that does not satisfy the query it
        # answers. Ask again in a fresh context rather than replay values that are not a witness.
        model = _fresh_model(assertions, budget)
        if model is None or not satisfies(model, assertions):
            return None
    consts = free_constants(assertions)
    values = {c.get_id(): model.eval(c, model_completion=True) for c in consts}
    if all(z3.is_rational_value(v) or z3.is_int_value(v) or z3.is_true(v) or z3.is_false(v) for v in values.values()):
        return model
    for precision in (6, 12, 24):
        pins = []
        for c in consts:
            v = values[c.get_id()]
            if z3.is_algebraic_value(v):
                v = v.approx(precision)
            pins.append(c == v)
        pinned = _fresh_model([*assertions, *pins], budget)
        if pinned is not None:
            return pinned
    return None


# Z3 resource units per rounding attempt (a few ms on a small query). Measured over the bundled bad
# examples' counterexamples: an attempt that succeeds spends a median 18,500 units (90% under 88,000),
# while one that fails on the limit spends all of it, 213 such attempts taking 20 of the 27 s of
# rounding at 200,000 units. At 100,000 the bundle's check took 53 s instead of 60 s with values as
# round as before (3.7 characters per value on average, both ways).
_ROUNDING_RLIMIT = 100_000
_ROUNDING_TRIES = 64  # attempts per counterexample (each metered: about 0.1 s at most)
_ROUNDING_LOOKS = 256  # values tried by evaluation, without a solver, per counterexample
_ROUNDING_SAFETY_MS = 5000  # a safety net only: every attempt measured ends on its work limit within 2 s


def _rational(v: z3.ExprRef) -> bool:
    return bool(z3.is_rational_value(v) or z3.is_int_value(v) or z3.is_true(v) or z3.is_false(v))


def rounding_solvers(ctx: z3.Context, query: str) -> list[z3.Solver]:
    """The solvers that try each rounding pin, in order, each loaded with `query` (SMT-LIB text).

    The cheap configuration (linearisation only): with values pinned the query is nearly linear, and
    its work is metered, so the bound is a work limit rather than a clock and rounding is the same
    on any machine; the clock is only a safety net (an attempt it stops counts as failed, and the
    values stay less round, never wrong).
    Where linearisation alone cannot tell (unknown), Z3's SMT core with its nonlinear reasoning
    decides, on the same work limit: with the cheap solver alone most pins were refused as unknown,
    and counterexamples left the spec's defaults for odd values (1/512).
    Z3's Horner and Groebner passes in that core barely count their work (measured on a cross-margin
    counterexample: 5-26 s for one attempt of under 200,000 units), so the clock, not the work limit,
    ended those attempts and counterexamples differed with machine speed; without them every attempt
    measured ends on its work limit, and 64 attempts instead of 16 make up the roundness.
    Both solvers take the whole query in again at every attempt. Incremental solvers (one `z3.Solver`
    each, the query taken in once, each pin pushed and popped) were measured too, with the same work
    limit: rounding the 14 counterexamples of five bad examples took 47 s of CPU instead of 9-10 s.
    """
    smt = z3.With(z3.Tactic("smt", ctx=ctx), **{"arith.nl.horner": False, "arith.nl.grobner": False})
    solvers = [cheap_solver(ctx), smt.solver()]
    for solver in solvers:
        solver.set("rlimit", _ROUNDING_RLIMIT)
        solver.set("timeout", _ROUNDING_SAFETY_MS)
        solver.from_string(query)  # as text, like every query (see `smt2`)
    return solvers


def readable_model(
    model: z3.ModelRef,
    assertions: list[z3.BoolRef],
    preferred: dict[str, Fraction],
) -> z3.ModelRef:
    """The same violation with rounder numbers, so a person can read it.

    Greedily, in a fixed order: each parameter is pinned to its preferred value (its default);
    then each free real still open to 0, else its value rounded to a whole number, else to 2, 4 or
    6 decimals (nearest, down, up), keeping each pin only if the assertions stay satisfiable.
    Each value is first tried by evaluation (`_still_holds`: the model so far with that one value
    changed), and a solver is asked only when that fails; measured on the bundled examples, the
    values came out rounder (3.46 characters each against 3.66) and the traces of bounded model
    checking took a fifth less time to round (6.8 s against 8.5 s in `--jobs 1`).
    Flags and the steps a run takes stay as they are (only numbers are rounded).
    Deterministic: bounded by a number of attempts and a Z3 resource limit per attempt, not by the
    clock; the original model is returned when nothing better is found.
    """
    # Parameters first: pinning them to their defaults makes the rest of the query easier.
    # Then frame by frame (`x@0` before `x@1`): a run's later states follow from its earlier ones, so
    # once the first frames are round the later values mostly are too, without attempts of their own.
    consts = sorted(free_constants(assertions), key=lambda c: (str(c) not in preferred, _frame(str(c)), str(c)))
    # The choices that are not numbers keep the model's values: which step a run takes at each depth
    # (`took.<step>@i`) and every flag. The run keeps its shape, and the solver no longer weighs the
    # steps not taken at each attempt. Measured on examples/bad (--jobs 1, CPU, two runs each): 108.8
    # and 112.5 s against 116.1 and 117.1 s, values rounder (3.40 characters each against 3.44); the
    # same verdicts. Substituting them into the query instead (z3.simplify) was as fast, less round (3.75).
    fixed = [c == model.eval(c, model_completion=True) for c in consts if z3.is_bool(c)]
    ctx = z3.Context()
    solvers = rounding_solvers(ctx, smt2([*assertions, *fixed]))
    current: z3.ModelRef | None = None  # the latest model found, in `ctx`; it satisfies every pin so far
    start: z3.ModelRef | None = None  # `model` in `ctx`, until a pin holds
    tries = looks = 0
    settled: set[int] = set()  # constants whose value is fixed from now on
    # Two passes: every parameter's default first, then round values for everything. In one pass a
    # parameter rounded early could rule out a later one's default (`assume mmr < imr`: imr rounded
    # to 0.0039 left mmr no room for its default 0.005).
    for defaults in (True, False):
        for c in consts:
            if tries >= _ROUNDING_TRIES or not z3.is_real(c) or c.get_id() in settled:
                continue
            if defaults and str(c) not in preferred:
                continue
            value = (
                current.eval(c.translate(ctx), model_completion=True)
                if current is not None
                else model.eval(c, model_completion=True)
            )
            if not _rational(value):
                continue
            exact = Fraction(value.numerator_as_long(), value.denominator_as_long())
            if defaults:
                candidates = [preferred[str(c)]]
            else:
                # Nearest first, then the other side: a strict bound (imr > mmr) rules out the nearest.
                sides = (round, math.floor, math.ceil)
                decimals = [Fraction(f(exact * 10**k), 10**k) for k in (2, 4, 6) for f in sides]
                candidates = [Fraction(0), Fraction(round(exact)), *decimals]
            local = c.translate(ctx)
            chosen: Fraction | None = None
            for cand in dict.fromkeys(candidates):
                if cand == exact:
                    chosen = exact
                    break
                # First without a solver: the model so far with this one value changed may still satisfy
                # the query (an argument of an action the run does not take, a value nothing reads).
                if looks < _ROUNDING_LOOKS:
                    looks += 1
                    if current is None and start is None:
                        start = model.translate(ctx)
                    working = current if current is not None else start
                    assert working is not None
                    if _still_holds(working, local, q(cand).translate(ctx), solvers[0].assertions()):
                        current, chosen = working, cand
                        break
                tries += 1
                found = _pinned(solvers, local == q(cand).translate(ctx))
                if isinstance(found, z3.ModelRef):
                    current, chosen = found, cand
                    break
                if found == "unknown" and not defaults:
                    break  # undecided within the work limit: its other round values would cost as much
            if chosen is None and not defaults and current is None:
                chosen = exact  # nothing rounder: keep the value the model has, as every later pin will
            if chosen is not None:
                settled.add(c.get_id())
                for solver in solvers:
                    solver.add(local == q(chosen).translate(ctx))
    if current is None:
        return model
    better = current.translate(z3.main_ctx())
    if not all(_rational(better.eval(c, model_completion=True)) for c in consts) or not satisfies(better, assertions):
        return model
    return better


def _still_holds(model: z3.ModelRef, c: z3.ExprRef, value: z3.ExprRef, assertions: z3.AstVector) -> bool:
    """Whether `model` with `c` set to `value` satisfies `assertions` (a ground evaluation); else unchanged."""
    old = model.eval(c, model_completion=True)
    model.update_value(c, value)
    if all(z3.is_true(model.eval(a, model_completion=True)) for a in assertions):
        return True
    model.update_value(c, old)
    return False


def _frame(name: str) -> int:
    """The step a constant belongs to (`mark@2` -> 2); 0 for parameters and single-state constants."""
    _, at, step = name.rpartition("@")
    return int(step) if at and step.isdigit() else 0


def _pinned(solvers: list[z3.Solver], pin: z3.BoolRef) -> z3.ModelRef | str:
    """A model with `pin` added, from the first solver that says sat before one says unsat.

    Else "unsat", or "unknown" when no solver could tell within its work limit.
    """
    for solver in solvers:
        solver.push()
        solver.add(pin)
        try:
            answer = solver.check()
            if answer == z3.sat:
                return solver.model()
            if answer == z3.unsat:
                return "unsat"
        finally:
            solver.pop()
    return "unknown"


class Replayer:
    """Turns a model into a `Counterexample`, checking it on the engine."""

    def __init__(self, program: ir.Program, enc: Encoder, engine: ModuleType) -> None:
        self.program = program
        self.enc = enc
        self.engine = engine

    def value(self, model: z3.ModelRef, term: z3.ExprRef) -> Fraction | bool:
        v = model.eval(term, model_completion=True)
        if z3.is_true(v):
            return True
        if z3.is_false(v):
            return False
        return to_fraction(v)

    def _params(self, model: z3.ModelRef) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for p in self.program.params:
            if p.sym.indexed:
                out[p.sym.name] = {a: self._num(model, self.enc.param(p.sym.name, a)) for a in self.program.assets}
            else:
                out[p.sym.name] = self._num(model, self.enc.param(p.sym.name, None))
        return out

    def _num(self, model: z3.ModelRef, term: z3.ExprRef) -> Fraction:
        v = self.value(model, term)
        assert isinstance(v, Fraction)
        return v

    def _vars(self, model: z3.ModelRef, frame: Frame, syms: tuple[ir.Symbol, ...]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for s in syms:
            if s.indexed:
                values = {a: self.value(model, frame.var(s, a)) for a in self.program.assets}
                out[s.name] = values  # type: ignore[assignment]  # all bools or all Fractions, by the symbol's type
            else:
                out[s.name] = self.value(model, frame.var(s, None))
        return out

    def _build(self, cls: Any, values: dict[str, Value]) -> Any:
        return cls(**{self.engine.FIELDS[k]: v for k, v in values.items()})

    def replay(self, model: z3.ModelRef, scene: Scene, violated: Predicate) -> Counterexample:
        """Run the scene on the engine and return the checked counterexample."""
        params = self._params(model)
        p_obj = self._build(self.engine.Params, params)
        views: list[View] = []
        steps: list[Step] = []
        state_obj: Any = None
        inputs_obj: Any = None
        for label, frame, transition in scene.frames:
            state = self._vars(model, frame, self.program.states)
            inputs = self._vars(model, frame, self.program.inputs)
            args: dict[str, Fraction] = {}
            if transition is None:
                state_obj = self._build(self.engine.State, state)
                inputs_obj = self._build(self.engine.Inputs, inputs)
            else:
                args = {k: self._num(model, v) for k, v in transition.args.items()}
                state_obj, inputs_obj = self._apply(transition, p_obj, state_obj, inputs_obj, args)
                self._agree(f"the state after {label}", state, self._dump(state_obj, self.program.states))
                self._agree(f"the inputs after {label}", inputs, self._dump(inputs_obj, self.program.inputs))
            view = View(self.engine, p_obj, state_obj, inputs_obj)
            view.args = args  # after a step: its arguments (or env choices), for predicates about the step
            if not views and scene.args:
                args = {k: self._num(model, v) for k, v in scene.args.items()}
                view.args = args
            lets = self._lets(model, frame, view, label)
            views.append(view)
            shown_args = args if transition is None or transition.kind == "action" else {}
            steps.append(Step(label, shown_args, state, inputs, lets))
        if not violated(views):
            raise InternalError(
                "the solver found a violation but the generated engine, run on the same values, does not "
                f"show it.\nvalues: params {show(params)}; "
                + "; ".join(f"{s.label}: {show(s.state)} {show(s.inputs)}" for s in steps)
            )
        return Counterexample(params, tuple(steps), replayed=True)

    def _apply(self, t: Transition, p_obj: Any, state: Any, inputs: Any, args: dict[str, Fraction]) -> tuple[Any, Any]:
        fn = getattr(self.engine, self.engine.STEPS[t.step.name])
        try:
            if isinstance(t.step, ir.Action):
                return fn(p_obj, state, inputs, *[args[a.name] for a in t.step.args]), inputs
            return fn(p_obj, state, inputs, args)  # type: ignore[no-any-return]
        except (self.engine.GuardError, self.engine.UndefinedError) as err:
            raise InternalError(f"the solver's step `{t.step.name}` is rejected by the engine: {err}") from None

    def _dump(self, obj: Any, syms: tuple[ir.Symbol, ...]) -> dict[str, Value]:
        return {s.name: getattr(obj, self.engine.FIELDS[s.name]) for s in syms}

    def _agree(self, what: str, solver: dict[str, Value], runtime: dict[str, Value]) -> None:
        for k, v in solver.items():
            if runtime[k] != v:
                raise InternalError(
                    f"{what}: the solver has {k} = {show(v)} but the engine computes {show(runtime[k])}"
                )

    def _lets(self, model: z3.ModelRef, frame: Frame, view: View, label: str) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for let in self.program.lets:
            name = let.sym.name
            runtime = view.let(name)
            assets = list(self.program.assets) if let.sym.indexed else [None]
            solver_vals: dict[str | None, Fraction | bool] = {}
            defined = True
            for a in assets:
                term, ok = frame.let(name, a)
                if not self.value(model, ok):
                    defined = False
                    break
                solver_vals[a] = self.value(model, term)
            if defined and isinstance(runtime, str):
                raise InternalError(
                    f"`{name}` at {label}: the solver evaluates it to {show(solver_vals)} but the engine says {runtime}"
                )
            if defined:
                expected: Any = solver_vals[None] if not let.sym.indexed else {k: v for k, v in solver_vals.items()}
                if runtime != expected:
                    raise InternalError(
                        f"`{name}` at {label}: the solver has {show(expected)} but the engine computes {show(runtime)}"
                    )
            out[name] = runtime
        return out


__all__ = [
    "Predicate",
    "Replayer",
    "Scene",
    "View",
    "exact_value",
    "free_constants",
    "q",
    "rational_model",
    "readable_model",
    "state_value",
]
