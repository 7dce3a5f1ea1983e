"""Random well-typed specs, and random points to evaluate them at, for the differential test.

`specs()` is a Hypothesis strategy for whole `.margin` sources built by a small
typed generator: every expression is drawn for a wanted unit (`USD`, `BTC`,
`USD/BTC`, `rate`) or as a condition, so nearly every spec it draws checks.
A spec has parameters (ranged, pinned, per-asset with a map default), `assume`s,
states and inputs (some per-asset, some with a `where`), tables (one or several
result columns, half-open brackets with `-inf`/`inf`, and deliberate gaps and
overlaps), lets (typed, inferred, conditions, per-asset, tuple lets of a table),
the margin roles, actions (arguments, guards, local lets, scalar, per-asset and
bound updates, `forced`), env moves, `init`, `conserved`, `invariant` and
`property`. Expressions use every operator of the language: `+ - * /`, unary
`-`, `abs`, `min`, `max`, `if`, the six comparisons, `and`/`or`/`implies`/`not`,
`==` between conditions, `round_down`/`round_up` with literal or computed
steps, table lookups, `sum`/`all`/`any` over `assets`, and number literals
written plain, with `_`, with an exponent or as a percentage.

Partial operations are generated on purpose: divisors, rounding steps and
table arguments are ordinary expressions, and `points()` draws values from a
pool that contains zero, the spec's own literals and its table edges, so that
divisions by zero, non-positive steps and lookups in a gap really happen.

`points(info)` draws parameters inside their declared ranges (the engine's
`Params` refuses others), any states and inputs, action arguments, and for
each env move a way to choose each variable relative to its range (at a bound,
inside, just outside), resolved by the caller once the bounds are known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from dsl.printer import number_to_source

Draw = Callable[[st.SearchStrategy[Any]], Any]

USD, BTC, PX, RATE, BOOL = "USD", "BTC", "USD/BTC", "rate", "bool"
UNITS = (USD, BTC, PX, RATE)
ASSET_NAMES = ("AA", "BB", "CC")
CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")

# Literal magnitudes (all finite decimals, so every one has a literal).
MAGNITUDES = tuple(
    Fraction(x)
    for x in [
        "0",
        "1",
        "2",
        "3",
        "5",
        "10",
        "100",
        "1000",
        "50000",
        "0.5",
        "0.25",
        "0.1",
        "0.01",
        "0.005",
        "1.5",
        "2.5",
        "0.0001",
        "7",
        "12.5",
    ]
)


@dataclass(frozen=True)
class Name:
    """A value a generated expression may read."""

    name: str
    unit: str  # one of UNITS, or BOOL
    indexed: bool = False


@dataclass(frozen=True)
class TableInfo:
    name: str
    arg: str
    results: tuple[str, ...]
    edges: tuple[Fraction, ...]
    rows: tuple[tuple[Fraction | None, Fraction | None], ...] = ()  # each row's bounds (None: infinite)


@dataclass(frozen=True)
class ParamInfo:
    name: str
    indexed: bool
    lo: Fraction | None
    hi: Fraction | None
    pinned: bool
    default: Fraction | dict[str, Fraction]


@dataclass
class SpecInfo:
    """What `points()` needs to know about a generated spec."""

    assets: tuple[str, ...]
    params: list[ParamInfo] = field(default_factory=list)
    states: list[Name] = field(default_factory=list)
    inputs: list[Name] = field(default_factory=list)
    actions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # action -> its arguments' names
    envs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # env move -> choice keys (`x`, `x[AA]`)
    literals: set[Fraction] = field(default_factory=set)  # every number the spec writes, table edges included


@dataclass(frozen=True)
class GeneratedSpec:
    text: str
    info: SpecInfo


@dataclass(frozen=True)
class Point:
    """Values for one evaluation: parameters, state, inputs, action arguments, env choice modes."""

    params: dict[str, Any]
    state: dict[str, Any]
    inputs: dict[str, Any]
    args: dict[str, tuple[Fraction, ...]]
    env_modes: dict[str, dict[str, tuple[str, Fraction]]]  # env -> key -> (mode, fallback value)


# ---- expressions -----------------------------------------------------------------


@dataclass
class Scope:
    values: list[Name]
    tables: list[TableInfo]  # single-result tables callable in an expression
    assets: tuple[str, ...]
    bound: tuple[str, ...] = ()

    def with_bound(self, var: str) -> Scope:
        return Scope(self.values, self.tables, self.assets, (*self.bound, var))

    def leaves(self, unit: str) -> list[Name]:
        return [n for n in self.values if n.unit == unit and (not n.indexed or self.assets)]

    def typed(self) -> dict[str, int]:
        """Units an exact expression can have in this scope, with a rank: 0 a leaf, n derived in n steps."""
        rank = {u: 0 for u in UNITS if self.leaves(u) or any(t.results[0] == u for t in self.tables)}
        derive = {USD: (BTC, PX), BTC: (USD, PX), PX: (USD, BTC)}
        changed = True
        while changed:
            changed = False
            for u, (a, b) in derive.items():
                if u not in rank and a in rank and b in rank:
                    rank[u] = max(rank[a], rank[b]) + 1
                    changed = True
            if RATE not in rank and rank:
                rank[RATE] = min(rank.values()) + 1
                changed = True
        return rank


_SAMPLED: dict[tuple[object, ...], st.SearchStrategy[Any]] = {}


def sampled(options: Sequence[Any]) -> st.SearchStrategy[Any]:
    """`st.sampled_from(options)`, made once per tuple of options: Hypothesis validates every new
    strategy on its first draw, and building one per pick was a quarter of test_differential's time."""
    options = tuple(options)
    key = tuple((type(o), o) for o in options)  # by type too: 1 and True are equal keys
    try:
        made = _SAMPLED.get(key)
    except TypeError:  # an unhashable option
        return st.sampled_from(options)
    if made is None:
        made = _SAMPLED[key] = st.sampled_from(options)
    return made


class Gen:
    """Draws source text for expressions; remembers every literal it writes."""

    def __init__(self, draw: Draw, literals: set[Fraction]) -> None:
        self.draw = draw
        self.literals = literals

    def pick(self, options: Any) -> Any:
        return self.draw(sampled(options))

    def chance(self, p: float) -> bool:
        return bool(self.draw(st.integers(0, 99)) < p * 100)

    # ---- literals
    def literal(self, positive: bool = False) -> str:
        value = self.pick([m for m in MAGNITUDES if m > 0] if positive else MAGNITUDES)
        self.literals.add(value)
        style = self.draw(st.integers(0, 5))
        if style == 1 and value.denominator == 1 and value >= 1000:
            digits = str(value.numerator)
            return "_".join(digits[max(0, i - 3) : i] for i in range(len(digits), 0, -3)[::-1])
        if style == 2:
            return number_to_source(value * 100) + "%"
        if style == 3 and value != 0:
            return number_to_source(value * 1000) + "e-3"
        if style == 4 and value != 0:
            return number_to_source(value / 10) + "E+1"
        return number_to_source(value)

    def signed(self, value: Fraction) -> str:
        self.literals.add(abs(value))
        return number_to_source(value)

    def signed_literal(self) -> Fraction:
        value: Fraction = self.pick(MAGNITUDES)
        return -value if self.chance(0.3) else value

    # ---- references
    def ref(self, n: Name, sc: Scope) -> str:
        if not n.indexed:
            return n.name
        if sc.bound and self.chance(0.7):
            return f"{n.name}[{sc.bound[-1]}]"
        return f"{n.name}[{self.pick([*sc.assets, *sc.bound])}]"

    # ---- numeric expressions
    def num(self, unit: str, exact: bool, depth: int, sc: Scope) -> str:
        """An expression of `unit`; when `exact` is false it may also be a bare number."""
        typed = sc.typed()
        if exact and unit not in typed:
            raise AssertionError(f"no exact {unit} expression in this scope")
        if depth <= 0:
            return self.leaf(unit, exact, sc, typed)
        d = depth - 1
        kinds = ["leaf", "add", "add", "neg", "abs", "minmax", "ite", "round", "round"]
        if unit in typed:  # otherwise only a bare number can stand for `unit`, and `* rate` would change it
            kinds += ["scale", "divide", "divide"]
        if unit in (USD, BTC, PX) and all(u in typed for u in UNITS if u not in (unit, RATE)):
            kinds += ["convert", "convert"]
        if unit == RATE:
            kinds += ["ratio"]
        if sc.assets:
            kinds += ["sum"]
        if any(t.results[0] == unit for t in sc.tables):
            kinds += ["table", "table"]
        cells = self.cells(unit, sc)
        if cells:
            kinds += ["cell"]
        kind = self.pick(kinds)
        if kind == "leaf":
            return self.leaf(unit, exact, sc, typed)
        if kind == "add":
            a, b = self.num(unit, exact, d, sc), self.num(unit, False, d, sc)
            a, b = (a, b) if self.chance(0.5) else (b, a)
            return f"({a} {self.pick('+-')} {b})"
        if kind == "neg":
            return f"(-{self.num(unit, exact, d, sc)})"
        if kind == "abs":
            return f"abs({self.num(unit, exact, d, sc)})"
        if kind == "minmax":
            args = [self.num(unit, exact, d, sc)] + [self.num(unit, False, d, sc) for _ in range(self.pick([1, 1, 2]))]
            args = self.draw(st.permutations(args))
            return f"{self.pick(['min', 'max'])}({', '.join(args)})"
        if kind == "ite":
            c = self.cond(d, sc)
            a, b = self.num(unit, exact, d, sc), self.num(unit, False, d, sc)
            a, b = (a, b) if self.chance(0.5) else (b, a)
            return f"(if {c} then {a} else {b})"
        if kind == "round":
            x = self.num(unit, exact, d, sc)
            choice = self.draw(st.integers(0, 9))
            if choice < 5:
                step = self.literal(positive=True)
            elif choice < 6:
                step = self.pick(["0", "(-1)", "(-0.5)"])  # never valid: the engine must raise
            elif choice < 8 and unit in typed:
                step = f"(abs({self.num(unit, False, d - 1, sc)}) + {self.literal(positive=True)})"
            else:
                step = self.num(unit, False, d - 1, sc)  # may be zero or negative at a point
            return f"{self.pick(['round_down', 'round_up'])}({x}, {step})"
        if kind == "scale":
            x = self.num(unit, exact or unit != RATE, d, sc)
            r = self.num(RATE, False, d, sc)
            return f"({x} * {r})" if self.chance(0.5) else f"({r} * {x})"
        if kind == "divide":
            x = self.num(unit, exact or unit != RATE, d, sc)
            r = self.num(RATE, False, d, sc) if self.chance(0.5) else self.ratio(typed, d, sc)
            if self.chance(0.3):
                r = f"(abs({r}) + {self.literal(positive=True)})"
            return f"({x} / {r})"
        if kind == "convert":
            if unit == USD:
                a, b = self.num(BTC, True, d, sc), self.num(PX, True, d, sc)
                return f"({a} * {b})" if self.chance(0.5) else f"({b} * {a})"
            if unit == BTC:
                return f"({self.num(USD, True, d, sc)} / {self.num(PX, True, d, sc)})"
            return f"({self.num(USD, True, d, sc)} / {self.num(BTC, True, d, sc)})"
        if kind == "ratio":
            return self.ratio(typed, d, sc)
        if kind == "cell":
            return self.pick(cells)
        if kind == "sum":
            var = f"i{len(sc.bound)}"
            return f"sum({var} in assets: {self.num(unit, exact, d, sc.with_bound(var))})"
        table = self.pick([t for t in sc.tables if t.results[0] == unit])
        return f"{table.name}({self.num(table.arg, False, d, sc)})"

    def cells(self, unit: str, sc: Scope) -> list[str]:
        """Row cells of `unit`: `t[k].value` of a table returning it, `t[k].lower`/`.upper` of one keyed by it."""
        out = []
        for t in sc.tables:
            for k, (lo, hi) in enumerate(t.rows, start=1):
                if t.results[0] == unit:
                    out.append(f"{t.name}[{k}].value")
                if t.arg == unit:
                    out += [f"{t.name}[{k}].{b}" for b, v in (("lower", lo), ("upper", hi)) if v is not None]
        return out

    def ratio(self, typed: dict[str, int], depth: int, sc: Scope) -> str:
        """A rate made of two quantities of one unit (its divisor is often a per-asset value)."""
        other = self.pick(sorted(typed))
        return f"({self.num(other, True, depth, sc)} / {self.num(other, True, depth, sc)})"

    def leaf(self, unit: str, exact: bool, sc: Scope, typed: dict[str, int]) -> str:
        names = sc.leaves(unit)
        if not exact and (not names or self.chance(0.3)):
            return self.literal()
        indexed = [n for n in names if n.indexed]
        if sc.bound and indexed and self.chance(0.6):
            names = indexed  # under a bound variable, read what varies with it
        if names:
            return self.ref(self.pick(names), sc)
        tables = [t for t in sc.tables if t.results[0] == unit]
        if tables:
            t = self.pick(tables)
            return f"{t.name}({self.leaf(t.arg, False, sc, typed)})"
        # No name of this unit: derive it from units of lower rank.
        if unit == RATE:
            other = min((u for u in typed if u != RATE), key=typed.__getitem__)
            return f"({self.leaf(other, True, sc, typed)} / {self.leaf(other, True, sc, typed)})"
        if unit == USD:
            return f"({self.leaf(BTC, True, sc, typed)} * {self.leaf(PX, True, sc, typed)})"
        if unit == BTC:
            return f"({self.leaf(USD, True, sc, typed)} / {self.leaf(PX, True, sc, typed)})"
        return f"({self.leaf(USD, True, sc, typed)} / {self.leaf(BTC, True, sc, typed)})"

    # ---- conditions
    def cond(self, depth: int, sc: Scope) -> str:
        bools = sc.leaves(BOOL)
        if depth <= 0:
            choice = self.draw(st.integers(0, 9))
            if choice == 0:
                return self.pick(["true", "false"])
            if choice < 3 and bools:
                return self.ref(self.pick(bools), sc)
            return self.compare(0, sc)
        d = depth - 1
        kinds = ["cmp", "cmp", "cmp", "not", "and", "or", "implies", "ite", "booleq"]
        if sc.assets:
            kinds += ["quant"]
        if bools:
            kinds += ["let"]
        kind = self.pick(kinds)
        if kind == "cmp":
            return self.compare(d, sc)
        if kind == "let":
            return self.ref(self.pick(bools), sc)
        if kind == "not":
            return f"(not {self.cond(d, sc)})"
        if kind == "ite":
            return f"(if {self.cond(d, sc)} then {self.cond(d, sc)} else {self.cond(d, sc)})"
        if kind == "booleq":
            return f"({self.cond(d, sc)} {self.pick(['==', '!='])} {self.cond(d, sc)})"
        if kind == "quant":
            var = f"i{len(sc.bound)}"
            return f"{self.pick(['all', 'any'])}({var} in assets: {self.cond(d, sc.with_bound(var))})"
        return f"({self.cond(d, sc)} {kind} {self.cond(d, sc)})"

    def compare(self, depth: int, sc: Scope) -> str:
        typed = sc.typed()
        unit = self.pick(sorted(typed)) if typed else RATE
        a = self.num(unit, unit in typed, depth, sc)
        b = self.num(unit, False, depth, sc)
        a, b = (a, b) if self.chance(0.5) else (b, a)
        return f"({a} {self.pick(CMP_OPS)} {b})"


# ---- whole specs --------------------------------------------------------------------


def _table(g: Gen, name: str, arg: str, results: tuple[str, ...]) -> tuple[list[str], TableInfo]:
    """Rows over sorted edges; often covering the line, sometimes with a gap or an overlap."""
    edges = sorted({g.signed_literal() for _ in range(g.draw(st.integers(1, 4)))})
    lows: list[Fraction | None] = [None if g.chance(0.6) else edges[0] - 1, *edges]
    highs: list[Fraction | None] = [*edges, None if g.chance(0.6) else edges[-1] + 1]
    rows = list(zip(lows, highs, strict=True))
    if len(rows) > 1 and g.chance(0.2):
        del rows[g.draw(st.integers(0, len(rows) - 1))]  # a gap (or a shorter range)
    if g.chance(0.15):
        lo, hi = rows[g.draw(st.integers(0, len(rows) - 1))]
        wider_hi = None if hi is None else hi + 1
        rows.insert(g.draw(st.integers(0, len(rows))), (lo, wider_hi))  # an overlap: the first bracket wins
    lines = []
    out_edges: set[Fraction] = set()
    for lo, hi in rows:
        out_edges |= {e for e in (lo, hi) if e is not None}
        lo_s = "-inf" if lo is None else g.signed(lo)
        hi_s = "inf" if hi is None else g.signed(hi)
        values = ", ".join(g.signed(g.signed_literal()) for _ in results)
        lines.append(f"    [{lo_s}, {hi_s}) -> {values}")
    result = results[0] if len(results) == 1 else f"({', '.join(results)})"
    head = f"table {name}(n: {arg}) -> {result}:"
    return [head, *lines], TableInfo(name, arg, results, tuple(sorted(out_edges)), tuple(rows))


def _param(g: Gen, name: str, unit: str, assets: tuple[str, ...]) -> tuple[str, ParamInfo]:
    indexed = bool(assets) and g.chance(0.3)
    pinned = g.chance(0.25)
    lo: Fraction | None = None
    hi: Fraction | None = None
    if not pinned:
        a, b = sorted([g.signed_literal(), g.signed_literal()])
        if a == b:
            b = a + 1
        lo = None if g.chance(0.15) else a
        hi = None if g.chance(0.15) else b

    def default() -> Fraction:
        candidates = [v for v in (lo, hi) if v is not None] or [g.signed_literal()]
        if lo is not None and hi is not None:
            candidates.append((lo + hi) / 2 if number_ok((lo + hi) / 2) else lo)
        return Fraction(g.pick(candidates))

    index = "[assets]" if indexed else ""
    value: Fraction | dict[str, Fraction]
    if indexed and g.chance(0.6):
        value = {a: default() for a in assets}
        shown = "{" + ", ".join(f"{a}: {g.signed(v)}" for a, v in value.items()) + "}"
    else:
        single = default()
        value = {a: single for a in assets} if indexed else single
        shown = g.signed(single)
    rng = ""
    if not pinned:
        rng = f" in [{'-inf' if lo is None else g.signed(lo)}, {'inf' if hi is None else g.signed(hi)}]"
    return f"param {name}{index}: {unit} = {shown}{rng}", ParamInfo(name, indexed, lo, hi, pinned, value)


def number_ok(v: Fraction) -> bool:
    try:
        number_to_source(v)
    except ValueError:
        return False
    return True


_NUMBER = re.compile(r"\d+(_\d+)*(\.\d+(_\d+)*)?([eE][+-]?\d+)?%?")


def _ordered(lo: str, hi: str) -> tuple[str, str]:
    """Env bounds, swapped when both are literals in the wrong order (the elaborator refuses those)."""
    if _NUMBER.fullmatch(lo) and _NUMBER.fullmatch(hi):

        def value(t: str) -> Fraction:
            v = Fraction(t.removesuffix("%").replace("_", ""))
            return v / 100 if t.endswith("%") else v

        if value(lo) > value(hi):
            return hi, lo
    return lo, hi


@st.composite
def specs(draw: Draw, max_depth: int = 3) -> GeneratedSpec:
    """A random well-typed spec (source text) and what points need to know about it."""
    literals: set[Fraction] = set()
    g = Gen(draw, literals)
    assets = ASSET_NAMES[: draw(st.sampled_from([0, 1, 2, 2, 3]))]
    info = SpecInfo(assets)
    depth = st.integers(0, max_depth)
    lines = [f'spec "differential {draw(st.integers(0, 10**6))}"', "unit USD, BTC"]
    if assets:
        lines.append(f"assets {', '.join(assets)}")

    # Parameters: p0 is always a scalar rate, so that every scope has a typed rate.
    params: list[Name] = []
    for i in range(draw(st.integers(1, 4))):
        unit = RATE if i == 0 else g.pick(UNITS)
        text, pinfo = _param(g, f"p{i}", unit, assets if i else ())
        lines.append(text)
        info.params.append(pinfo)
        params.append(Name(pinfo.name, unit, pinfo.indexed))

    # States and inputs: s0 (USD), s1 (BTC) and m0 (USD/BTC) always exist and are scalar.
    states = [Name("s0", USD), Name("s1", BTC)]
    for i in range(2, 2 + draw(st.integers(0, 2))):
        states.append(Name(f"s{i}", g.pick(UNITS), bool(assets) and g.chance(0.5)))
    inputs = [Name("m0", PX)]
    for i in range(1, 1 + draw(st.integers(0, 2))):
        inputs.append(Name(f"m{i}", g.pick(UNITS), bool(assets) and g.chance(0.5)))
    info.states, info.inputs = states, inputs

    # Tables: single-result ones are callable in expressions, multi-result ones feed tuple lets.
    tables: list[TableInfo] = []
    table_lines: list[str] = []
    for i in range(draw(st.integers(0, 2))):
        results = tuple(g.pick(UNITS) for _ in range(g.pick([1, 1, 2])))
        rows, tinfo = _table(g, f"t{i}", g.pick(UNITS), results)
        table_lines += rows
        tables.append(tinfo)
    single = [t for t in tables if len(t.results) == 1]
    multi = [t for t in tables if len(t.results) > 1]

    base = [*params, *states, *inputs]
    assume_scope = Scope(params, single, assets)
    for _ in range(draw(st.integers(0, 2))):
        lines.append(f"assume {g.cond(draw(depth), assume_scope)}")

    # Lets (and the margin roles, which are lets too), each over what is declared before it.
    lets: list[Name] = []
    let_lines: list[str] = []
    roles: dict[str, str] = {}
    role_order = [r for r in ("equity", "initial", "maintenance", "liquidatable") if g.chance(0.7)]
    n_lets = draw(st.integers(0, 6))
    slots = sorted(draw(st.lists(st.integers(0, n_lets), min_size=len(role_order), max_size=len(role_order))))
    role_at = dict(zip(role_order, slots, strict=True))
    for i in range(n_lets + 1):
        for role, at in role_at.items():
            if at == i:
                sc = Scope([*base, *lets], single, assets)
                if role == "liquidatable":
                    roles[role] = f"    liquidatable when {g.cond(draw(depth), sc)}"
                    lets.append(Name(role, BOOL))
                else:
                    roles[role] = f"    {role} = {g.num(USD, True, draw(depth), sc)}"
                    lets.append(Name(role, USD))
        if i == n_lets:
            break
        sc = Scope([*base, *lets], single, assets)
        kind = g.pick(["num", "num", "num", "cond", "asset", "asset", "tuple"])
        name = f"l{i}"
        if kind == "asset" and assets:
            unit = g.pick(UNITS)
            body = g.num(unit, False, draw(st.integers(1, max_depth)), sc.with_bound("i0"))
            let_lines.append(f"let {name}[i0 in assets]: {unit} = {body}")
            lets.append(Name(name, unit, True))
        elif kind == "tuple" and multi:
            t = g.pick(multi)
            names = [f"{name}_{k}" for k in range(len(t.results))]
            let_lines.append(f"let ({', '.join(names)}) = {t.name}({g.num(t.arg, False, draw(depth), sc)})")
            lets += [Name(n, u) for n, u in zip(names, t.results, strict=True)]
        elif kind == "cond":
            typed = g.pick(["", ": bool"])
            let_lines.append(f"let {name}{typed} = {g.cond(draw(depth), sc)}")
            lets.append(Name(name, BOOL))
        else:
            unit = g.pick(UNITS)
            exact = unit in sc.typed() and g.chance(0.5)
            body = g.num(unit, exact, draw(depth), sc)
            annotated = (not exact and unit != RATE) or g.chance(0.5)
            let_lines.append(f"let {name}{': ' + unit if annotated else ''} = {body}")
            lets.append(Name(name, unit))
    if draw(st.booleans()):
        let_lines.reverse()  # declaration order is free; the elaborator sorts lets by dependency

    values = [*base, *lets]
    full = Scope(values, single, assets)
    for kind, group in (("state", states), ("input", inputs)):
        for n in group:
            index = "[assets]" if n.indexed else ""
            where = f" where {g.cond(draw(depth), full)}" if g.chance(0.3) else ""
            lines.append(f"{kind} {n.name}{index}: {n.unit}{where}")
    lines += table_lines
    lines += let_lines
    if roles:
        lines.append("margin:")
        lines += [roles[r] for r in ("equity", "initial", "maintenance", "liquidatable") if r in roles]

    # Actions.
    for i in range(draw(st.integers(0, 3))):
        name = f"a{i}"
        forced = g.chance(0.25)
        args = [Name(f"{name}_x{k}", g.pick(UNITS)) for k in range(draw(st.integers(0, 2)))]
        sc = Scope([*values, *args], single, assets)
        guard = g.cond(draw(depth), sc) if forced or g.chance(0.7) else None
        # A forced action's arguments are chosen by the spec, from the pre-state (language.md §6.3).
        chosen = [f" = {g.num(a.unit, False, draw(depth), full)}" if forced else "" for a in args]
        sig = f"({', '.join(f'{a.name}: {a.unit}{c}' for a, c in zip(args, chosen, strict=True))})" if args else ""
        head = f"{'forced ' if forced else ''}action {name}{sig}{' when ' + guard if guard else ''}:"
        body: list[str] = []
        local_names: list[Name] = []
        for k in range(draw(st.integers(0, 2))):
            unit = g.pick(UNITS)
            lsc = Scope([*values, *args, *local_names], single, assets)
            body.append(f"    let {name}_w{k}: {unit} = {g.num(unit, False, draw(depth), lsc)}")
            local_names.append(Name(f"{name}_w{k}", unit))
        usc = Scope([*values, *args, *local_names], single, assets)
        targets = draw(st.lists(st.sampled_from(states), min_size=1, max_size=3, unique=True))
        for s in targets:
            if not s.indexed:
                body.append(f"    {s.name}' = {g.num(s.unit, False, draw(depth), usc)}")
            elif g.chance(0.5):
                body.append(f"    {s.name}'[i0 in assets] = {g.num(s.unit, False, draw(depth), usc.with_bound('i0'))}")
            else:
                for a in draw(st.lists(st.sampled_from(assets), min_size=1, unique=True)):
                    body.append(f"    {s.name}'[{a}] = {g.num(s.unit, False, draw(depth), usc)}")
        lines += [head, *body]
        info.actions[name] = tuple(a.name for a in args)

    # Env moves.
    for i in range(draw(st.integers(0, 2))):
        name = f"e{i}"
        guard = g.cond(draw(depth), full) if g.chance(0.4) else None
        movable = [*inputs, *states]
        items: list[str] = []
        keys: list[str] = []
        for v in draw(st.lists(st.sampled_from(movable), min_size=1, max_size=3, unique=True)):
            if not v.indexed:
                lo, hi = _ordered(g.num(v.unit, False, draw(depth), full), g.num(v.unit, False, draw(depth), full))
                items.append(f"{v.name}' in [{lo}, {hi}]")
                keys.append(v.name)
            elif g.chance(0.5):
                bsc = full.with_bound("i0")
                lo, hi = _ordered(g.num(v.unit, False, draw(depth), bsc), g.num(v.unit, False, draw(depth), bsc))
                items.append(f"{v.name}'[i0 in assets] in [{lo}, {hi}]")
                keys += [f"{v.name}[{a}]" for a in assets]
            else:
                a = g.pick(assets)
                lo, hi = _ordered(g.num(v.unit, False, draw(depth), full), g.num(v.unit, False, draw(depth), full))
                items.append(f"{v.name}'[{a}] in [{lo}, {hi}]")
                keys.append(f"{v.name}[{a}]")
        head = f"env {name}{' when ' + guard if guard else ''}:"
        if g.chance(0.5):
            lines.append(f"{head} {', '.join(items)}")
        else:
            lines += [head, *(f"    {item}" for item in items)]
        info.envs[name] = tuple(keys)

    for _ in range(draw(st.integers(0, 1))):
        lines.append(f"init: {g.cond(draw(depth), full)}")
    for i in range(draw(st.integers(0, 1))):
        unit = g.pick(UNITS)
        lines.append(f"conserved c{i}: {g.num(unit, False, draw(depth), full)}")
    for i in range(draw(st.integers(0, 1))):
        lines.append(f"invariant iv{i}: {g.cond(draw(depth), full)}")
    for i in range(draw(st.integers(0, 2))):
        lines.append(f"property pr{i}: {g.cond(draw(depth), full)}")
    for t in tables:
        literals |= {abs(e) for e in t.edges}
    info.literals = literals
    return GeneratedSpec("\n".join(lines) + "\n", info)


# ---- points ---------------------------------------------------------------------------

SMALL = tuple(Fraction(x) for x in ["0", "1", "-1", "2", "-2", "1/2", "-1/2", "1/3", "3", "10", "-10", "100", "7/4"])


def _value(draw: Draw, info: SpecInfo) -> Fraction:
    pool = sorted(SMALL + tuple(info.literals) + tuple(-v for v in info.literals))
    choice = draw(st.integers(0, 11))
    if choice < 2:
        return Fraction(0)  # zero divides by zero, steps at zero, and sits on many table edges
    if choice < 8:
        return Fraction(draw(st.sampled_from(pool)))
    if choice < 10:
        return Fraction(draw(st.sampled_from(pool))) + draw(st.sampled_from([Fraction(1, 1000), Fraction(-1, 1000)]))
    return Fraction(draw(st.fractions(min_value=-1000, max_value=1000, max_denominator=60)))


def _param_value(draw: Draw, p: ParamInfo, default: Fraction, info: SpecInfo) -> Fraction:
    if p.pinned:
        return default if draw(st.integers(0, 3)) else _value(draw, info)
    inside = [
        v
        for v in (*SMALL, *info.literals, *(-x for x in info.literals))
        if (p.lo is None or v >= p.lo) and (p.hi is None or v <= p.hi)
    ]
    candidates = [default, *(x for x in (p.lo, p.hi) if x is not None), *inside]
    if draw(st.integers(0, 4)) == 0:
        lo = p.lo if p.lo is not None else Fraction(-1000)
        hi = p.hi if p.hi is not None else Fraction(1000)
        share = Fraction(draw(st.fractions(min_value=0, max_value=1, max_denominator=60)))
        return lo + (hi - lo) * share
    return Fraction(draw(st.sampled_from(candidates)))


ENV_MODES = ("lo", "hi", "mid", "lo", "hi", "below", "above", "pool")


@st.composite
def points(draw: Draw, info: SpecInfo) -> Point:
    """Values for every parameter (inside its range), state, input and action argument, and env choice modes."""
    params: dict[str, Any] = {}
    for p in info.params:
        if p.indexed:
            assert isinstance(p.default, dict)
            params[p.name] = {a: _param_value(draw, p, p.default[a], info) for a in info.assets}
        else:
            assert isinstance(p.default, Fraction)
            params[p.name] = _param_value(draw, p, p.default, info)

    def values(names: list[Name]) -> dict[str, Any]:
        return {
            n.name: {a: _value(draw, info) for a in info.assets} if n.indexed else _value(draw, info) for n in names
        }

    state, inputs = values(info.states), values(info.inputs)
    args = {a: tuple(_value(draw, info) for _ in names) for a, names in info.actions.items()}
    env_modes = {
        e: {k: (draw(st.sampled_from(ENV_MODES)), _value(draw, info)) for k in keys} for e, keys in info.envs.items()
    }
    return Point(params, state, inputs, args, env_modes)


# A pattern of source text for each construct the generator writes (tests and the benchmark count them).
CONSTRUCTS = {
    "+": re.escape(" + "),
    "-": re.escape(" - "),
    "*": re.escape(" * "),
    "/": re.escape(" / "),
    "unary -": re.escape("(-"),
    "abs": re.escape("abs("),
    "min": re.escape("min("),
    "max": re.escape("max("),
    "if/then/else": re.escape("(if "),
    "<": re.escape(" < "),
    "<=": re.escape(" <= "),
    ">": re.escape(" > "),
    ">=": re.escape(" >= "),
    "==": re.escape(" == "),
    "!=": re.escape(" != "),
    "and": re.escape(" and "),
    "or": re.escape(" or "),
    "implies": re.escape(" implies "),
    "not": re.escape("(not "),
    "round_down": re.escape("round_down("),
    "round_up": re.escape("round_up("),
    "sum over assets": re.escape("sum(i"),
    "all over assets": re.escape("all(i"),
    "any over assets": re.escape("any(i"),
    "percent literal": re.escape("%"),
    "exponent literal": re.escape("e-3"),
    "grouped literal": re.escape("_000"),
    "table bracket from -inf": re.escape("[-inf, "),
    "table bracket to inf": re.escape(", inf)"),
    "multi-result table": re.escape(") -> ("),
    "tuple let": re.escape("let ("),
    "row cell value": re.escape("].value"),
    "row cell bound": r"\]\.(lower|upper)",
    "per-asset let": re.escape("[i0 in assets]: "),
    "bool let": re.escape(": bool = "),
    "per-asset param map": re.escape("= {AA: "),
    "pinned param": r"(?m)^param (?![^\n]* in \[)",
    "assume": re.escape("assume "),
    "where": re.escape(" where "),
    "margin roles": re.escape("margin:"),
    "liquidatable": re.escape("liquidatable when"),
    "action with arguments": re.escape("action a0("),
    "forced action": re.escape("forced action"),
    "forced action with chosen arguments": r"forced action a\d\(\w+: [^)=]+ = ",
    "action local let": re.escape("    let a"),
    "per-asset update": re.escape("'[i0 in assets] = "),
    "update at one asset": re.escape("'[AA] = "),
    "env move": re.escape("env e0"),
    "per-asset env item": re.escape("'[i0 in assets] in ["),
    "init": re.escape("init: "),
    "conserved": re.escape("conserved c0"),
    "invariant": re.escape("invariant iv0"),
    "property": re.escape("property pr0"),
}


@st.composite
def cases(draw: Draw, max_points: int = 4) -> tuple[GeneratedSpec, list[Point]]:
    """A spec and a few points to evaluate it at."""
    spec = draw(specs())
    return spec, draw(st.lists(points(spec.info), min_size=1, max_size=max_points))
