"""Tables in the vectorized back end (`dsl.vector`): a bracket search per account, exact.

A table's brackets are half-open, `[lo, hi)`, and the first that holds the argument is the row
(as in the Python back end's `_lookup_*`). For a static denominator `d` an edge `e` becomes the
integer threshold `ceil(e * d)`, so "x >= e" is "n >= threshold" and a contiguous table is one
`searchsorted` over its edges; gaps, overlaps and per-account denominators take the rows one by one.
A value outside every bracket is undefined for that account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from dsl import ir
from dsl.vector import LIMIT, Frame, Num, Overflow, _or, _scalar, compare, const


@dataclass(frozen=True, slots=True)
class _Table:
    """A table ready for lookups: per result column, every row's value over one denominator."""

    rows: tuple[ir.Row, ...]
    contiguous: bool  # rows sorted and touching: a lookup is one binary search over the edges
    values: tuple[tuple[Any, int, int, int], ...]  # per column: (numerators, denominator, least, largest)


def _prepare(table: ir.Table) -> _Table:
    rows = table.rows
    contiguous = all(rows[i].hi is not None and rows[i].hi == rows[i + 1].lo for i in range(len(rows) - 1))
    values = []
    for c in range(len(table.result_tys)):
        cells = [r.values[c] for r in rows]
        den = math.lcm(*(v.denominator for v in cells))
        nums = [int(v * den) for v in cells]
        arr = np.array(nums, dtype=np.int64 if max(abs(v) for v in nums) <= LIMIT else object)
        values.append((arr, den, min(nums), max(nums)))
    return _Table(rows, contiguous, tuple(values))


def _threshold(edge: Fraction, d: int) -> int:
    """The least integer n with n / d >= edge."""
    return -((-edge.numerator * d) // edge.denominator)


def _clamp(frame: Frame, threshold: int, arg: Num) -> int:
    """`threshold`, or, where it lies beyond every numerator (lo <= n <= hi), the nearest value that
    compares alike with all of them: a tier edge scaled by a fine denominator may not fit int64 even
    when no account comes near it."""
    if not frame.checked:
        return threshold
    if arg.bn >= LIMIT:
        raise Overflow
    return max(arg.lo - 1, min(arg.hi + 1, threshold))


def bracket(frame: Frame, table: _Table, arg: Num) -> tuple[Any, Any]:
    """The row of the first bracket [lo, hi) holding arg (an int, or an index array), and where none does."""
    rows = table.rows
    if _scalar(arg.n) and isinstance(arg.d, int):
        x = Fraction(arg.n, arg.d)
        for i, r in enumerate(rows):
            if (r.lo is None or x >= r.lo) and (r.hi is None or x < r.hi):
                return i, arg.u
        return 0, True
    if isinstance(arg.d, int) and table.contiguous:
        d = arg.d
        edges = [_clamp(frame, _threshold(r.lo, d), arg) for r in rows[1:] if r.lo is not None]
        cut = np.array(edges, dtype=object if arg.n.dtype == object else np.int64)
        index = np.searchsorted(cut, arg.n, side="right") if len(edges) else np.zeros(frame.size, dtype=np.intp)
        u = arg.u
        first, last = rows[0].lo, rows[-1].hi
        if first is not None:
            below = arg.n < _clamp(frame, _threshold(first, d), arg)
            u = _or(u, below if below.any() else None)
        if last is not None:
            above = arg.n >= _clamp(frame, _threshold(last, d), arg)
            u = _or(u, above if above.any() else None)
        return index, u
    # Gaps, overlaps or per-account denominators: the first row whose bracket holds the argument.
    index = np.full(frame.size, -1, dtype=np.intp)
    for i in range(len(rows) - 1, -1, -1):
        r = rows[i]
        inside: Any = True
        if r.lo is not None:
            inside = compare(frame, ">=", arg, const(r.lo)).v
        if r.hi is not None:
            inside = inside & compare(frame, "<", arg, const(r.hi)).v
        index = np.where(inside, i, index)
    missing = index < 0
    return np.where(missing, 0, index), _or(arg.u, missing if missing.any() else None)


def lookup(frame: Frame, table: _Table, row: Any, u: Any, column_: int) -> Num:
    """Column `column_` of the table at `row` (from `bracket`), undefined where `u`."""
    arr, den, lo, hi = table.values[column_]
    if isinstance(row, int):
        value = int(arr[row])
        return Num(value, den, value, value, den, u)
    if not frame.checked:
        arr = arr.astype(object)
    return Num(arr[row], den, lo, hi, den, u)
