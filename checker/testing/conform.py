"""Conformance of an existing engine to a spec: run both on the same cases, report the smallest disagreement.

`conform(spec, impl, mapping=..., tolerance=...)` runs the implementation and
the spec's compiled reference engine (`spec.engine`, exact Fractions) on

1. the solver's boundary points (`checker.testing.boundary`: each table
   bracket's edges, the exact liquidation threshold and a cent either side,
   zero equity, ...), in their order, each as it is;
2. then `examples` cases drawn by Hypothesis from `checker.strategies(spec)`
   with a fixed `seed` (the same run on any machine), and, on a mismatch,
   shrunk by Hypothesis to the smallest case it can find that still differs.

Every compared output (see `checker.testing.mapping`) is compared exactly,
within its declared tolerance; the first case that differs ends the run. The
result, a `ConformResult`, says which outputs differ, by how much, on which
input, and gives a pytest snippet that replays the case (`assert_case`).
Whatever goes wrong on the implementation's side is a `ConformError` naming
the case (exit status 2). spec/conformance.md is the normative description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from checker.testing.boundary import Point
from checker.testing.impl import Implementation, ImplError, jsonlines_impl, python_impl
from checker.testing.mapping import Mapping, Output, Plan, Tolerance, load_mapping, parse_mapping, resolve
from checker.testing.values import decimal_text, decimalize, read_flag, read_number
from dsl import Spec, ir

__all__ = ["ConformError", "ConformResult", "Difference", "Mismatch", "assert_case", "assert_conforms", "conform"]

DEFAULT_EXAMPLES = 200
DEFAULT_TIMEOUT = 5.0  # seconds per case: a safety net against a hung implementation, not a verdict


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

    @property
    def ok(self) -> bool:
        return self.mismatch is None

    def report(self) -> str:
        """The human report (what `solvent conform` prints)."""
        from checker.testing.conform_report import render

        return render(self)


def conform(
    spec: Spec | str | Path,
    impl: Callable[[dict[str, Any]], Any] | str | Implementation | None = None,
    *,
    impl_cmd: str | list[str] | None = None,
    mapping: Mapping | AnyMapping[str, Any] | str | Path | None = None,
    tolerance: AnyMapping[str, Any] | None = None,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    strategies: Any = None,
) -> ConformResult:
    """Test `impl` (a callable, `module:function`, `file.py:function`) or `impl_cmd` (a JSON-lines program)
    against `spec` on boundary then generated cases; a `ConformResult`, or `ConformError` on bad input.

    `mapping` is a TOML file's path, a dict of the same shape, or a parsed `Mapping`; `tolerance`
    (spec name -> "0.01" or {"below": ..., "above": ...}) is laid over the mapping's. `strategies`, the
    spec's `checker.strategies(spec)` when the caller has it already, saves computing the boundary points again.
    """
    loaded = _spec(spec)
    parsed, plan = _plan(loaded, mapping, tolerance)
    adapter = _adapter(impl, impl_cmd, timeout)
    runner = _Runner(loaded, plan, adapter)
    try:
        from checker.testing.strategies import strategies as make

        s = strategies if strategies is not None else make(loaded)
        boundary = runner.unique(runner.prepare(pt) for pt in s.boundary)
        first, tried_boundary = None, 0
        for number, pt in enumerate(boundary, 1):
            tried_boundary = number
            found = runner.run(pt, Case(f"boundary: {pt.label}", number, runner.values(pt)))
            if found:
                first = Mismatch(found[0], found[1], False)
                break
        # Even after a boundary case differs, Hypothesis runs: what it shrinks is often much simpler to read
        # than a solver's point (a mark of 200000001), and the simpler of the two is reported.
        tried, shrunk = _generate(runner, s, examples, seed, tried_boundary)
        return runner.result(parsed, tried_boundary, tried, seed, _simpler(first, shrunk))
    finally:
        adapter.close()


def assert_conforms(spec: Spec | str | Path, impl: Any = None, **options: Any) -> ConformResult:
    """`conform(...)` for a pytest test: an `AssertionError` carrying the report when a case differs."""
    result = conform(spec, impl, **options)
    if not result.ok:
        raise AssertionError(result.report())
    return result


def assert_case(
    spec: Spec | str | Path,
    impl: Any,
    case: AnyMapping[str, Any],
    *,
    impl_cmd: str | list[str] | None = None,
    mapping: Mapping | AnyMapping[str, Any] | str | Path | None = None,
    tolerance: AnyMapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Replay one case (spec name -> value; parameters left out take their defaults) on `impl` and the spec;
    an `AssertionError` with the report when they differ. This is what a mismatch's pytest snippet calls."""
    loaded = _spec(spec)
    parsed, plan = _plan(loaded, mapping, tolerance)
    adapter = _adapter(impl, impl_cmd, timeout)
    runner = _Runner(loaded, plan, adapter)
    try:
        pt = runner.point(case)
        found = runner.run(pt, Case("replayed", 1, runner.values(pt)))
        if found:
            result = runner.result(parsed, 1, 0, 0, Mismatch(found[0], found[1], False))
            raise AssertionError(result.report())
    finally:
        adapter.close()


# ---- the runner ----------------------------------------------------------


class _Bad(BaseException):
    """Bad input inside a Hypothesis run: a BaseException, so that Hypothesis stops at once instead of shrinking."""

    def __init__(self, error: ConformError) -> None:
        super().__init__(str(error))
        self.error = error


class _Found(Exception):
    def __init__(self, case: Case, differences: tuple[Difference, ...]) -> None:
        super().__init__(case.label)
        self.case, self.differences = case, differences


def _generate(runner: _Runner, s: Any, examples: int, seed: int, start: int) -> tuple[int, Mismatch | None]:
    """Hypothesis' cases (`examples` of them, then shrinking on a mismatch): how many were tried, and the mismatch."""
    if examples <= 0:
        return 0, None
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as with_seed
    from hypothesis import strategies as st
    from hypothesis.errors import Flaky, Unsatisfiable

    tried = [0]
    # Plain numbers first: Hypothesis shrinks towards the first branch of `one_of`, and a case of cents and
    # small whole numbers reads better than a solver's point; the biased points (boundary-seeded) follow.
    drawn = st.one_of(s.uniform_points(), s.points())
    points = drawn.map(runner.prepare).filter(lambda pt: pt is not None)

    @with_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(points)
    def one(pt: Point) -> None:
        tried[0] += 1
        case = Case("generated", start + tried[0], runner.values(pt))
        try:
            found = runner.run(pt, case)
        except ConformError as err:
            raise _Bad(err) from None
        if found:
            raise _Found(*found)

    try:
        one()
    except _Bad as bad:
        raise bad.error from None
    except _Found as found:
        return tried[0], Mismatch(found.case, found.differences, True)
    except Unsatisfiable:
        return tried[0], None
    except Flaky:
        raise ConformError(
            "the implementation answered the same case differently on different calls (Hypothesis found its "
            "results flaky); a conformance test needs a deterministic implementation"
        ) from None
    return tried[0], None


class _Runner:
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

        def text(v: Any, scale: Fraction) -> Any:
            if isinstance(v, bool):
                return v
            if isinstance(v, AnyMapping):
                return {a: text(x, scale) for a, x in v.items()}
            out = decimal_text(v / scale)
            assert out is not None, "prepare() made every value a finite decimal; scales are powers of ten"
            return out

        return {n.impl: text(self._value(pt, n.spec), n.scale) for n in self.plan.sent}

    # -- running and comparing

    def run(self, pt: Point, case: Case) -> tuple[Case, tuple[Difference, ...]] | None:
        """Call the implementation on `pt`; the differences beyond tolerance, or None when it conforms."""
        try:
            answer = self.impl(self.request(pt))
            if self.plan.only_returned and not any(out.impl in answer for out in self.plan.outputs):
                got = ", ".join(sorted(map(str, answer))) or "nothing"
                raise ImplError(
                    f"returned none of the spec's lets and roles (it returned: {got}); name its outputs in a "
                    "mapping (spec/conformance.md §3)"
                )
            differences = tuple(d for out in self.plan.outputs for d in self._compare(out, pt, answer))
        except ImplError as err:
            raise ConformError(_bad_case(self.impl.name, case, str(err))) from None
        return (case, differences) if differences else None

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
        return ConformResult(self.spec.source.path, self.impl.name, path, boundary, generated, seed, m)


# ---- helpers -------------------------------------------------------------


def _spec(spec: Spec | str | Path) -> Spec:
    if isinstance(spec, Spec):
        return spec
    import dsl

    return dsl.load(spec)


def _plan(
    spec: Spec, mapping: Mapping | AnyMapping[str, Any] | str | Path | None, tolerance: AnyMapping[str, Any] | None
) -> tuple[Mapping, Plan]:
    match mapping:
        case None:
            parsed = Mapping()
        case Mapping():
            parsed = mapping
        case str() | Path():
            parsed = load_mapping(mapping)
        case _:
            parsed = parse_mapping(mapping)
    if tolerance:
        extra = parse_mapping({"tolerance": dict(tolerance)})
        merged = dict(parsed.tolerance) | dict(extra.tolerance)
        compare = tuple(parsed.compare) + tuple(n for n in merged if n not in parsed.compare)
        parsed = dataclasses.replace(parsed, tolerance=tuple(merged.items()), compare=compare)
    plan = resolve(parsed, spec)
    if not plan.outputs:  # nothing declared: every spec output the implementation returns, under its own name
        every = resolve(dataclasses.replace(parsed, compare=tuple(spec.engine.NAMES)), spec)
        plan = dataclasses.replace(every, only_returned=True)
    return parsed, plan


def _adapter(impl: Any, impl_cmd: str | list[str] | None, timeout: float) -> Implementation:
    if (impl is None) == (impl_cmd is None):
        raise ConformError("give the implementation either as a Python function (--impl) or a command (--impl-cmd)")
    if not timeout > 0:
        raise ConformError(f"the per-case time limit must be positive, not {timeout}")
    try:
        if impl_cmd is not None:
            return jsonlines_impl(impl_cmd, timeout)
        if isinstance(impl, str) or (callable(impl) and not hasattr(impl, "close")):
            return python_impl(impl, timeout)
    except ImplError as err:
        raise ConformError(str(err)) from None
    adapter: Implementation = impl
    return adapter


def _simpler(a: Mismatch | None, b: Mismatch | None) -> Mismatch | None:
    """The mismatch whose input is written with fewer characters (`a`, the earlier one, on a tie)."""
    if a is None or b is None:
        return a or b
    return b if _size(b.case) < _size(a.case) else a


def _size(case: Case) -> int:
    def chars(v: Any) -> int:
        if isinstance(v, AnyMapping):
            return sum(chars(x) for x in v.values())
        return 1 if isinstance(v, bool) else len(decimal_text(v) or str(v))

    return sum(chars(v) for _, impl, v in case.values if impl)


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
