"""Books of accounts for the stress runner: integer columns over one scale each, read and written exactly.

A `Book` holds some accounts' states (`rows`: their positions in the population), one column per
state key, in `int64` (`checked`: every evaluation's bounds are checked) or as Python integers.
`Columns` and `OneAccount` are a frame's values over a book (all its accounts, some, or one as Python
integers); `write` stores exact values back, growing a column's scale where a value needs it and
turning the book into Python integers where a value leaves int64; `exact_sum` adds a column without
overflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from dsl import vector as V

LIMIT = V.LIMIT


@dataclass(slots=True)
class Book:
    """Some accounts' states: `rows` (their positions in the population) and one column per state key."""

    rows: Any  # int array of population positions
    ints: dict[str, Any]  # state key -> numerators (int64 or object array)
    scale: dict[str, int]  # state key -> denominator
    checked: bool  # int64 (bounds checked) or object
    bounds: dict[str, tuple[int, int]] = field(default_factory=dict)  # (least, largest) per key, when first asked
    flags: frozenset[str] = frozenset()  # the keys of true/false states (0 or 1)

    def range(self, key: str) -> tuple[int, int]:
        """Bounds on `key`'s integers (tight when computed, possibly wider after writes)."""
        if key not in self.bounds:
            col = self.ints[key]
            self.bounds[key] = (int(np.min(col)), int(np.max(col))) if len(col) else (0, 0)
        return self.bounds[key]

    def bound(self, key: str) -> int:
        """A bound on |ints| of `key`."""
        lo, hi = self.range(key)
        return max(-lo, hi)

    def take(self, mask: Any, checked: bool | None = None) -> Book:
        """The accounts of this book selected by `mask`, as an int64 or object book."""
        checked = self.checked if checked is None else checked
        ints = {k: (v[mask] if checked else v[mask].astype(object)) for k, v in self.ints.items()}
        return Book(self.rows[mask], ints, dict(self.scale), checked, flags=self.flags)


def shared_value(value: Fraction | bool) -> V.Value:
    """A value shared by every account: a number, or a true/false shared state."""
    return V.Bool(value) if isinstance(value, bool) else V.const(value)


class Columns(dict[str, V.Value]):
    """A frame's values: a state's column is sliced from the book only when a formula reads it (the
    whole book's bound stands for the slice's: a bound of a superset is a bound)."""

    def __init__(self, book: Book, mask: Any) -> None:
        super().__init__()
        self.book = book
        self.mask = mask

    def __missing__(self, key: str) -> V.Value:
        book = self.book
        if key not in book.ints:
            raise KeyError(key)
        data = book.ints[key] if self.mask is None else book.ints[key][self.mask]
        if key in book.flags:  # a true/false state, kept as 0 and 1
            value: V.Value = V.Bool(np.asarray(data != 0, dtype=bool))
        else:
            lo, hi = book.range(key)
            value = V.column(data, book.scale[key], lo, hi)
        self[key] = value
        return value


class OneAccount(dict[str, V.Value]):
    """A frame's values for one account: its states as Python integers, read when a formula reads them."""

    def __init__(self, book: Book, i: int) -> None:
        super().__init__()
        self.book = book
        self.i = i

    def __missing__(self, key: str) -> V.Value:
        book = self.book
        if key not in book.ints:
            raise KeyError(key)
        n = int(book.ints[key][self.i])
        value: V.Value = V.Bool(n != 0) if key in book.flags else V.Num(n, book.scale[key], n, n, book.scale[key])
        self[key] = value
        return value


# ---- column helpers --------------------------------------------------------------------------------


def undefined_mask(u: Any, size: int) -> Any:
    if u is None or u is False:
        return np.zeros(size, dtype=bool)
    if u is True:
        return np.ones(size, dtype=bool)
    return np.asarray(u, dtype=bool)


def select(value: V.Num, keep: Any) -> V.Num:
    n = value.n if isinstance(value.n, int) else value.n[keep]
    d = value.d if isinstance(value.d, int) else value.d[keep]
    return V.Num(n, d, value.lo, value.hi, value.bd)


def negative_part(x: V.Num, size: int) -> Fraction:
    """The sum over the accounts of max(-x, 0), exactly."""
    if isinstance(x.d, int):
        n = np.broadcast_to(np.asarray(x.n), (size,))
        return Fraction(-exact_sum(np.minimum(n, 0), x.bn), x.d)
    return sum((-V.fraction_at(x, i) for i in range(size) if V.fraction_at(x, i) < 0), Fraction(0))


def exact_sum(ints: Any, bound: int) -> int:
    """The exact sum of integers (int64 or object) each at most `bound` in magnitude, as a Python int.

    int64 sums are taken over chunks small enough that no partial sum can overflow."""
    if len(ints) == 0:
        return 0
    if ints.dtype == object:
        return int(sum(ints.tolist()))
    chunk = max(1, LIMIT // max(bound, 1))
    if chunk >= len(ints):
        return int(ints.sum())
    return sum(int(ints[i:i + chunk].sum()) for i in range(0, len(ints), chunk))


def write(book: Book, key: str, where: Any, value: V.Num) -> None:
    """Set `key` of the accounts at positions `where` to `value` (one value per position), exactly.

    The column's scale grows to a multiple of the values' denominators where they need it; a column
    that no longer fits int64 makes the book an object book."""
    if len(where) == 0:
        return
    scale = book.scale[key]
    n, d = value.n, value.d
    if isinstance(d, int):
        if isinstance(n, int):
            g = math.gcd(n, d)
            n, d = n // g, d // g
        new = scale * d // math.gcd(scale, d)
        dens = None
    else:
        g = np.gcd(n, d)
        n, dens = n // g, d // g
        new = scale
        for den in {int(x) for x in np.unique(dens)}:
            new = new * den // math.gcd(new, den)
    if new != scale:
        factor = new // scale
        if book.checked and book.bound(key) * factor > LIMIT:
            to_object(book)
        lo, hi = book.range(key)
        book.ints[key] = book.ints[key] * factor
        book.scale[key] = new
        book.bounds[key] = (lo * factor, hi * factor)
    if dens is None:
        factor = new // d
        bound = (abs(n) if isinstance(n, int) else value.bn) * factor
    else:
        factor = 0
        bound = value.bn * new
    if book.checked and bound > LIMIT:  # compute in Python ints, keep int64 if the values fit after all
        n = n if isinstance(n, int) else np.asarray(n).astype(object)
        dens = dens if dens is None else np.asarray(dens).astype(object)
    values = n * factor if dens is None else n * (new // dens)
    if book.checked and bound > LIMIT and (isinstance(values, int) or int(np.max(np.abs(values))) > LIMIT):
        to_object(book)
    # A bound need not be tight: the old one or the written values', whichever is larger. Recomputing it
    # from the whole column would cost a pass over the book for every account taken one at a time.
    lo, hi = book.range(key)
    if isinstance(values, int):
        book.bounds[key] = (min(lo, values), max(hi, values))
    elif len(values):
        book.bounds[key] = (min(lo, int(np.min(values))), max(hi, int(np.max(values))))
    column = book.ints[key]
    if isinstance(values, int):
        column[where] = values
    else:
        column[where] = values.astype(column.dtype) if column.dtype != object else values.astype(object)


def to_object(book: Book) -> None:
    for k, v in book.ints.items():
        book.ints[k] = v.astype(object)
    book.checked = False
