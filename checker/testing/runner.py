"""The conformance runner: one spec, its plan and one implementation; what is sent, called and compared.

`Runner.run(point, case)` sends the case (`request`, spec/conformance.md §2), calls the
implementation, computes the reference on the spec's engine and returns every `Difference` beyond
tolerance: the compared outputs (lets and roles) and, for each compared action, whether it is
taken and every value of the next state (§1). The result types live here too, below
`checker.testing.conform`, which holds the public API and the search.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from checker.testing.boundary import Point
from checker.testing.impl import Implementation, ImplError
from checker.testing.mapping import Mapping, Output, Plan, Step, Tolerance
from checker.testing.values import decimal_text, decimalize, read_flag, read_number
from dsl import Spec, ir
from dsl.units import is_numeric


class ConformError(Exception):
    """The implementation could not be tested (not importable, raised, wrong shape, no answer in time): exit 2."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One output on which the implementation and the spec disagree beyond the tolerance (values in spec units)."""

    output: str  # the spec's name, `name[ASSET]` for a per-asset output
    impl_name: str
    what: str  # "margin role `maintenance` (rules.margin:88)"
    impl: Fraction | bool | None  # None: the implementation returned nan or an infinity
    impl_raw: str  # as the implementation returned it
    spec: Fraction | bool
    scale: Fraction
    tolerance: Tolerance

    @property
    def difference(self) -> Fraction | None:
        """Implementation minus spec, for numbers; None for flags and non-finite answers."""
        if isinstance(self.impl, Fraction) and isinstance(self.spec, Fraction):
            return self.impl - self.spec
        return None


@dataclass(frozen=True, slots=True)
class Case:
    """One case as tried: why it was chosen, its number in the run, and its values by spec name."""

    label: str  # "boundary: mm_bracket edge 50000", "generated", "replayed"
    number: int
    values: tuple[tuple[str, str, Any], ...]  # (spec name, implementation name or "" when fixed, value)
    args: tuple[tuple[str, tuple[tuple[str, Fraction], ...]], ...] = ()  # per compared action with arguments


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The case on which the implementation differs, and every output that differs on it."""

    case: Case
    differences: tuple[Difference, ...]
    shrunk: bool  # found by Hypothesis and shrunk


@dataclass(frozen=True, slots=True)
class ConformResult:
    """The outcome of a conformance run; `ok` when no case differed. `report()` is the text for a person."""

    spec: str
    impl: str
    mapping: str | None
    boundary_cases: int
    generated_cases: int
    seed: int
    mismatch: Mismatch | None
    target: str | None = None  # `module:function` as given, for the replay snippet (None: a callable or a command)
    command: tuple[str, ...] | None = None  # the JSON-lines program's argument list

    @property
    def ok(self) -> bool:
        return self.mismatch is None

    def report(self) -> str:
        """The human report (what `solvent conform` prints)."""
        from checker.testing.conform_report import render

        return render(self)


class Runner:
    """One spec, its plan and one implementation: builds requests, calls, compares."""

    def __init__(self, spec: Spec, plan: Plan, impl: Implementation) -> None:
        self.spec, self.plan, self.impl = spec, plan, impl
        self.engine = spec.engine
        program = spec.program
        self.syms: dict[str, ir.Symbol] = {p.sym.name: p.sym for p in program.params}
        self.syms.update({s.name: s for s in (*program.states, *program.inputs)})
        self.defaults = self.engine.Params()

    # -- cases

    def prepare(self, pt: Point) -> Point | None:
        """`pt` with the fixed parameters at their defaults and every value a finite decimal; None if that
        makes it invalid (a `where` or `assume` no longer holds)."""
        engine = self.engine
        params = pt.params
        if self.plan.fixed:
            pinned = {engine.FIELDS[n]: getattr(self.defaults, engine.FIELDS[n]) for n in self.plan.fixed}
            params = dataclasses.replace(params, **pinned)
        try:
            params, state, inputs = (_decimalized(obj) for obj in (params, pt.state, pt.inputs))
        except (ValueError, TypeError):
            return None
        if not engine.assumptions_hold(params) or not engine.where_holds(params, state, inputs):
            return None
        return Point(pt.label, params, state, inputs)

    @staticmethod
    def unique(points: Any) -> list[Point]:
        seen, out = set(), []
        for pt in points:
            if pt is not None and (pt.params, pt.state, pt.inputs) not in seen:
                seen.add((pt.params, pt.state, pt.inputs))
                out.append(pt)
        return out

    def point(self, case: AnyMapping[str, Any]) -> Point:
        """A point from spec-named values (the replay of a reported case); `ConformError` if it is not valid."""
        engine, program = self.engine, self.spec.program
        unknown = [k for k in case if k not in self.syms]
        if unknown:
            raise ConformError(f"the case names {', '.join(unknown)}, which are not parameters, states or inputs")
        try:
            params = engine.Params(
                **{engine.FIELDS[p.sym.name]: case[p.sym.name] for p in program.params if p.sym.name in case}
            )
            parts = [
                cls(**{engine.FIELDS[s.name]: case[s.name] for s in syms if s.name in case})
                for syms, cls in ((program.states, engine.State), (program.inputs, engine.Inputs))
            ]
        except (TypeError, ValueError) as err:
            raise ConformError(f"the case is not valid for the spec: {err}") from None
        if not engine.where_holds(params, *parts):
            raise ConformError(f"the case is not valid for the spec: {engine.failing_where(params, *parts)} fails")
        return Point("replayed", params, parts[0], parts[1])

    def values(self, pt: Point) -> tuple[tuple[str, str, Any], ...]:
        """Every parameter, state and input of `pt` by spec name, with the implementation's name ("" if fixed)."""
        sent = {n.spec: n.impl for n in self.plan.sent}
        return tuple((name, sent.get(name, ""), self._value(pt, name)) for name in self.syms)

    def _value(self, pt: Point, name: str) -> Any:
        sym = self.syms[name]
        obj = {ir.Kind.PARAM: pt.params, ir.Kind.STATE: pt.state}.get(sym.kind, pt.inputs)
        return getattr(obj, self.engine.FIELDS[name])

    def request(self, pt: Point) -> dict[str, Any]:
        """What the implementation is sent: its names, decimal strings (flags as bools, per-asset as dicts)."""
        return {n.impl: _text(self._value(pt, n.spec), n.scale) for n in self.plan.sent}

    # -- running and comparing

    def run(self, pt: Point, case: Case) -> tuple[Case, tuple[Difference, ...]] | None:
        """Call the implementation on `pt`; the differences beyond tolerance, or None when it conforms."""
        try:
            differences = self._outputs(pt) if self.plan.outputs else ()
            given = dict(case.args)
            for step in self.plan.steps:
                if not step.args or step.spec in given:
                    differences += tuple(self._step(step, pt, dict(given.get(step.spec, ()))))
        except ImplError as err:
            raise ConformError(_bad_case(self.impl.name, case, str(err))) from None
        return (case, differences) if differences else None

    def _outputs(self, pt: Point) -> tuple[Difference, ...]:
        answer = self.impl(self.request(pt))
        if self.plan.only_returned and not any(out.impl in answer for out in self.plan.outputs):
            got = ", ".join(sorted(map(str, answer))) or "nothing"
            raise ImplError(
                f"returned none of the spec's lets and roles (it returned: {got}); name its outputs in a "
                "mapping (spec/conformance.md §3)"
            )
        return tuple(d for out in self.plan.outputs for d in self._compare(out, pt, answer))

    def _step(self, step: Step, pt: Point, args: dict[str, Fraction]) -> list[Difference]:
        """Take `step` on both sides: do they agree that it is taken, and on every value of the next state?"""
        engine = self.engine
        request = self.request(pt) | {"@action": step.impl}
        if step.args:
            request["@args"] = {name: _text(args[name], Fraction(1)) for _, name in step.args}
        answer = self.impl(request)
        try:
            kwargs = {py: args[name] for py, name in step.args}
            after = getattr(engine, engine.STEPS[step.spec])(pt.params, pt.state, pt.inputs, **kwargs)
        except engine.GuardError:
            after = None
        except engine.UndefinedError:
            return []  # undefined in the spec: any answer is accepted
        refused = answer.get("@refused") is True
        if refused or after is None:
            if refused == (after is None):
                return []
            shown = "refused" if refused else "took it"
            return [
                Difference(
                    f"{step.spec} taken",
                    step.impl,
                    step.what,
                    not refused,
                    shown,
                    after is not None,
                    Fraction(1),
                    Tolerance(),
                )
            ]
        tolerances = dict(self.plan.state_tolerance)
        out: list[Difference] = []
        for n in self.plan.states:
            sym = self.syms[n.spec]
            what = f"the next state after {step.what}"
            o = Output(
                n.spec, n.impl, n.scale, tolerances.get(n.spec, Tolerance()), is_numeric(sym.ty), sym.indexed, what
            )
            raw = answer[n.impl] if n.impl in answer else _text(self._value(pt, n.spec), n.scale)  # left out: unchanged
            expected = getattr(after, engine.FIELDS[n.spec])
            label = f"{step.spec}: {n.spec}'"
            if not sym.indexed:
                out += self._one(o, label, raw, expected)
            elif not isinstance(raw, AnyMapping) or set(raw) != set(expected):
                raise ImplError(
                    f"`{n.impl}` is per asset: return an object with one value for each of {list(expected)}"
                )
            else:
                out += [d for a in expected for d in self._one(o, f"{step.spec}: {n.spec}'[{a}]", raw[a], expected[a])]
        return out

    def boundary_args(self, s: Any, pt: Point) -> tuple[tuple[str, tuple[tuple[str, Fraction], ...]], ...]:
        """For each compared action with arguments that `pt` was chosen for (`ACTION enabled`), the solver's
        arguments under which its guard holds there, made decimal (then it may not hold: both are tested)."""
        out = []
        for step in self.plan.steps:
            if step.args and pt.on(f"{step.spec} enabled"):
                # The witness the strategies already compute for `arguments()` (same package, same solver query).
                witness = s._witness_args(self.spec.program.action(step.spec), pt)
                if witness is not None:
                    out.append((step.spec, tuple((name, decimalize(witness[name])) for _, name in step.args)))
        return tuple(out)

    def _compare(self, out: Output, pt: Point, answer: dict[str, Any]) -> list[Difference]:
        engine = self.engine
        try:
            expected = getattr(engine, engine.NAMES[out.spec])(pt.params, pt.state, pt.inputs)
        except engine.UndefinedError:
            return []  # the spec leaves the value undefined here (spec/conformance.md §4): any answer is accepted
        if out.impl not in answer and self.plan.only_returned:
            return []
        if out.impl not in answer:
            got = ", ".join(sorted(map(str, answer))) or "nothing"
            raise ImplError(f"returned no `{out.impl}` ({out.what}); it returned: {got}")
        raw = answer[out.impl]
        if not out.indexed:
            return self._one(out, out.spec, raw, expected)
        if not isinstance(raw, AnyMapping) or set(raw) != set(expected):
            raise ImplError(f"`{out.impl}` is per asset: return an object with one value for each of {list(expected)}")
        return [d for a in expected for d in self._one(out, f"{out.spec}[{a}]", raw[a], expected[a])]

    def _one(self, out: Output, label: str, raw: Any, expected: Any) -> list[Difference]:
        shown = raw if isinstance(raw, str) else repr(raw)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        try:
            if not out.numeric:
                got_flag = read_flag(raw)
                if got_flag == expected:
                    return []
                return [Difference(label, out.impl, out.what, got_flag, shown, expected, out.scale, out.tolerance)]
            number = read_number(raw)
        except (TypeError, ValueError) as err:
            raise ImplError(f"returned a wrong value for `{out.impl}` ({out.what}): {err}") from None
        got = None if number is None else number * out.scale
        if got is not None and out.tolerance.admits(got - expected):
            return []
        return [Difference(label, out.impl, out.what, got, shown, expected, out.scale, out.tolerance)]

    def result(self, mapping: Mapping, boundary: int, generated: int, seed: int, m: Mismatch | None) -> ConformResult:
        path = mapping.source.path if mapping.source is not None else None
        target = getattr(self.impl, "target", None)
        command = getattr(self.impl, "argv", None)
        return ConformResult(self.spec.source.path, self.impl.name, path, boundary, generated, seed, m, target, command)


# ---- helpers -------------------------------------------------------------


def _text(v: Any, scale: Fraction) -> Any:
    """A value as sent: a decimal string of `v / scale`, a flag as it is, a per-asset value as a dict."""
    if isinstance(v, bool):
        return v
    if isinstance(v, AnyMapping):
        return {a: _text(x, scale) for a, x in v.items()}
    out = decimal_text(v / scale)
    assert out is not None, "prepare() made every value a finite decimal; scales are powers of ten"
    return out


def _decimalized(obj: Any) -> Any:
    """The engine dataclass `obj` rebuilt with every number a finite decimal (`values.decimalize`)."""

    def one(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, Fraction | AnyMapping):
            return v
        if isinstance(v, AnyMapping):
            return {a: one(x) for a, x in v.items()}
        return decimalize(v)

    values = {f.name: one(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return type(obj)(**values)


def _bad_case(impl: str, case: Case, problem: str) -> str:
    from checker.testing.conform_report import input_lines

    lines = [f"the implementation {impl} {problem}", f"  on case {case.number} ({case.label}), input:"]
    return "\n".join(lines + [f"    {line}" for line in input_lines(case)])
