"""How an implementation's names and units correspond to a spec's, and how close its answers must be.

A mapping is a TOML file (or the same structure as a Python dict), normative
in spec/conformance.md §3:

    fixed = ["liq_fee"]                 # parameters built into the implementation: held at their defaults
    compare = ["liquidatable"]          # outputs compared under the spec's own name
    [names]                             # implementation name = spec name
    mark_price = "mark"
    maint_cents = { spec = "maintenance", scale = "0.01" }   # implementation value * scale = spec value
    [tolerance]                         # by spec name, in the spec's units; exact by default
    equity = "0.01"                     # |implementation - spec| <= 0.01
    maintenance = { above = "0.01" }    # spec <= implementation <= spec + 0.01 (rounded up)

`load_mapping(path)` reads and parses a file; `resolve(mapping, spec)` checks
it against a spec and returns a `Plan`: what is sent, what is compared, with
which tolerance. Every problem is a `SpecError` whose diagnostics point at the
file's line and column (the key or the value at fault), collected together.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from dsl import Spec
from dsl.api import read_source
from dsl.diagnostics import Diagnostic, Severity, SourceFile, Span, SpecError, did_you_mean
from dsl.units import is_numeric

CODE = "conform-mapping"  # the one diagnostic code of a mapping file (spec/conformance.md §3.5)
_KEYS = ("fixed", "compare", "names", "tolerance", "actions")


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far an implementation's value may be from the spec's: `-below <= impl - spec <= above` (closed)."""

    below: Fraction = Fraction(0)
    above: Fraction = Fraction(0)

    def admits(self, difference: Fraction) -> bool:
        """Whether `difference` (implementation minus spec, in spec units) is within the tolerance."""
        return -self.below <= difference <= self.above

    def __str__(self) -> str:
        if self.below == self.above == 0:
            return "exact"
        if self.below == self.above:
            return f"±{_text(self.above)}"
        return f"from -{_text(self.below)} to +{_text(self.above)}"


@dataclass(frozen=True, slots=True)
class Name:
    """One correspondence: the implementation's `impl` is the spec's `spec`, `impl value * scale = spec value`."""

    impl: str
    spec: str
    scale: Fraction = Fraction(1)


@dataclass(frozen=True, slots=True)
class Mapping:
    """A parsed mapping, not yet checked against a spec (see the module docstring)."""

    names: tuple[Name, ...] = ()
    tolerance: tuple[tuple[str, Tolerance], ...] = ()
    fixed: tuple[str, ...] = ()
    compare: tuple[str, ...] = ()
    source: SourceFile | None = None  # the file it was read from, for located errors
    actions: tuple[tuple[str, str], ...] = ()  # (implementation action name, spec action name)


@dataclass(frozen=True, slots=True)
class Output:
    """One compared output: a spec let or role (or `liquidatable`), under the implementation's name."""

    spec: str
    impl: str
    scale: Fraction
    tolerance: Tolerance
    numeric: bool
    indexed: bool
    what: str  # "margin role `maintenance` (rules.margin:88)", "let `notional` (rules.margin:81)"


@dataclass(frozen=True, slots=True)
class Step:
    """One compared action: the implementation's name for it, its arguments (engine keyword -> spec name)."""

    spec: str
    impl: str
    args: tuple[tuple[str, str], ...]  # (the engine function's parameter, the argument's spec name)
    what: str  # "action `liquidate` (rules.margin:124)"


@dataclass(frozen=True, slots=True)
class Plan:
    """A mapping checked against a spec: the values sent (spec name -> `Name`) and the outputs compared."""

    sent: tuple[Name, ...]  # params (not fixed), states and inputs, in the spec's order
    outputs: tuple[Output, ...]  # in the spec's order
    fixed: tuple[str, ...]
    only_returned: bool = False  # nothing declared: compare the spec outputs the implementation returns
    steps: tuple[Step, ...] = ()  # compared actions, in the spec's order
    states: tuple[Name, ...] = ()  # every state variable (a next state's values), with tolerances below
    state_tolerance: tuple[tuple[str, Tolerance], ...] = ()


def load_mapping(path: str | Path) -> Mapping:
    """Read and parse a TOML mapping file; a `SpecError` located in the file when it is malformed."""
    try:
        source = read_source(path)
    except SpecError as err:  # the reader's hints speak of specs; this is the mapping file
        hint = "check the path given to --mapping (a TOML file, spec/conformance.md §3)"
        raise SpecError([dataclasses.replace(d, hint=hint) for d in err.diagnostics]) from None
    return loads_mapping(source.text, source.path)


def loads_mapping(text: str, path: str = "<mapping>") -> Mapping:
    """Parse a mapping given as TOML text, reported under `path`."""
    source = SourceFile(path, text)
    try:
        data = tomllib.loads(source.text, parse_float=Decimal)  # `0.01` unquoted is exact, not a binary float
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        line, col = (int(found[1]), int(found[2])) if found else (1, 1)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) or "invalid TOML"
        raise SpecError(
            [_diag(f"not valid TOML: {message}", _span(source, line, col, 1), "see spec/conformance.md §3")]
        ) from None
    return parse_mapping(data, source)


def parse_mapping(data: AnyMapping[str, Any], source: SourceFile | None = None) -> Mapping:
    """A `Mapping` from a dict shaped like the TOML file; every problem found, as one `SpecError`."""
    errors: list[Diagnostic] = []

    def bad(message: str, table: str, key: str | None, hint: str | None = None) -> None:
        errors.append(_diag(message, _locate(source, table, key), hint))

    if not isinstance(data, AnyMapping):
        raise SpecError([_diag("a mapping is a table (a dict)", None, "see spec/conformance.md §3")])
    for key in data:
        if key not in _KEYS:
            hint = did_you_mean(str(key), _KEYS) or f"the keys are {', '.join(_KEYS)}"
            bad(f"unknown key `{key}`", "", str(key), hint)
    def table(key: str, what: str) -> AnyMapping[str, Any]:
        """The table under `key` (empty when absent); anything else is reported and read as empty."""
        raw = data.get(key, {})
        if isinstance(raw, AnyMapping):
            return raw
        bad(f"`{key}` must be a table: {what}", "", key)
        return {}

    names: list[Name] = []
    for impl, value in table("names", "implementation name = spec name").items():
        if isinstance(value, str):
            names.append(Name(impl, value))
        elif isinstance(value, AnyMapping) and set(value) <= {"spec", "scale"} and isinstance(value.get("spec"), str):
            scale = _number(value.get("scale", 1))
            if scale is None or scale <= 0 or not _power_of_ten(scale):
                bad(f'the scale of `{impl}` must be a power of ten, e.g. "0.01" for cents', "names", impl)
                continue
            names.append(Name(impl, value["spec"], scale))
        else:
            bad(
                f'`{impl}` must name a spec name, or be {{ spec = "...", scale = "..." }}',
                "names",
                impl,
                'e.g. maint_cents = { spec = "maintenance", scale = "0.01" }',
            )
    tolerance: list[tuple[str, Tolerance]] = []
    for name, value in table("tolerance", "spec name = tolerance").items():
        tol = _tolerance(value)
        if tol is None:
            bad(
                f'the tolerance of `{name}` must be a number >= 0, or {{ below = "...", above = "..." }}',
                "tolerance",
                name,
                'e.g. equity = "0.01" (either side) or maintenance = { above = "0.01" } (rounded up)',
            )
        else:
            tolerance.append((name, tol))
    actions: list[tuple[str, str]] = []
    for impl, value in table("actions", "implementation action name = spec action name").items():
        if isinstance(value, str):
            actions.append((impl, value))
        else:
            bad(f"`{impl}` must name an action of the spec", "actions", impl, 'e.g. liquidate = "liquidate"')
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("fixed", "compare"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            bad(f"`{key}` must be a list of spec names", "", key)
            value = []
        lists[key] = tuple(value)
    if errors:
        raise SpecError(errors)
    return Mapping(tuple(names), tuple(tolerance), lists["fixed"], lists["compare"], source, tuple(actions))


def resolve(mapping: Mapping, spec: Spec) -> Plan:
    """Check `mapping` against `spec`: every name known, each in its place; the `Plan` it describes."""
    program, src = spec.program, mapping.source
    errors: list[Diagnostic] = []
    sendable = {p.sym.name: p.sym for p in program.params} | {s.name: s for s in (*program.states, *program.inputs)}
    outputs = {let.sym.name: let for let in program.lets}
    known = [*sendable, *outputs]

    def unknown(name: str, table: str, key: str | None, value: str | None = None) -> None:
        hint = did_you_mean(name, known) or "see `solvent compile` for the spec's names"
        errors.append(
            _diag(
                f"`{name}` is not a parameter, state, input, let or role of the spec",
                _locate(src, table, key, value),
                hint,
            )
        )

    by_spec: dict[str, Name] = {}
    seen_impl: set[str] = set()
    for n in mapping.names:
        if n.spec not in sendable and n.spec not in outputs:
            unknown(n.spec, "names", n.impl, n.spec)
        elif n.spec in by_spec:
            errors.append(_diag(f"`{n.spec}` is mapped twice", _locate(src, "names", n.impl), None))
        elif n.impl in seen_impl:
            errors.append(_diag(f"implementation name `{n.impl}` is used twice", _locate(src, "names", n.impl), None))
        else:
            by_spec[n.spec] = n
            seen_impl.add(n.impl)
    fixed = []
    params = {p.sym.name for p in program.params}
    for name in mapping.fixed:
        if name not in params:
            hint = did_you_mean(name, params) or "only parameters can be fixed at their defaults"
            errors.append(_diag(f"`{name}` is not a parameter of the spec", _locate(src, "", "fixed", name), hint))
        else:
            fixed.append(name)
    for name in mapping.compare:
        if name not in outputs:
            hint = did_you_mean(name, outputs) or "compare lists lets and roles (and liquidatable)"
            errors.append(_diag(f"`{name}` is not a let or role of the spec", _locate(src, "", "compare", name), hint))
    compared = {n.spec for n in mapping.names if n.spec in outputs} | set(mapping.compare)
    tolerances = dict(mapping.tolerance)
    states = {s.name: s for s in program.states}
    for name in tolerances:
        if name in states and mapping.actions and is_numeric(states[name].ty):
            continue  # a next state's tolerance
        if name not in outputs or name not in compared:
            why = "is not compared" if name in outputs else "is not a let or role of the spec"
            advice = "list it in `compare` or `[names]`" if name in outputs else did_you_mean(name, outputs)
            errors.append(_diag(f"a tolerance for `{name}`, which {why}", _locate(src, "tolerance", name), advice))
        elif not is_numeric(outputs[name].sym.ty):
            errors.append(
                _diag(
                    f"`{name}` is a flag: it is compared exactly, a tolerance cannot apply",
                    _locate(src, "tolerance", name),
                    "remove this line",
                )
            )
    steps = []
    spec_actions = {a.name: a for a in program.actions}
    for impl, name in mapping.actions:
        a = spec_actions.get(name)
        if a is None:
            hint = did_you_mean(name, spec_actions) or "see the spec's `action` declarations"
            errors.append(_diag(f"`{name}` is not an action of the spec", _locate(src, "actions", impl, name), hint))
            continue
        engine_args = spec.engine.ARGS.get(name, {})
        where = f"{a.span.source.path}:{a.span.line}"
        steps.append(
            Step(name, impl, tuple((py, arg) for arg, py in engine_args.items()), f"action `{name}` ({where})")
        )
    if errors:
        raise SpecError(errors)
    sent = tuple(by_spec.get(name, Name(name, name)) for name in sendable if name not in fixed)
    roles = {sym.name: role for role, sym in program.roles}
    out = []
    for name, let in outputs.items():
        if name not in compared:
            continue
        n = by_spec.get(name, Name(name, name))
        role = roles.get(name)
        kind = f"let `{name}`" if role is None else f"margin role `{role}`"
        if role is not None and role != name:
            kind = f"let `{name}` (margin role `{role}`)"
        where = f"{let.span.source.path}:{let.span.line}"
        out.append(
            Output(
                name,
                n.impl,
                n.scale,
                tolerances.get(name, Tolerance()),
                is_numeric(let.sym.ty),
                let.sym.indexed,
                f"{kind} ({where})",
            )
        )
    state_names = tuple(by_spec.get(s.name, Name(s.name, s.name)) for s in program.states)
    state_tol = tuple((n, t) for n, t in tolerances.items() if n in states)
    return Plan(sent, tuple(out), tuple(fixed), False, tuple(steps), state_names, state_tol)


# ---- helpers -------------------------------------------------------------


def _diag(message: str, span: Span | None, hint: str | None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, CODE, message, span, hint=hint)


def _number(value: Any) -> Fraction | None:
    """A mapping number: an int, an exact TOML float (read as Decimal) or a decimal string; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Fraction(value) if not (isinstance(value, Decimal) and not value.is_finite()) else None
    if isinstance(value, str):
        try:
            return Fraction(value.strip().replace("_", "")) if len(value) <= 100 else None
        except (ValueError, ZeroDivisionError):
            return None
    return None


def _tolerance(value: Any) -> Tolerance | None:
    if isinstance(value, AnyMapping):
        if not value or not set(value) <= {"below", "above"}:
            return None
        below, above = _number(value.get("below", 0)), _number(value.get("above", 0))
        if below is None or above is None or below < 0 or above < 0:
            return None
        return Tolerance(below, above)
    both = _number(value)
    return Tolerance(both, both) if both is not None and both >= 0 else None


def _power_of_ten(x: Fraction) -> bool:
    n, d = x.numerator, x.denominator
    return (n == 1 and _is_power_of_ten(d)) or (d == 1 and _is_power_of_ten(n))


def _is_power_of_ten(k: int) -> bool:
    while k % 10 == 0:
        k //= 10
    return k == 1


def _text(x: Fraction) -> str:
    from checker.testing.values import show

    return show(x)


def _span(source: SourceFile, line: int, col: int, width: int) -> Span:
    return Span(source, line, col, line, col + max(1, width))


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-\"' .]+?)\s*\]\s*(#.*)?$")


def _locate(source: SourceFile | None, table: str, key: str | None, value: str | None = None) -> Span | None:
    """Where `key` (in `[table]`, "" for the top level) is written, or `value` on its line; None if not found.

    A light scan, not a TOML parser: enough to point at the line a person wrote (keys are found bare or
    quoted at the start of a line, or inside an inline table of `table`).
    """
    if source is None or key is None:
        return None
    current = ""
    for number in range(1, source.line_count + 1):
        line = source.line(number)
        header = _HEADER.match(line)
        if header:
            current = header[1].strip().strip("\"'")
            continue
        if current != table:
            continue
        found = re.match(rf"^(\s*)([\"']?){re.escape(key)}\2\s*=", line)
        if found:
            if value is not None:
                at = line.find(f'"{value}"', found.end())
                if at < 0:
                    at = line.find(f"'{value}'", found.end())
                if at >= 0:
                    return _span(source, number, at + 1, len(value) + 2)
            col = len(found[1]) + 1
            return _span(source, number, col, len(key) + 2 * len(found[2]))
    return None
