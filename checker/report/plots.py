"""The exact data behind a check report's plots, evaluated on the spec's compiled engine.

`price_plots` takes a single-state counterexample (the JSON of
`Counterexample.to_json`) and, for each price-like input of the spec (every
input, each asset of a per-asset one), evaluates equity and the requirement
roles (`dsl.ir.AMOUNT_ROLES`, and their account copies `equity#2` ...) at
many points of a window around the counterexample's value, holding the rest
of the state fixed. Every value is a `Fraction` computed by the engine; floats
appear only in `checker.report.html`, where the points are handed to the
plot. The points where equity crosses maintenance are found exactly: a sign
change between two samples is narrowed by bisection, and on each bracket the
straight line through its ends is tried, which is the root itself wherever
the formulas are linear there (every engine call is exact, so a root is
reported as exact only when the engine says equity == maintenance there). A
jump across zero (a tier boundary) has no root: its bracket is reported.

`trace_plot` takes a multi-step counterexample (BMC, induction, search) and
gives each numeric state, input and role over the steps, the roles evaluated
again on the engine.

A point where a formula is undefined (division by zero, a table gap) or
outside the inputs' `where` is skipped and counted, never raised.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dsl import ir
from dsl.numbers import exact_number

SAMPLES = 200  # intervals of the window; the counterexample's value and the crossings are added exactly
MAX_PLOTS = 6  # price plots per check: inputs x states beyond this are left out, and the report says so
_BISECTIONS = 64

Num = Fraction | None  # None: undefined at that point


@dataclass(frozen=True, slots=True)
class Curve:
    """One named quantity at the points where it is defined: `ys[i]` at `xs[i]`, exactly."""

    name: str
    xs: tuple[Fraction, ...]
    ys: tuple[Fraction, ...]


@dataclass(frozen=True, slots=True)
class Crossing:
    """Where `equity` crosses `maintenance` (`account` "" or "#2"): exactly at `at` when `exact`;
    otherwise (a jump across, or a root the bisection did not land on) somewhere in [lo, hi]."""

    account: str
    at: Fraction
    exact: bool
    lo: Fraction
    hi: Fraction


@dataclass(frozen=True, slots=True)
class PricePlot:
    """The roles against one input (`price[WETH]`) around state `state_label` of a counterexample."""

    input: str
    state_label: str
    at: Fraction  # the counterexample's value of the input
    curves: tuple[Curve, ...]
    crossings: tuple[Crossing, ...]
    skipped: tuple[str, ...]  # why points are missing ("12 points: division by zero ...")


@dataclass(frozen=True, slots=True)
class TracePlot:
    """A trace's numeric states, inputs and roles over its steps (x = step index)."""

    labels: tuple[str, ...]
    states: tuple[Curve, ...]
    inputs: tuple[Curve, ...]
    roles: tuple[Curve, ...]
    skipped: tuple[str, ...]


class Unplottable(Exception):
    """The counterexample cannot be rebuilt on the engine (the spec changed since the check ran)."""


def is_trace(cex: Mapping[str, Any]) -> bool:
    """A multi-step run (`init`, `1: trade`, ...) rather than one or two independent states."""
    labels = [str(s.get("label", "")) for s in cex.get("steps", [])]
    return bool(labels) and (labels[0] == "init" or any(re.match(r"\d+: ", label) for label in labels))


def _num(value: object) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        return {k: _num(v) for k, v in value.items()}
    return exact_number(str(value))  # the capped reader: a number from a file cannot be a billion digits


def role_names(program: ir.Program, eng: Any) -> list[str]:
    """The amount roles the spec declares, each followed by its account copies (`equity#2`)."""
    declared = [r for r in ir.AMOUNT_ROLES if program.role(r) is not None]
    names = list(eng.NAMES)
    copies = [n for n in names if "#" in n and n.split("#", 1)[0] in declared]
    return declared + sorted(copies, key=lambda n: (int(n.split("#", 1)[1]) if n.split("#", 1)[1].isdigit() else 0, n))


class _Model:
    """The counterexample's parameters on the engine, and its states as engine values."""

    def __init__(self, eng: Any, cex: Mapping[str, Any]) -> None:
        self.eng = eng
        try:
            self.params = eng.Params(**{eng.FIELDS[k]: _num(v) for k, v in cex["params"].items()})
        except (ValueError, TypeError, KeyError, ArithmeticError) as err:
            raise Unplottable(f"its parameters do not fit the spec as it is now ({err})") from None

    def build(self, cls: Any, values: Mapping[str, Any]) -> Any:
        try:
            return cls(**{self.eng.FIELDS[k]: _num(v) for k, v in values.items()})
        except (ValueError, TypeError, KeyError, ArithmeticError) as err:
            raise Unplottable(f"its state does not fit the spec as it is now ({err})") from None

    def value(self, name: str, state: Any, inputs: Any) -> Num:
        """`name` (a let) exactly, or None where it is undefined or not a number."""
        try:
            v = getattr(self.eng, self.eng.NAMES[name])(self.params, state, inputs)
        except self.eng.UndefinedError:
            return None
        return v if isinstance(v, Fraction) else None

    def where(self, state: Any, inputs: Any) -> bool:
        try:
            return bool(self.eng.where_holds(self.params, state, inputs))
        except self.eng.UndefinedError:
            return False


def _input_axes(eng: Any, inputs: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    """(shown name, input name, asset) for each numeric input component the counterexample gives."""
    axes: list[tuple[str, str, str | None]] = []
    for name, value in inputs.items():
        if name not in eng.FIELDS or isinstance(value, bool):
            continue
        if isinstance(value, Mapping):
            axes += [(f"{name}[{a}]", name, a) for a, v in value.items() if not isinstance(v, bool)]
        else:
            axes.append((name, name, None))
    return axes


def price_plots(program: ir.Program, eng: Any, cex: Mapping[str, Any]) -> tuple[list[PricePlot], list[str]]:
    """The roles against each input around each independent state of a single-state counterexample.

    Returns the plots and notes (plots left out, nothing to plot). Raises `Unplottable` when the
    counterexample no longer fits the spec.
    """
    model = _Model(eng, cex)
    roles = role_names(program, eng)
    notes: list[str] = []
    if not roles:
        return [], ["the spec declares no margin role that is an amount (equity, initial, maintenance)"]
    plots: list[PricePlot] = []
    wanted = 0
    for step in cex["steps"]:
        label = str(step.get("label", ""))
        if label.startswith(("after ", "then ")):
            continue  # the result of an action on the state before it: not an independent state
        state = model.build(eng.State, step["state"])
        inputs = model.build(eng.Inputs, step["inputs"])
        for shown, name, asset in _input_axes(eng, step["inputs"]):
            wanted += 1
            if len(plots) < MAX_PLOTS:
                plots.append(_price_plot(model, roles, state, inputs, label, shown, name, asset))
    if wanted > len(plots):
        notes.append(f"{wanted - len(plots)} more input plots left out (at most {MAX_PLOTS} per check)")
    if wanted == 0:
        notes.append("the counterexample has no numeric input to plot against")
    return plots, notes


def _price_plot(
    model: _Model, roles: Sequence[str], state: Any, inputs: Any, label: str, shown: str, name: str, asset: str | None
) -> PricePlot:
    field = model.eng.FIELDS[name]
    current = getattr(inputs, field)
    x0 = Fraction(current[asset] if asset is not None else current)

    def at(x: Fraction) -> Any:
        value: Any = {**current, asset: x} if asset is not None else x
        return dataclasses.replace(inputs, **{field: value})

    def gap(account: str) -> Callable[[Fraction], Num]:
        def g(x: Fraction) -> Num:
            moved = at(x)
            if not model.where(state, moved):
                return None
            e, m = model.value("equity" + account, state, moved), model.value("maintenance" + account, state, moved)
            return None if e is None or m is None else e - m

        return g

    accounts = [r.removeprefix("equity") for r in roles if r.startswith("equity") and "maintenance" + r[6:] in roles]
    root = _secant(gap(accounts[0]), x0) if accounts else None
    lo, hi = _window(x0, root)
    xs = sorted(
        {lo + (hi - lo) * i / SAMPLES for i in range(SAMPLES + 1)} | {x0} | ({root} if root is not None else set())
    )
    outside = undefined = 0
    values: dict[str, list[tuple[Fraction, Fraction]]] = {r: [] for r in roles}
    for x in xs:
        moved = at(x)
        if not model.where(state, moved):
            outside += 1
            continue
        for r in roles:
            v = model.value(r, state, moved)
            if v is None:
                undefined += 1
            else:
                values[r].append((x, v))
    crossings: list[Crossing] = []
    for account in accounts:
        crossings += _crossings(gap(account), xs, account)
    skipped = []
    if outside:
        skipped.append(f"{outside} of {len(xs)} points skipped: outside the `where` of the inputs")
    if undefined:
        skipped.append(f"{undefined} role values skipped: undefined there (division by zero or a table gap)")
    curves = tuple(Curve(r, tuple(x for x, _ in values[r]), tuple(v for _, v in values[r])) for r in roles)
    return PricePlot(shown, label, x0, curves, tuple(crossings), tuple(skipped))


def _secant(g: Callable[[Fraction], Num], x0: Fraction) -> Fraction | None:
    """A point near where g is zero, found from x0 by the secant method (to choose the window only)."""
    a = x0
    b = x0 + (abs(x0) / 100 if x0 else Fraction(1, 100))
    ga, gb = g(a), g(b)
    for _ in range(30):
        if ga is None or gb is None or ga == gb:
            return None
        if gb == 0:
            return b
        c = b - gb * (b - a) / (gb - ga)
        if c.denominator > 10**40:  # a curved formula: close enough to place the window
            c = c.limit_denominator(10**12)
        a, ga, b, gb = b, gb, c, g(c)
        if abs(b - a) <= abs(b) / 10**9:
            return b if gb is not None else None
    return None


def _window(x0: Fraction, root: Fraction | None) -> tuple[Fraction, Fraction]:
    """The plotted range: around x0, wide enough to show the crossing when there is one."""
    if root is None or root == x0:
        half = abs(x0) / 2 if x0 else Fraction(1)
        lo, hi = x0 - half, x0 + half
    else:
        lo, hi = min(x0, root), max(x0, root)
        pad = (hi - lo) / 4
        lo, hi = (lo - pad if lo - pad > 0 or lo <= 0 else lo / 2), hi + pad
    return lo, hi


def _crossings(g: Callable[[Fraction], Num], xs: Sequence[Fraction], account: str) -> list[Crossing]:
    """Every sign change of g between neighbouring samples, narrowed to an exact root where one exists."""
    found: list[Crossing] = []
    points = [(x, v) for x in xs if (v := g(x)) is not None]
    for i, (x, v) in enumerate(points):
        if v == 0:
            before = points[i - 1][1] if i > 0 else None
            after = points[i + 1][1] if i + 1 < len(points) else None
            if before != 0 and after != 0:  # an isolated zero, not a stretch where the two are equal
                found.append(Crossing(account, x, True, x, x))
        elif i + 1 < len(points) and points[i + 1][1] != 0 and (v < 0) != (points[i + 1][1] < 0):
            found.append(_narrow(g, x, v, *points[i + 1], account))
    return found


def _narrow(
    g: Callable[[Fraction], Num], a: Fraction, ga: Fraction, b: Fraction, gb: Fraction, account: str
) -> Crossing:
    """The root of g in (a, b), where g changes sign: exact if the engine confirms it, else a bracket."""
    for _ in range(_BISECTIONS):
        line = a - ga * (b - a) / (gb - ga)  # the root itself where g is linear on [a, b]
        if a < line < b and g(line) == 0:
            return Crossing(account, line, True, line, line)
        mid = (a + b) / 2
        gm = g(mid)
        if gm is None:
            break
        if gm == 0:
            return Crossing(account, mid, True, mid, mid)
        if (gm < 0) == (ga < 0):
            a, ga = mid, gm
        else:
            b, gb = mid, gm
    return Crossing(account, (a + b) / 2, False, a, b)


def trace_plot(program: ir.Program, eng: Any, cex: Mapping[str, Any]) -> TracePlot:
    """Each numeric state and input, and each role, over the steps of a trace counterexample.

    States and inputs are the trace's own (exact) values; the roles are evaluated again on the engine,
    from the recorded values where a step cannot be rebuilt on it.
    """
    model = _Model(eng, cex)
    steps = list(cex["steps"])
    labels = tuple(str(s.get("label", "")) for s in steps)
    roles = role_names(program, eng)
    skipped: list[str] = []
    states = _series([s.get("state", {}) for s in steps])
    inputs = _series([s.get("inputs", {}) for s in steps])
    role_points: dict[str, list[tuple[Fraction, Fraction]]] = {r: [] for r in roles}
    undefined = 0
    for i, step in enumerate(steps):
        try:
            state, ins = model.build(eng.State, step["state"]), model.build(eng.Inputs, step["inputs"])
        except Unplottable:
            recorded = {r: step.get("lets", {}).get(r) for r in roles}
            for r, v in recorded.items():
                if v is not None and not isinstance(v, bool | Mapping):
                    role_points[r].append((Fraction(i), exact_number(str(v))))
            skipped.append(f"step {i} ({labels[i]}): rebuilt from the recorded values")
            continue
        for r in roles:
            v = model.value(r, state, ins)
            if v is None:
                undefined += 1
            else:
                role_points[r].append((Fraction(i), v))
    if undefined:
        skipped.append(f"{undefined} role values skipped: undefined there (division by zero or a table gap)")
    role_curves = tuple(Curve(r, tuple(x for x, _ in p), tuple(v for _, v in p)) for r, p in role_points.items())
    return TracePlot(labels, states, inputs, role_curves, tuple(skipped))


def _series(rows: Sequence[Mapping[str, Any]]) -> tuple[Curve, ...]:
    """One curve per numeric name (`debt[WETH]` per asset) over the rows, in first-seen order."""
    points: dict[str, list[tuple[Fraction, Fraction]]] = {}
    for i, row in enumerate(rows):
        for name, value in row.items():
            items = [(f"{name}[{a}]", v) for a, v in value.items()] if isinstance(value, Mapping) else [(name, value)]
            for shown, v in items:
                if isinstance(v, bool) or v is None:
                    continue
                points.setdefault(shown, []).append((Fraction(i), exact_number(str(v))))
    return tuple(Curve(n, tuple(x for x, _ in p), tuple(v for _, v in p)) for n, p in points.items())
