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

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from collections.abc import Mapping as AnyMapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from checker.testing.boundary import Point
from checker.testing.impl import Implementation, ImplError, jsonlines_impl, python_impl
from checker.testing.mapping import Mapping, Plan, load_mapping, parse_mapping, resolve
from checker.testing.runner import Case, ConformError, ConformResult, Difference, Mismatch, Runner
from checker.testing.values import decimal_text
from dsl import Spec

__all__ = ["ConformError", "ConformResult", "Difference", "Mismatch", "assert_case", "assert_conforms", "conform"]

DEFAULT_EXAMPLES = 200
DEFAULT_TIMEOUT = 5.0  # seconds per case: a safety net against a hung implementation, not a verdict


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
    runner = Runner(loaded, plan, adapter)
    try:
        from checker.testing.strategies import strategies as make

        s = strategies if strategies is not None else make(loaded)
        boundary = runner.unique(runner.prepare(pt) for pt in s.boundary)
        first, tried_boundary = None, 0
        for number, pt in enumerate(boundary, 1):
            tried_boundary = number
            args = runner.boundary_args(s, pt)
            found = runner.run(pt, Case(f"boundary: {pt.label}", number, runner.values(pt), args))
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
    args: AnyMapping[str, AnyMapping[str, Any]] | None = None,
) -> None:
    """Replay one case (spec name -> value; parameters left out take their defaults) on `impl` and the spec;
    an `AssertionError` with the report when they differ. This is what a mismatch's pytest snippet calls.
    `args` gives the arguments of compared actions (action -> argument -> value)."""
    loaded = _spec(spec)
    parsed, plan = _plan(loaded, mapping, tolerance)
    adapter = _adapter(impl, impl_cmd, timeout)
    runner = Runner(loaded, plan, adapter)
    try:
        pt = runner.point(case)
        steps = tuple((a, tuple((k, Fraction(v)) for k, v in vs.items())) for a, vs in (args or {}).items())
        found = runner.run(pt, Case("replayed", 1, runner.values(pt), steps))
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


def _generate(runner: Runner, s: Any, examples: int, seed: int, start: int) -> tuple[int, Mismatch | None]:
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
    # Arguments of compared actions: plain cents, small and large (the guard may hold or not: both are tested).
    number = st.one_of(st.integers(-100, 100), st.integers(-(10**8), 10**8)).map(lambda k: Fraction(k, 100))
    with_args = [step for step in runner.plan.steps if step.args]
    arguments = st.tuples(
        *(
            st.tuples(st.just(step.spec), st.tuples(*(st.tuples(st.just(a), number) for _, a in step.args)))
            for step in with_args
        )
    )

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
    @given(points, arguments)
    def one(pt: Point, args: Any) -> None:
        tried[0] += 1
        case = Case("generated", start + tried[0], runner.values(pt), args)
        try:
            found = runner.run(pt, case)
        except ConformError as err:
            raise _Bad(err) from None
        if found:
            raise _Found(*found)

    try:
        with _no_local_constants():
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
        # A tolerance given here also declares its output compared (a state's applies to next states).
        states = {s.name for s in spec.program.states}
        compare = tuple(parsed.compare) + tuple(
            n for n in dict(extra.tolerance) if n not in parsed.compare and n not in states
        )
        parsed = dataclasses.replace(parsed, tolerance=tuple(merged.items()), compare=compare)
    plan = resolve(parsed, spec)
    if (
        not plan.outputs and not plan.steps
    ):  # nothing declared: every spec output the implementation returns, under its own name
        every = resolve(dataclasses.replace(parsed, compare=tuple(spec.engine.NAMES)), spec)
        plan = dataclasses.replace(every, only_returned=True)
    if not plan.outputs and not plan.steps:
        raise ConformError(f"{spec.source.path} has no let, role or action to compare: nothing to test")
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


@contextlib.contextmanager
def _no_local_constants() -> Iterator[None]:
    """Hypothesis without the constants it collects from the source of "local" modules, for one run.

    Hypothesis (6.131 on) sometimes draws a number found in the source of any module loaded from the
    working tree: solvent itself in a checkout, the user's tests, the implementation. A run would then
    depend on which files happen to be loaded and on every edit to them; without them, the same spec,
    implementation and seed give the same cases everywhere (spec/conformance.md §4). Private Hypothesis
    names, used defensively: where they differ, the run goes on with Hypothesis as it is.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:
        yield
        return
    original, cache = getattr(providers, "_get_local_constants", None), getattr(providers, "CONSTANTS_CACHE", None)
    if original is None or cache is None:
        yield
        return
    providers._get_local_constants = Constants  # an empty set of constants
    providers.CONSTANTS_CACHE = type(cache)(1024)  # what was cached holds the local constants: not used here
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE = cache


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
