"""Parameter regions as the spec writes them: names as declared, `lt[WETH]` per asset, exact decimals."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from checker.core.results import show_fraction


def bound(names: Sequence[str], op: str, value: Fraction) -> str:
    """`names[0] op value and names[1] op value ...`, the value as an exact decimal (or n/d)."""
    text = show_fraction(value)
    return " and ".join(f"{n} {op} {text}" for n in names)


def between(names: Sequence[str], lo_op: str, lo: Fraction, hi_op: str, hi: Fraction) -> str:
    """`lo lo_op name hi_op hi` for each name: where a boundary lies (`0.0034 < max_move <= 0.0035`)."""
    a, b = show_fraction(lo), show_fraction(hi)
    return " and ".join(f"{a} {lo_op} {n} {hi_op} {b}" for n in names)


def shortest_decimal(lo: Fraction, hi: Fraction) -> Fraction:
    """The decimal with the fewest places in [lo, hi] (lo <= hi), the smallest such one."""
    places = 0
    while True:
        step = Fraction(1, 10**places)
        candidate = -((-lo) // step) * step  # lo rounded up to a multiple of step
        if candidate <= hi:
            return candidate
        places += 1


def significant(value: Fraction, digits: int, down: bool) -> Fraction:
    """`value` rounded to `digits` significant decimal digits, down (towards -inf) or up."""
    if value == 0:
        return value
    exponent = 0
    magnitude = abs(value)
    while magnitude >= 10:
        magnitude /= 10
        exponent += 1
    while magnitude < 1:
        magnitude *= 10
        exponent -= 1
    step = Fraction(10) ** (exponent - digits + 1)
    return (value // step) * step if down else -((-value) // step) * step
