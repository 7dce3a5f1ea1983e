"""Dimensions: products of declared base units with integer exponents.

`rate` is the dimensionless unit. Booleans are a separate type so that a
condition can never be added to a quantity. `POLY` is the type of a bare
number, which takes whatever unit its context needs (`collateral >= 0`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dim:
    """A product of base units, e.g. USD^1 BTC^-1; empty means dimensionless."""

    exps: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def base(name: str) -> Dim:
        return Dim(((name, 1),))

    def _combine(self, other: Dim, sign: int) -> Dim:
        out = dict(self.exps)
        for name, exp in other.exps:
            out[name] = out.get(name, 0) + sign * exp
        return Dim(tuple(sorted((n, e) for n, e in out.items() if e != 0)))

    def __mul__(self, other: Dim) -> Dim:
        return self._combine(other, 1)

    def __truediv__(self, other: Dim) -> Dim:
        return self._combine(other, -1)

    def __pow__(self, power: int) -> Dim:
        return Dim(tuple((n, e * power) for n, e in self.exps if e * power != 0))

    @property
    def dimensionless(self) -> bool:
        return not self.exps

    def __str__(self) -> str:
        if not self.exps:
            return "rate"
        num = [n if e == 1 else f"{n}^{e}" for n, e in self.exps if e > 0]
        den = [n if e == -1 else f"{n}^{-e}" for n, e in self.exps if e < 0]
        top = "*".join(num) if num else "1"
        if not den:
            return top
        return f"{top}/{den[0]}" if len(den) == 1 else f"{top}/({'*'.join(den)})"


RATE = Dim()


@dataclass(frozen=True, slots=True)
class BoolType:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True, slots=True)
class PolyType:
    """A bare number: any unit the context needs."""

    def __str__(self) -> str:
        return "number"


@dataclass(frozen=True, slots=True)
class ErrorType:
    """The type of an expression that already failed to check (never in a finished IR)."""

    def __str__(self) -> str:
        return "error"


BOOL = BoolType()
POLY = PolyType()
ERROR = ErrorType()

Ty = Dim | BoolType | PolyType | ErrorType


def is_numeric(ty: Ty) -> bool:
    return not isinstance(ty, BoolType)


def unify(a: Ty, b: Ty) -> Ty | None:
    """The common unit of two operands of `+`, `-`, a comparison or `min`; None if none."""
    if isinstance(a, ErrorType):
        return b
    if isinstance(b, ErrorType):
        return a
    if isinstance(a, BoolType) or isinstance(b, BoolType):
        return BOOL if a == b else None
    if isinstance(a, PolyType):
        return b
    if isinstance(b, PolyType):
        return a
    return a if a == b else None


def as_dim(ty: Ty) -> Dim:
    """The dimension of a numeric type; a bare number counts as dimensionless."""
    if isinstance(ty, Dim):
        return ty
    if isinstance(ty, PolyType | ErrorType):
        return RATE
    raise TypeError("a boolean has no dimension")
