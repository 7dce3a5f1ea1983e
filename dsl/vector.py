"""The vectorized exact back end: IR expressions over many accounts at once, in scaled integers.

Takes a `dsl.ir.Program` and evaluates its expressions over a `Frame`: one
value per account for every per-account state, and one value shared by every
account for each input and parameter. It returns, for each account, exactly
what the Python back end (`dsl.codegen`) returns for that account alone; the
tests hold the two to the same answers on random and boundary inputs.

Numbers are `Num`s: numerators `n` over a denominator `d`, value `n / d`.
`d` is one positive Python integer for all accounts (a *scale*: decimals and
constants keep it static) or, after a division by a per-account value, an
array of positive denominators. `n` is a numpy `int64` array, a numpy `object`
array of Python integers, or a Python integer when the value is the same for
every account (inputs, parameters, constants).

Exactness on `int64`: every `Num` carries a bound on `|n|` (and on `d`), a
Python integer computed from its operands' bounds before the array operation
runs; a frame in `int64` mode raises `Overflow` when a bound (of the result or
of any product on the way to it) would not fit in 63 bits, so an int64
operation can never wrap. The caller then evaluates those accounts with
`object` arrays, which are Python integers and never overflow
(`checker.stress.engine` splits a batch so that only the accounts whose
values are too large take that path).

Partial operations (division by zero, `round_*` with a step <= 0, a table gap)
make the value undefined for the accounts concerned: a `Num` or `Bool`
carries a mask `u` of them, and `Ite`, `and`, `or` and `implies` keep only
the undefinedness of the branch the account takes, as the Python back end
(which short-circuits) does. Undefined accounts get a placeholder value that
the caller must not use.

`dsl.vector_tables` adds the table lookups and `dsl.vector_compile` the compiler (`Compiled`) that
turns IR expressions into functions of a frame. numpy is imported by these three only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeAlias

import numpy as np

from dsl.diagnostics import InternalError

LIMIT = 2**63 - 1  # the largest |n| an int64 holds (and -2**63 is never produced: bounds are symmetric)


class Overflow(Exception):
    """An int64 evaluation would need a number beyond 63 bits: evaluate these accounts exactly instead."""


@dataclass(slots=True)
class Num:
    n: Any  # numpy array (int64 or object) or a Python int shared by every account
    d: Any  # a positive Python int, or an array of positive denominators
    lo: int  # lo <= n for every account
    hi: int  # n <= hi for every account
    bd: int  # d <= bd for every account
    u: Any = None  # bool array: the accounts for which the value is undefined (None: none)

    @property
    def bn(self) -> int:
        """A bound on |n|."""
        return max(-self.lo, self.hi)


@dataclass(slots=True)
class Bool:
    v: Any  # bool array or a Python bool
    u: Any = None


Value: TypeAlias = Num | Bool


@dataclass(slots=True)
class Frame:
    """The values one evaluation reads. `values`: state, input and parameter values by name
    (`name` or `name[ASSET]`), arguments and locals by name; `checked`: int64 mode (bounds are
    checked, `Overflow` raised); `lets`: the lets computed so far (filled as they are read)."""

    size: int
    values: dict[str, Value]
    checked: bool = True
    lets: dict[str, Value] = field(default_factory=dict)
    brackets: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # table lookups' rows, per slot


Code: TypeAlias = Callable[[Frame], Value]


def const(value: Fraction | int) -> Num:
    """A number shared by every account."""
    v = Fraction(value)
    return Num(v.numerator, v.denominator, v.numerator, v.numerator, v.denominator)


def column(ints: Any, scale: int, lo: int | None = None, hi: int | None = None) -> Num:
    """Per-account values `ints[i] / scale`; `lo`, `hi`: bounds on the integers if known (else computed)."""
    if lo is None or hi is None:
        lo, hi = (int(np.min(ints)), int(np.max(ints))) if len(ints) else (0, 0)
    return Num(ints, scale, lo, hi, scale)


def _times(lo: int, hi: int, lo2: int, hi2: int) -> tuple[int, int]:
    """The interval of x * y for x in [lo, hi] and y in [lo2, hi2]."""
    products = (lo * lo2, lo * hi2, hi * lo2, hi * hi2)
    return min(products), max(products)


def fraction_at(x: Num, i: int) -> Fraction:
    """Account i's value of `x`, exactly."""
    n = x.n if isinstance(x.n, int) else int(x.n[i])
    d = x.d if isinstance(x.d, int) else int(x.d[i])
    return Fraction(n, d)


# ---- helpers over scalars and arrays ---------------------------------------------------------------


def _scalar(x: Any) -> bool:
    return isinstance(x, (int, bool))


def _check(frame: Frame, bound: int, *factors: int) -> int:
    """`bound`, after making sure that it and the Python-int `factors` an array is multiplied by fit
    int64 (a factor must fit even when the array is all zeros, or numpy refuses it)."""
    if frame.checked and (bound > LIMIT or any(abs(f) > LIMIT for f in factors)):
        raise Overflow
    return bound


def _ints(*xs: Any) -> list[int]:
    """The Python ints among `xs` (the factors numpy will have to convert to int64)."""
    return [x for x in xs if isinstance(x, int)]


def _or(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def _mask_and(cond: Any, u: Any) -> Any:
    """The accounts of `u` for which `cond` holds (the undefinedness of a branch taken where cond)."""
    if u is None or cond is False:
        return None
    if cond is True:
        return u
    return cond & u


def _not(x: Any) -> Any:
    return (not x) if isinstance(x, bool) else ~x


def _where(c: Any, a: Any, b: Any) -> Any:
    if isinstance(c, bool):
        return a if c else b
    return np.where(c, a, b)


def _rescale(frame: Frame, x: Num, scale: int) -> tuple[Any, int, int]:
    """x's numerators over the static denominator `scale` (a multiple of x.d), and their interval."""
    k = scale // x.d
    if k == 1:
        return x.n, x.lo, x.hi
    _check(frame, x.bn * k, k)
    return x.n * k, x.lo * k, x.hi * k


def _pair(frame: Frame, a: Num, b: Num) -> tuple[Any, Any, Any, tuple[int, int], tuple[int, int], int]:
    """a and b over one denominator: (na, nb, d, na's interval, nb's interval, bound of d)."""
    if isinstance(a.d, int) and isinstance(b.d, int):
        scale = a.d * b.d // math.gcd(a.d, b.d)
        na, alo, ahi = _rescale(frame, a, scale)
        nb, blo, bhi = _rescale(frame, b, scale)
        return na, nb, scale, (alo, ahi), (blo, bhi), scale
    _check(frame, max(a.bn * b.bd, b.bn * a.bd), *_ints(a.n, a.d, b.n, b.d))
    _check(frame, a.bd * b.bd)
    ia = _times(a.lo, a.hi, 1, b.bd)  # d >= 1
    ib = _times(b.lo, b.hi, 1, a.bd)
    return a.n * b.d, b.n * a.d, a.d * b.d, ia, ib, a.bd * b.bd


def _reduced(frame: Frame, n: Any, d: Any, lo: int, hi: int, bd: int, u: Any) -> Num:
    """n / d with a per-account d reduced to lowest terms (keeps denominators from growing step by step).
    Dividing by a common factor keeps each numerator's sign and shrinks it, so the interval widened to
    take in 0 still holds."""
    if isinstance(d, int) or _scalar(n):
        if isinstance(d, int) and isinstance(n, int):
            g = math.gcd(n, d)
            return Num(n // g, d // g, n // g, n // g, d // g, u)  # d > 0: g >= 1
        return Num(n, d, lo, hi, bd, u)
    common = np.gcd(n, d)  # d > 0, so the gcd is never 0
    return Num(n // common, d // common, min(lo, 0), max(hi, 0), bd, u)


# ---- arithmetic -------------------------------------------------------------------------------------


def add(frame: Frame, a: Num, b: Num, sign: int = 1) -> Num:
    na, nb, d, (alo, ahi), (blo, bhi), bd = _pair(frame, a, b)
    lo, hi = (alo + blo, ahi + bhi) if sign == 1 else (alo - bhi, ahi - blo)
    _check(frame, max(-lo, hi))
    n = na + nb if sign == 1 else na - nb
    return Num(n, d, lo, hi, bd, _or(a.u, b.u))


def mul(frame: Frame, a: Num, b: Num) -> Num:
    if _scalar(b.n) and isinstance(b.d, int) and not _scalar(a.n):
        a, b = b, a
    if _scalar(a.n) and isinstance(a.d, int) and isinstance(b.d, int):
        # A number shared by all accounts times a scaled column: cancel what the scale allows,
        # so that `notional * rate` does not multiply the denominators needlessly.
        p, q = a.n, a.d
        g = math.gcd(p, b.d) if p else b.d
        p2, d2 = p // g, b.d // g
        lo, hi = _times(b.lo, b.hi, p2, p2)
        _check(frame, max(-lo, hi), p2)
        _check(frame, d2 * q)
        n = b.n * p2 if p2 != 1 else b.n
        return Num(n, d2 * q, lo, hi, d2 * q, _or(a.u, b.u))
    lo, hi = _times(a.lo, a.hi, b.lo, b.hi)
    _check(frame, max(-lo, hi), *_ints(a.n, b.n))
    bd = _check(frame, a.bd * b.bd, *_ints(a.d, b.d))
    if isinstance(a.d, int) and isinstance(b.d, int) and not (_scalar(a.n) and _scalar(b.n)):
        return Num(a.n * b.n, a.d * b.d, lo, hi, bd, _or(a.u, b.u))
    return _reduced(frame, a.n * b.n, a.d * b.d, lo, hi, bd, _or(a.u, b.u))


def neg(x: Num) -> Num:
    return Num(-x.n, x.d, -x.hi, -x.lo, x.bd, x.u)


def absolute(x: Num) -> Num:
    n = abs(x.n) if _scalar(x.n) else np.abs(x.n)
    if x.lo >= 0:
        return Num(n, x.d, x.lo, x.hi, x.bd, x.u)
    if x.hi <= 0:
        return Num(n, x.d, -x.hi, -x.lo, x.bd, x.u)
    return Num(n, x.d, 0, x.bn, x.bd, x.u)


def div(frame: Frame, a: Num, b: Num) -> Num:
    """a / b; undefined where b == 0 (those accounts get the placeholder 0)."""
    if _scalar(b.n) and isinstance(b.d, int):
        if b.n == 0:
            undefined = True if _scalar(a.n) else np.ones(frame.size, dtype=bool)
            return Num(0, 1, 0, 0, 1, undefined)
        sign = -1 if b.n < 0 else 1
        return mul(frame, a, Num(sign * b.d, abs(b.n), sign * b.d, sign * b.d, abs(b.n), b.u))
    zero = b.n == 0
    u = _or(_or(a.u, b.u), zero if zero.any() else None)
    bound = _check(frame, a.bn * b.bd, *_ints(a.n, a.d, b.d))
    bd = _check(frame, a.bd * b.bn)
    divisor = np.where(zero, 1, b.n)
    n = a.n * b.d * np.sign(divisor)
    d = a.d * np.abs(divisor)
    return _reduced(frame, n, d, -bound, bound, bd, u)


def minmax(frame: Frame, op: str, args: list[Num]) -> Num:
    out = args[0]
    for x in args[1:]:
        na, nb, d, (alo, ahi), (blo, bhi), bd = _pair(frame, out, x)
        if _scalar(na) and _scalar(nb):
            n = min(na, nb) if op == "min" else max(na, nb)
        else:
            n = np.minimum(na, nb) if op == "min" else np.maximum(na, nb)
        if op == "min":
            out = Num(n, d, min(alo, blo), min(ahi, bhi), bd, _or(out.u, x.u))
        else:
            out = Num(n, d, max(alo, blo), max(ahi, bhi), bd, _or(out.u, x.u))
    return out


def round_to(frame: Frame, direction: str, x: Num, step: Num) -> Num:
    """step * floor(x / step) (down) or step * ceil(x / step) (up); undefined where step <= 0."""
    q = div(frame, x, step)
    nonpositive = step.n <= 0
    if _scalar(nonpositive):
        u = _or(q.u, True if nonpositive else None)
    else:
        u = _or(q.u, nonpositive if nonpositive.any() else None)
    k = q.n // q.d if direction == "down" else -((-q.n) // q.d)
    # floor and ceiling of n / d, d >= 1, stay within one of [lo, hi] widened to take in 0
    return mul(frame, Num(k, 1, min(q.lo, 0) - 1, max(q.hi, 0) + 1, 1, u),
               Num(step.n, step.d, step.lo, step.hi, step.bd, None))


def ite(frame: Frame, c: Bool, t: Value, e: Value) -> Value:
    u = _or(c.u, _or(_mask_and(c.v, t.u), _mask_and(_not(c.v), e.u)))
    if isinstance(t, Bool) and isinstance(e, Bool):
        return Bool(_where(c.v, t.v, e.v), u)
    assert isinstance(t, Num) and isinstance(e, Num)
    if isinstance(c.v, bool):
        chosen = t if c.v else e
        return Num(chosen.n, chosen.d, chosen.lo, chosen.hi, chosen.bd, u)
    nt, ne, d, (tlo, thi), (elo, ehi), bd = _pair(frame, t, e)
    return Num(np.where(c.v, nt, ne), d, min(tlo, elo), max(thi, ehi), bd, u)


def compare(frame: Frame, op: str, a: Num, b: Num) -> Bool:
    na, nb, _, _, _, _ = _pair(frame, a, b)
    match op:
        case "<":
            v = na < nb
        case "<=":
            v = na <= nb
        case ">":
            v = na > nb
        case ">=":
            v = na >= nb
        case "==":
            v = na == nb
        case "!=":
            v = na != nb
        case _:
            raise InternalError(f"unknown comparison {op!r}")
    return Bool(bool(v) if _scalar(na) and _scalar(nb) else v, _or(a.u, b.u))


def boolean(op: str, a: Bool, b: Bool) -> Bool:
    """and / or / implies, with the undefinedness of `b` only where the Python back end evaluates b."""
    if op == "and":
        return Bool(a.v and b.v if isinstance(a.v, bool) and isinstance(b.v, bool) else a.v & b.v,
                    _or(a.u, _mask_and(a.v, b.u)))
    if op == "or":
        return Bool(a.v or b.v if isinstance(a.v, bool) and isinstance(b.v, bool) else a.v | b.v,
                    _or(a.u, _mask_and(_not(a.v), b.u)))
    if op == "implies":
        return boolean("or", Bool(_not(a.v), a.u), b)
    raise InternalError(f"unknown boolean operator {op!r}")


def _num(v: Value) -> Num:
    if not isinstance(v, Num):
        raise InternalError("a number was expected where the batch back end found a truth value")
    return v


def _bool(v: Value) -> Bool:
    if not isinstance(v, Bool):
        raise InternalError("a truth value was expected where the batch back end found a number")
    return v


