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

_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?\d+/\d+")


def exact_number(text: str) -> Fraction:
    """The exact value of `text`, a decimal (`1.5`, `2e-3`, `1_000`) or a ratio (`1/3`)."""
    clean = text.strip().replace("_", "")
    if len(clean) > 3 * MAX_DIGITS:
        raise ValueError(f"numbers are limited to {MAX_DIGITS} digits and exponents of ±{MAX_DIGITS}")
    if not _DECIMAL.fullmatch(clean):
        raise ValueError(f"{text.strip()[:40]!r} is not a number")
    mantissa, _, exponent = clean.lower().partition("e")
    digits = sum(ch.isdigit() for ch in mantissa)
    if digits > MAX_DIGITS or (exponent and abs(int(exponent)) > MAX_DIGITS):
        raise ValueError(f"numbers are limited to {MAX_DIGITS} digits and exponents of ±{MAX_DIGITS}")
    return Fraction(clean)
