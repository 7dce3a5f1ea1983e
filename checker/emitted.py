"""Re-running a counterexample on the current spec: the runtime side of emitted tests.

`solvent check --emit-tests DIR` writes one pytest file per violation; each
calls `reproduce`, which loads the spec as it is now, rebuilds the
counterexample's parameters, state and steps on the compiled engine, and says
whether the violation still happens. A test fails while it does, and passes
once the rules are fixed (or once the scenario is no longer possible: a
parameter leaves its range, a state its `where`, a step its guard).

A failure says what broke and, one per line, the values of the names the rule
reads, as the engine computes them now (not as the counterexample recorded
them): the reader sees why without re-running anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import dsl
from checker.core.results import show
from dsl import ir


class _Gone(Exception):
    """The counterexample's scenario is no longer possible under the current spec."""


def _num(text: object) -> Any:
    if isinstance(text, bool):
        return text
    if isinstance(text, Mapping):
        return {k: _num(v) for k, v in text.items()}
    return Fraction(str(text))


def reproduce(spec_path: str, check_id: str, check_name: str, cex: Mapping[str, Any]) -> str | None:
    """A description of the violation if it still happens on the engine, else None."""
    spec = dsl.load(spec_path)
    eng = spec.engine
    program = spec.program
    try:
        run = _Run(eng, program, cex)
        return _violation(run, check_id, check_name)
    except _Gone:
        return None


class _Run:
    """The counterexample's states rebuilt on the engine, step by step."""

    def __init__(self, eng: Any, program: ir.Program, cex: Mapping[str, Any]) -> None:
        self.eng = eng
        self.program = program
        self.steps = list(cex["steps"])
        try:
            self.params = eng.Params(**{eng.FIELDS[k]: _num(v) for k, v in cex["params"].items()})
        except (ValueError, TypeError, KeyError) as err:
            raise _Gone from err
        try:
            if not eng.assumptions_hold(self.params):
                raise _Gone
        except eng.UndefinedError:
            pass  # an undefined `assume` is itself the finding of a well-defined check
        self.views: list[tuple[Any, Any]] = []
        for i, step in enumerate(self.steps):
            label = step["label"]
            # "after X" (single-step checks), "N: X" (traces), "then X" (the step a step property's trace ends with)
            step_name = label.split(": ", 1)[1] if ": " in label else label.removeprefix("after ").removeprefix("then ")
            if i == 0 or step_name not in eng.STEPS:
                state = self._build(eng.State, step["state"])
                inputs = self._build(eng.Inputs, step["inputs"])
                try:
                    if i == 0 and not eng.where_holds(self.params, state, inputs):
                        raise _Gone
                except eng.UndefinedError:
                    pass  # an undefined `where` is itself the finding of a well-defined check
            else:
                state, inputs = self._apply(step_name, step, *self.views[-1])
            self.views.append((state, inputs))
        self.args = {k: _num(v) for k, v in self.steps[0].get("args", {}).items()}

    def _build(self, cls: Any, values: Mapping[str, Any]) -> Any:
        try:
            return cls(**{self.eng.FIELDS[k]: _num(v) for k, v in values.items()})
        except (ValueError, TypeError, KeyError) as err:
            raise _Gone from err

    def _apply(self, name: str, step: Mapping[str, Any], state: Any, inputs: Any) -> tuple[Any, Any]:
        fn = getattr(self.eng, self.eng.STEPS[name])
        try:
            env = next((e for e in self.program.envs if e.name == name), None)
            if env is None:
                args = self.eng.ARGS.get(name, {})
                return fn(self.params, state, inputs, **{py: _num(step["args"][a]) for a, py in args.items()}), inputs
            after = {**step["state"], **step["inputs"]}
            choice: dict[str, Any] = {}
            for u in env.updates:
                value = _num(after[u.sym.name])
                if u.index is None:
                    choice[u.sym.name] = value
                else:
                    for asset in value if isinstance(u.index, ir.BoundVar) else [u.index.name]:
                        choice[f"{u.sym.name}[{asset}]"] = value[asset]
            return fn(self.params, state, inputs, choice)  # type: ignore[no-any-return]
        except self.eng.GuardError as err:
            raise _Gone from err

    def let(self, name: str, at: int = 0) -> Any:
        state, inputs = self.views[at]
        return getattr(self.eng, self.eng.NAMES[name])(self.params, state, inputs)

    def health(self, at: int = 0) -> Any:
        state, inputs = self.views[at]
        return self.eng.health_measure(self.params, state, inputs)

    def formula(self, key: str, at: int = 0) -> Any:
        state, inputs = self.views[at]
        return getattr(self.eng, self.eng.FORMULAS[key])(self.params, state, inputs)

    def raises(self, call: Any) -> bool:
        try:
            call()
        except self.eng.UndefinedError:
            return True
        return False


def _violation(run: _Run, check_id: str, name: str) -> str | None:
    subject = name.split(": ", 1)[1] if ": " in name else ""
    last = len(run.views) - 1
    match check_id:
        case "requirement-nonnegative":
            value = run.let(subject)
            return _values(run, f"{subject} = {show(value)} < 0", [subject]) if value < 0 else None
        case "maintenance-le-initial":
            m, i = run.let("maintenance"), run.let("initial")
            shown = f"maintenance {show(m)} > initial {show(i)}"
            return _values(run, shown, ["maintenance", "initial"]) if m > i else None
        case "requirement-monotone":
            small, large = run.let(subject, 0), run.let(subject, 1)
            return f"{subject} falls from {small} to {large} as the position grows" if large < small else None
        case "insolvent-implies-liquidatable":
            eq = run.let("equity")
            if eq < 0 and not run.let("liquidatable"):
                return _values(run, f"equity {show(eq)} < 0 but not liquidatable", ["equity", "liquidatable"])
            return None
        case "liquidation-improves-health":
            # The measure the check compares: the `health` role, else equity - maintenance. A pair
            # where it is undefined is not a violation (spec/checks.md), so neither is it here.
            if not hasattr(run.eng, "health_measure"):
                return None
            try:
                before, after = run.health(0), run.health(last)
            except run.eng.UndefinedError:
                return None
            return f"{run.eng.HEALTH} falls from {before} to {after}" if after < before else None
        case "liquidation-no-bad-debt":
            state, inputs = run.views[last]
            broken = run.eng.failing_where(run.params, state, inputs)
            if broken is not None:
                return f"{broken} fails after the liquidation"
            eq0, eq1 = run.let("equity", 0), run.let("equity", last)
            return f"equity {eq0} -> {eq1}: bad debt" if eq1 < min(eq0, 0) else None
        case "gap-safety":
            if run.let("liquidatable", 0):
                return None
            eq1 = run.let("equity", last)
            return f"not liquidatable, then equity {eq1} < 0 after one move" if eq1 < 0 else None
        case "conservation":
            total = subject.split(" by ", 1)[0]
            a, b = run.formula(f"conserved:{total}", 0), run.formula(f"conserved:{total}", last)
            direction = next((c.direction for c in run.program.conserved if c.name == total), "equal")
            moved = b < a if direction == "never decreases" else b > a if direction == "never increases" else a != b
            return f"`{total}` changes from {a} to {b}" if moved else None
        case "property" if " on " in subject:
            return _step_property(run, subject.split(" on ", 1)[0], last)
        case "property":
            rule = _rule(run.program.properties, subject)
            if run.raises(lambda: run.formula(f"property:{subject}")):
                return _values(run, f"property `{subject}` is undefined here", rule)
            return None if run.formula(f"property:{subject}") else _values(run, f"property `{subject}` is false", rule)
        case "invariant":
            state, inputs = run.views[last]
            inv = subject.removesuffix(" stays true")
            if inv.startswith("where of "):
                broken = run.eng.failing_where(run.params, state, inputs)
                if broken is not None:
                    return f"{broken} fails after {last} steps"
                holds = True
            else:
                holds = not run.raises(lambda: run.formula(f"invariant:{inv}", last)) and run.formula(
                    f"invariant:{inv}", last
                )
            if holds:
                return None
            rule = _rule(run.program.wheres if inv.startswith("where of ") else run.program.invariants, inv)
            return _values(run, f"`{inv}` fails after {last} steps", rule, last)
        case "well-defined":
            return _undefined(run, subject)
        case "liquidation-enabled":
            return _stuck(run, last)
    raise ValueError(f"no way to reproduce check `{check_id}`")


def _step_property(run: _Run, name: str, last: int) -> str | None:
    """A step property's violation: the compiled property, false or undefined on the replayed step."""
    fn = getattr(run.eng, run.eng.FORMULAS[f"step:{name}"])
    # The last two frames: before and after the step (a follow-up's trace ends with the breaking step).
    (state, inputs), (after, after_inputs) = run.views[last - 1], run.views[last]
    args = {k: _num(v) for k, v in run.steps[last].get("args", {}).items()}

    def holds() -> bool:
        return bool(fn(run.params, state, inputs, args, after, after_inputs))

    prop = next((p for p in run.program.step_properties if p.name == name), None)
    rule = [prop.expr] if prop is not None else []
    if run.raises(holds):
        return _values(run, f"step property `{name}` is undefined on this step", rule, last, args)
    return None if holds() else _values(run, f"step property `{name}` is false on this step", rule, last, args)


def _rule(constraints: tuple[ir.Constraint, ...], name: str) -> list[ir.Expr]:
    """The expression of the constraint called `name` (`where of x`: the where of x), as a list."""
    name = name.removeprefix("where of ")
    return [c.expr for c in constraints if c.name == name][:1]


def _values(
    run: _Run, message: str, rule: list[ir.Expr] | list[str], at: int = 0, args: Mapping[str, Any] | None = None
) -> str:
    """`message`, then one line per name the rule reads (`rule`: expressions, or lets and what they read), as the engine
    computes it at step `at`; a primed name (`x'`, in a step property) is read after the step, its plain
    name before it. A let the engine cannot evaluate there shows as `undefined`."""
    lets = {let.sym.name: let.expr for let in run.program.lets}
    names: list[tuple[str, bool]] = []  # (name, after the step)
    for item in rule:
        for name, after in [(item, False)] if isinstance(item, str) else _reads(item, False):
            names.append((name, after))
            if name in lets:  # a let: its value, then what it is computed from (one level down)
                names += [(read, after) for read, _ in _reads(lets[name], False)]
    lines = [message]
    for name, after in dict.fromkeys(names):
        step = at if after or args is None else at - 1
        lines.append(f"    {name}{chr(39) if after else ''} = {_value(run, name, step, args)}")
    return "\n".join(lines)


def _reads(e: ir.Expr, after: bool) -> list[tuple[str, bool]]:
    """The names `e` reads, in order, each with whether it is read after the step (inside `x'`)."""
    if isinstance(e, ir.Var):
        return [(e.sym.name, after)] if e.sym.kind is not ir.Kind.LOCAL else []
    if isinstance(e, ir.Next):
        return _reads(e.x, True)
    return [name for child in ir.children(e) for name in _reads(child, after)]


def _value(run: _Run, name: str, at: int, args: Mapping[str, Any] | None) -> str:
    eng = run.eng
    state, inputs = run.views[at]
    try:
        if name in eng.NAMES:
            return show(run.let(name, at))
        field = eng.FIELDS.get(name)
        for holder in (state, inputs, run.params):
            if field is not None and hasattr(holder, field):
                return show(getattr(holder, field))
        if args is not None and name in args:
            return show(args[name])
        return show(run.args[name]) if name in run.args else "?"
    except eng.UndefinedError:
        return "undefined"


_PROBES = (Fraction(0), Fraction(1), Fraction(-1))


def _liquidations(program: ir.Program) -> list[ir.Action]:
    """Actions whose guard is `liquidatable` or an `and` that includes it (spec/checks.md, Notation)."""
    role = program.role("liquidatable")

    def conjuncts(e: ir.Expr) -> list[ir.Expr]:
        if isinstance(e, ir.BoolOp) and e.op == "and":
            return [*conjuncts(e.left), *conjuncts(e.right)]
        return [e]

    return [
        a
        for a in program.actions
        if role is not None
        and a.guard is not None
        and any(isinstance(c, ir.Var) and c.sym == role for c in conjuncts(a.guard))
    ]


def _stuck(run: _Run, at: int) -> str | None:
    """`liquidation-enabled`: liquidatable with maintenance > 0, and every liquidation refused or without
    progress (for one with arguments: at the arguments 0, 1, -1, as the checker's replay)."""
    try:
        if run.let("liquidatable", at) is not True or not run.let("maintenance", at) > 0:
            return None
        short = run.let("maintenance", at) - run.let("equity", at)
    except run.eng.UndefinedError:
        return None
    state, inputs = run.views[at]
    for a in _liquidations(run.program):
        fn = getattr(run.eng, run.eng.STEPS[a.name])
        grid: list[list[Fraction]] = [[]]
        for _ in a.args:
            grid = [[*g, v] for g in grid for v in _PROBES]
        for args in grid:
            try:
                after = fn(run.params, state, inputs, *args)
                m1 = getattr(run.eng, run.eng.NAMES["maintenance"])(run.params, after, inputs)
                e1 = getattr(run.eng, run.eng.NAMES["equity"])(run.params, after, inputs)
            except (run.eng.GuardError, run.eng.UndefinedError):
                continue
            if m1 - e1 < short or m1 <= 0:
                return None
            try:
                if getattr(run.eng, run.eng.NAMES["liquidatable"])(run.params, after, inputs) is False:
                    return None  # cured: no longer liquidatable
            except run.eng.UndefinedError:
                pass
    return f"liquidatable with maintenance {run.let('maintenance', at)}, and no liquidation can run and make progress"


def _undefined(run: _Run, subject: str) -> str | None:
    eng = run.eng
    state, inputs = run.views[0]
    if m := re.match(r"`(\w+)` \(", subject):
        fails = run.raises(lambda: run.let(m.group(1)))
    elif m := re.match(r"(action|env move) `(\w+)`", subject):
        fn = getattr(eng, eng.STEPS[m.group(2)])
        if m.group(1) == "action":
            args = eng.ARGS.get(m.group(2), {})
            fails = run.raises(lambda: fn(run.params, state, inputs, **{py: run.args[a] for a, py in args.items()}))
        else:
            choice = {k.removesuffix("'"): v for k, v in run.args.items()}
            fails = run.raises(lambda: fn(run.params, state, inputs, choice))
    elif subject.startswith("where of"):
        fails = run.raises(lambda: eng.where_holds(run.params, state, inputs))
    elif subject.startswith("assume"):
        fails = run.raises(lambda: eng.assumptions_hold(run.params))
    elif subject.startswith("init"):
        keys = [k for k in eng.FORMULAS if k.startswith("init:")]
        fails = any(run.raises(lambda k=k: run.formula(k)) for k in keys)
    elif m := re.match(r"(property|invariant|conserved) `(\w+)`", subject):
        fails = run.raises(lambda: run.formula(f"{m.group(1)}:{m.group(2)}"))
    else:
        return None
    return f"{subject}: the engine raises UndefinedError" if fails else None
