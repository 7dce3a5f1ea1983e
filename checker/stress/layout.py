"""What a stress run's inputs look like for one spec, and a fast exact check of its `where`s on columns.

`layout(program)` says which columns a population file has (account 1's per-account states, an
indexed state once per asset as `name[ASSET]`), which states are shared (one value for the venue,
`shared state`), and the names a price path or a shock may move (`mark`, `price[BTC]`).

`where_mask(expr, lookup, size)` evaluates a `where` on whole columns with exact integer arithmetic:
comparisons of a state (or input) with a constant, combined with `and`/`or`/`not`/`implies` and
`all`/`any` over the assets, which is every `where` the examples write except one (`ccp_cover2`'s
`posted >= abs(position) * mark * im_rate`). For anything else it returns None and the caller asks
the spec's engine row by row (`engine_failures`), which is exact but some 10^4 times slower.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, assert_never

import numpy as np

from dsl import ast, ir
from dsl.parser import parse
from dsl.symmetry import is_copy
from dsl.units import is_numeric

# A column of exact values: integers over one positive scale (numpy int64 or object), or one value.
Values = tuple[Any, int] | Fraction | bool
Lookup = Callable[[ir.Symbol, str | None], Values | None]  # None: not known here


@dataclass(frozen=True, slots=True)
class Slot:
    """One column (or one shared value, or one input): a symbol and, for an indexed one, the asset."""

    name: str  # as written: `collateral`, `debt[ETH]`
    sym: ir.Symbol
    asset: str | None

    @property
    def flag(self) -> bool:
        """A `bool` state: its cells are `true`/`false` (stored as 1/0 over a scale of 1)."""
        return not is_numeric(self.sym.ty)


@dataclass(frozen=True, slots=True)
class Layout:
    """A spec's per-account columns, shared states and inputs, in declaration order."""

    columns: tuple[Slot, ...]
    shared: tuple[Slot, ...]
    inputs: tuple[Slot, ...]

    def column(self, name: str) -> Slot | None:
        return next((s for s in self.columns if s.name == name), None)

    def input(self, name: str) -> Slot | None:
        return next((s for s in self.inputs if s.name == name), None)


def _slots(sym: ir.Symbol, assets: tuple[str, ...]) -> list[Slot]:
    if not sym.indexed:
        return [Slot(sym.name, sym, None)]
    return [Slot(f"{sym.name}[{a}]", sym, a) for a in assets]


def layout(program: ir.Program) -> Layout:
    """The columns, shared states and inputs of `program` (see the module docstring).

    With `accounts N` the per-account states are account 1's copies (names without `#`); which
    states are shared is read from the spec's own `shared state` declarations (re-parsed: the IR keeps
    no mark, and with `accounts 1` no copy would tell them apart)."""
    shared_names: set[str] = set()
    if program.accounts:
        module = parse(program.source)
        shared_names = {d.name.name for d in module.decls if isinstance(d, ast.VarDecl) and d.shared}
    columns: list[Slot] = []
    shared: list[Slot] = []
    for sym in program.states:
        if is_copy(sym.name):
            continue
        (shared if sym.name in shared_names else columns).extend(_slots(sym, program.assets))
    inputs = [s for sym in program.inputs for s in _slots(sym, program.assets)]
    return Layout(tuple(columns), tuple(shared), tuple(inputs))


def where_of(program: ir.Program, name: str) -> ir.Constraint | None:
    """The `where` of state or input `name`, if it has one."""
    return next((w for w in program.wheres if w.name == name), None)


def reads(expr: ir.Expr, kind: ir.Kind) -> set[str]:
    """The names of the symbols of `kind` that `expr` reads."""
    return {e.sym.name for e in ir.walk(expr) if isinstance(e, ir.Var) and e.sym.kind is kind}


# ---- exact, vectorized `where`s -------------------------------------------------------------------


def where_mask(
    expr: ir.Expr, lookup: Lookup, size: int, assets: tuple[str, ...], bound: Mapping[str, str] | None = None
) -> Any:
    """A numpy bool array: for each row, whether `expr` holds; None where the form is not supported.

    `lookup(sym, asset)` gives a variable's values: `(ints, scale)` for a column, a Fraction (or a
    bool) for one value shared by every row. Exact: a comparison with a constant compares integers.
    `bound`: values of the variables of enclosing `all`/`any` (asset names), for evaluating a body."""
    try:
        return _mask(expr, lookup, size, assets, dict(bound or {}))
    except RecursionError:  # a `where` nested deeper than Python's stack: the engine checks it instead
        return None


def _mask(e: ir.Expr, lookup: Lookup, n: int, assets: tuple[str, ...], bound: dict[str, str]) -> Any:
    match e:
        case ir.BoolConst(value=constant):
            return np.full(n, constant)
        case ir.BoolOp(op=op, left=left, right=right):
            a = _mask(left, lookup, n, assets, bound)
            b = _mask(right, lookup, n, assets, bound) if a is not None else None
            if a is None or b is None:
                return None
            return a & b if op == "and" else a | b if op == "or" else ~a | b
        case ir.Not(x=x):
            m = _mask(x, lookup, n, assets, bound)
            return None if m is None else ~m
        case ir.Quant(kind=kind, var=var, body=body):
            parts = [_mask(body, lookup, n, assets, {**bound, var: a}) for a in assets]
            if any(p is None for p in parts):
                return None
            return np.logical_and.reduce(parts) if kind == "all" else np.logical_or.reduce(parts)
        case ir.Var() if not is_numeric(e.ty):
            flag = _value(e, lookup, bound)
            if isinstance(flag, bool):
                return np.full(n, flag)
            return None if flag is None or isinstance(flag, Fraction) else np.asarray(flag[0]) != 0
        case ir.Cmp(op=op, left=left, right=right):
            a, b = _atom(left, lookup, bound), _atom(right, lookup, bound)
            if a is None or b is None:
                return None
            if isinstance(a, Fraction) and isinstance(b, Fraction):
                return np.full(n, _compare(a, op, b))
            if isinstance(a, Fraction) and isinstance(b, tuple):
                return _column_cmp(b, _FLIP[op], a)
            if isinstance(a, tuple) and isinstance(b, Fraction):
                return _column_cmp(a, op, b)
            if isinstance(a, tuple) and isinstance(b, tuple):
                return _columns_cmp(a, op, b)
            return None
    return None


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _value(e: ir.Var, lookup: Lookup, bound: dict[str, str]) -> Values | None:
    match e.index:
        case None:
            return lookup(e.sym, None)
        case ir.AssetName(name=name):
            return lookup(e.sym, name)
        case ir.BoundVar(name=name):
            return lookup(e.sym, bound[name]) if name in bound else None
        case _:
            assert_never(e.index)


def _atom(e: ir.Expr, lookup: Lookup, bound: dict[str, str]) -> tuple[Any, int] | Fraction | None:
    """A comparison operand: a column, or an exact constant (a number, a parameter, a negated one)."""
    match e:
        case ir.Const(value=number):
            return Fraction(number)
        case ir.Neg(x=x):
            inner = _atom(x, lookup, bound)
            return -inner if isinstance(inner, Fraction) else None
        case ir.Var():
            found = _value(e, lookup, bound)
            return None if found is None or isinstance(found, bool) else found
    return None


def _compare(a: Fraction | int, op: str, b: Fraction | int) -> bool:
    match op:
        case "<":
            return a < b
        case "<=":
            return a <= b
        case ">":
            return a > b
        case ">=":
            return a >= b
        case "==":
            return a == b
        case _:
            return a != b


def _column_cmp(column: tuple[Any, int], op: str, c: Fraction) -> Any:
    """`ints / scale OP c` for every row, exactly: the integers are compared with `c * scale` rounded
    the way that keeps the answer (an integer x is >= q exactly when it is >= ceil(q))."""
    ints, scale = column
    q = c * scale
    if q.denominator != 1:
        if op == "==":
            return np.zeros(len(ints), dtype=bool)
        if op == "!=":
            return np.ones(len(ints), dtype=bool)
        op, bound = (op, math.ceil(q)) if op in (">=", "<") else (op, math.floor(q))
    else:
        bound = int(q)
    arr = np.asarray(ints)
    if arr.dtype != object and not -(2**63) <= bound < 2**63:
        arr = arr.astype(object)  # a constant beyond int64: compare as Python integers
    result = _compare(arr, op, bound)  # type: ignore[arg-type]  # numpy broadcasts the comparison
    return np.asarray(result, dtype=bool)


def _columns_cmp(a: tuple[Any, int], op: str, b: tuple[Any, int]) -> Any:
    """`a OP b` for two columns, exactly: both brought to one common scale (as Python integers where
    the rescaled values could leave int64)."""
    common = math.lcm(a[1], b[1])
    sides = []
    for ints, scale in (a, b):
        arr, factor = np.asarray(ints), common // scale
        if factor != 1:
            big = arr.dtype == object or (len(arr) > 0 and max(int(arr.max()), -int(arr.min())) >= 2**62 // factor)
            arr = (arr.astype(object) if big else arr) * factor
        sides.append(arr)
    left, right = sides
    if left.dtype == object or right.dtype == object:
        left, right = left.astype(object), right.astype(object)
    return np.asarray(_compare(left, op, right), dtype=bool)  # type: ignore[arg-type]


def first_false(mask: Any) -> int | None:
    """The index of the first row where `mask` is false, or None."""
    bad = np.flatnonzero(~mask)
    return int(bad[0]) if len(bad) else None


def engine_failures(
    program: ir.Program,
    rows: Callable[[int], Mapping[str, Fraction | bool]],
    size: int,
    shared: Mapping[str, Fraction | bool],
    start: Mapping[str, Fraction],
    params: Mapping[str, Fraction] | None = None,
) -> tuple[int, str] | None:
    """The first row (index) some `where` fails on, asked of the spec's engine, and the `where` it names.

    `rows(i)` gives row i's values by column name. Every account's copy of a state gets row i's
    value (the rules treat accounts alike), shared states `shared`, inputs `start`, parameters their
    defaults."""
    from dsl.api import Spec

    engine = Spec(program).engine
    fields = engine.FIELDS
    engine_args = engine_params(engine, program, params)
    lay = layout(program)
    inputs = engine.Inputs(**{fields[sym.name]: _packed(sym, start, program.assets) for sym in program.inputs})
    fixed = {fields[s.sym.name]: _packed(s.sym, shared, program.assets) for s in lay.shared}
    per_account = [sym for sym in program.states if fields[sym.name] not in fixed]
    for i in range(size):
        values = rows(i)
        state = engine.State(
            **fixed,
            **{fields[sym.name]: _packed(sym, values, program.assets, copy=True) for sym in per_account},
        )
        failed = engine.failing_where(engine_args, state, inputs)
        if failed is not None:
            return i, failed
    return None


def engine_params(engine: Any, program: ir.Program, given: Mapping[str, Fraction] | None) -> Any:
    """The engine's `Params` with the values in `given` (`name`, `name[ASSET]`), defaults elsewhere."""
    values: dict[str, Any] = {}
    for p in program.params:
        name = p.sym.name
        if not p.sym.indexed and given and name in given:
            values[engine.FIELDS[name]] = Fraction(given[name])
        elif p.sym.indexed and given and any(f"{name}[{a}]" in given for a in program.assets):
            default = dict(p.default) if isinstance(p.default, tuple) else {}
            values[engine.FIELDS[name]] = {a: Fraction(given.get(f"{name}[{a}]", default[a])) for a in program.assets}
    return engine.Params(**values)


def _packed(sym: ir.Symbol, values: Mapping[str, Any], assets: tuple[str, ...], copy: bool = False) -> Any:
    name = sym.name.partition("#")[0] if copy else sym.name
    if sym.indexed:
        return {a: values[f"{name}[{a}]"] for a in assets}
    return values[name]


__all__ = ["Layout", "Slot", "engine_failures", "first_false", "layout", "reads", "where_mask", "where_of"]
