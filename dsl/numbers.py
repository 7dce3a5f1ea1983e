"""Reading a decimal number exactly, with the caps that keep it cheap.

`exact_number(text)` is the one place a number written by a person (a spec
literal, a `--param` value, a `--timeout`, a unit's power) becomes a
`Fraction`. `Fraction("1e99999999")` is a correct but ruinous request: it
builds a hundred-million-digit integer. So every reader goes through here and
gets the same limits: at most `MAX_DIGITS` digits and a power of ten of at
most ±`MAX_DIGITS`. Underscores between digits are allowed, as in the spec
language. Anything else is a `ValueError` whose message says what is wrong.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_DIGITS = 1000  # digits in a number, and the largest power of ten it may carry

_DECIMAL = re.compile(r"(?P<sign>[+-]?)(?P<int>\d*)(?:\.(?P<frac>\d*))?(?:[eE](?P<exp>[+-]?\d+))?")
_RATIO = re.compile(r"(?P<sign>[+-]?)(?P<num>\d+)/(?P<den>\d+)")
_TOO_LARGE = f"numbers are limited to {MAX_DIGITS} digits and exponents of ±{MAX_DIGITS}"


def number_or_percent(text: str) -> tuple[Fraction, bool]:
    """The exact value of `text`, which may end in `%` as in a spec (`0.5%` is 1/200), and whether it did.

    The caller decides where a percentage makes sense (a rate); the value is already divided by 100.
    """
    clean = text.strip()
    if clean.endswith("%"):
        return exact_number(clean[:-1]) / 100, True
    return exact_number(clean), False


def exact_number(text: str) -> Fraction:
    """The exact value of `text`, a decimal (`1.5`, `2e-3`, `1_000`, `.5`) or a ratio (`1/3`).

    The value is what `Fraction(text)` gives, built from integers: `Fraction`'s
    own string parsing is several times slower, which shows on a spec with
    100,000 numbers.
    """
    clean = text.strip().replace("_", "")
    if len(clean) > 3 * MAX_DIGITS:
        raise ValueError(_TOO_LARGE)
    if (ratio := _RATIO.fullmatch(clean)) is not None:
        num, den = ratio["num"], ratio["den"]
        if len(num) + len(den) > MAX_DIGITS:
            raise ValueError(_TOO_LARGE)
        if int(den) == 0:
            raise ValueError(f"{clean[:40]!r} divides by zero")
        value = Fraction(int(num), int(den))
        return -value if ratio["sign"] == "-" else value
    match = _DECIMAL.fullmatch(clean)
    whole, frac = (match["int"], match["frac"] or "") if match is not None else ("", "")
    if match is None or not (whole or frac):  # `.` and `e5` are not numbers
        raise ValueError(f"{text.strip()[:40]!r} is not a number")
    exponent = int(match["exp"] or 0)
    if len(whole) + len(frac) > MAX_DIGITS or abs(exponent) > MAX_DIGITS:
        raise ValueError(_TOO_LARGE)
    numerator = int(whole + frac)
    if match["sign"] == "-":
        numerator = -numerator
    scale = exponent - len(frac)
    return Fraction(numerator * 10**scale) if scale >= 0 else Fraction(numerator, 10**-scale)
