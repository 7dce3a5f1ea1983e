"""Numbers at the edge of conformance testing: what is sent to an implementation and read back, exactly.

Sent: decimal strings (`"50000"`, `"-0.125"`), never floats, so that every
implementation, in any language, reads exactly the case that was generated.
Read back: ints, Decimals, Fractions, decimal or `p/q` strings, and floats,
each converted exactly (`Fraction(0.1)` is 0.1000000000000000055511151231257827...),
so that float error is visible, not rounded away (spec/conformance.md §2).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

PLACES = 8  # a generated value without a finite decimal expansion is rounded to this many places
_SHOWN_DIGITS = 60  # an exact decimal longer than this is shown approximately, with its exact fraction


def decimal_text(x: Fraction) -> str | None:
    """`x` as an exact decimal string ("-12.5"), or None when it has no finite decimal expansion (1/3)."""
    d, twos, fives = x.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    if d != 1:
        return None
    places = max(twos, fives)
    scaled = abs(x.numerator) * 10**places // x.denominator
    digits = str(scaled).rjust(places + 1, "0")
    text = digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"
    return f"-{text}" if x < 0 else text


def decimalize(x: Fraction, places: int = PLACES) -> Fraction:
    """`x` when it has a finite decimal expansion, else `x` rounded half-even to `places` decimals."""
    if decimal_text(x) is not None:
        return x
    return Fraction(round(x * 10**places), 10**places)


def show(x: Fraction | bool) -> str:
    """A value for a person: exact decimal when it is short enough, else approximate with the exact fraction."""
    if isinstance(x, bool):
        return "true" if x else "false"
    text = decimal_text(x)
    if text is not None and len(text) <= _SHOWN_DIGITS:
        return text
    approx = f"{float(x):.17g}" if abs(x) < 10**300 else "(huge)"
    return f"≈ {approx} (exactly {x.numerator}/{x.denominator})"


def read_number(value: object) -> Fraction | None:
    """An implementation's number, exactly; None when not finite (nan, inf); TypeError or ValueError if not a number."""
    if isinstance(value, bool):
        raise TypeError("a flag (true/false) where a number was expected")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return Fraction(value) if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 1000:
            raise ValueError("a number of more than 1000 characters")
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            return None
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{_short(value)} is not a number") from None
    raise TypeError(f"a {type(value).__name__} where a number was expected")


def read_flag(value: object) -> bool:
    """An implementation's flag: a bool, or the text "true"/"false"; TypeError if not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TypeError(f"{_short(value)} where true or false was expected")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
