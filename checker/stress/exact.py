"""Per-account exact numbers in bulk: one integer per account over one common scale.

A million losses as `Fraction`s take seconds to build and sort; as integers
over one denominator they take milliseconds, exactly the same. `Exact` holds
`ints` (int64 where every value fits, else Python integers in an object array)
and `scale`; account i's value is `ints[i] / scale`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from dsl import vector as V


@dataclass(frozen=True, slots=True)
class Exact:
    ints: Any  # numpy int64 or object array
    scale: int

    def __len__(self) -> int:
        return len(self.ints)

    def at(self, i: int) -> Fraction:
        return Fraction(int(self.ints[i]), self.scale)


def _fit(ints: Any) -> Any:
    """`ints` as int64 when every value fits, else as Python integers."""
    if ints.dtype != object:
        return ints
    if len(ints) == 0 or max(abs(int(x)) for x in (ints.max(), ints.min())) <= V.LIMIT:
        return ints.astype(np.int64)
    return ints


def gather(size: int, pieces: Sequence[tuple[Any, V.Num]]) -> Exact:
    """Per-account values from pieces (population rows, their values) into population order."""
    dens: set[int] = set()
    for _, num in pieces:
        if isinstance(num.d, int):
            dens.add(num.d)
        else:
            dens.update(int(d) for d in np.unique(num.d))
    scale = math.lcm(*dens) if dens else 1
    out = np.zeros(size, dtype=object)
    for rows, num in pieces:
        n = np.broadcast_to(np.asarray(num.n, dtype=object), (len(rows),))
        d = num.d if isinstance(num.d, int) else np.asarray(num.d, dtype=object)
        out[rows] = n * (scale // d)
    return Exact(_fit(out), scale)


def minus(a: Exact, b: Exact) -> Exact:
    """a - b, account by account."""
    scale = math.lcm(a.scale, b.scale)
    left = a.ints.astype(object) * (scale // a.scale)
    right = b.ints.astype(object) * (scale // b.scale)
    return Exact(_fit(left - right), scale)


def concat(parts: Sequence[Exact]) -> Exact:
    """The values of several population slices, one after another."""
    if not parts:
        return Exact(np.zeros(0, dtype=np.int64), 1)
    scale = math.lcm(*(p.scale for p in parts))
    if all(p.scale == scale and p.ints.dtype == np.int64 for p in parts):
        return Exact(np.concatenate([p.ints for p in parts]), scale)
    return Exact(_fit(np.concatenate([p.ints.astype(object) * (scale // p.scale) for p in parts])), scale)


def quantiles(values: Exact, qs: Sequence[str]) -> dict[str, Fraction]:
    """The value at each quantile q (the smallest value with at least q of the accounts at or below it)."""
    n = len(values)
    ordered = np.sort(values.ints)
    return {q: Fraction(int(ordered[min(n - 1, max(0, math.ceil(Fraction(q) * n) - 1))]), values.scale) for q in qs}


def histogram(values: Exact, bins: int) -> tuple[tuple[Fraction, Fraction, int], ...]:
    """`bins` equal bins from the least to the largest value: (lo, hi, count), lo inclusive."""
    lo, hi = int(values.ints.min()), int(values.ints.max())
    if lo == hi:
        return ((Fraction(lo, values.scale), Fraction(hi, values.scale), len(values)),)
    offset = values.ints.astype(object) - lo if (hi - lo) * bins > V.LIMIT else values.ints - lo
    index = np.minimum(offset * bins // (hi - lo), bins - 1).astype(np.int64)
    counts = np.bincount(index, minlength=bins)
    width = Fraction(hi - lo, values.scale * bins)
    low = Fraction(lo, values.scale)
    return tuple((low + width * i, low + width * (i + 1), int(c)) for i, c in enumerate(counts))


def largest(values: Exact, k: int) -> list[int]:
    """The positions of the k largest values (ties: the earlier account first)."""
    order = np.argsort(-values.ints, kind="stable")
    return [int(i) for i in order[:k]]
