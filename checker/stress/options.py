"""The command line's text forms for a stress run's inputs, read exactly: `--start mark=60000`,
`--shared insurance=1e6`, `--shock mark=-50%:50%:21`, `--grid span:mark=15%`. Bad text is a
`StressInputError` that names the option and shows the expected form.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from checker.stress.errors import Place, StressInputError, shown
from dsl.numbers import exact_number, number_or_percent

SHOCK_HINT = "write NAME=LO:HI:COUNT, e.g. mark=-50%:50%:21 (21 moves from -50% to +50%)"


@dataclass(frozen=True, slots=True)
class Shock:
    """A parsed `--shock NAME=LO:HI:COUNT`."""

    input: str
    lo: Fraction
    hi: Fraction
    count: int


@dataclass(frozen=True, slots=True)
class Grid:
    """A parsed `--grid span:...`: the price scans (name `*`: every price input) and volatility scans."""

    kind: str
    scan: tuple[tuple[str, Fraction], ...]
    volatility: tuple[tuple[str, Fraction], ...] = ()


def parse_assignment(text: str, option: str = "--start") -> tuple[str, Fraction]:
    """`NAME=VALUE` (`mark=60000`, `price[BTC]=60000`, `insurance=1e6`): the name and its exact value
    (`true`/`false`, for a flag, are 1 and 0)."""
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not name:
        raise StressInputError(Place(option), f"{shown(text)} is not NAME=VALUE", f"e.g. {option} mark=60000")
    if value.strip().lower() in ("true", "false"):
        return name, Fraction(value.strip().lower() == "true")
    try:
        return name, exact_number(value)
    except ValueError as err:
        raise StressInputError(Place(option), f"{name}: {err}", "write a decimal (60000, 1.5e6) or a ratio") from None


def _relative(text: str, option: str, hint: str) -> Fraction:
    try:
        value, _ = number_or_percent(text)
    except ValueError as err:
        raise StressInputError(Place(option), f"{shown(text.strip())}: {err}", hint) from None
    return value


def parse_shock(text: str) -> Shock:
    """`NAME=LO:HI:COUNT` (`mark=-50%:50%:21`): relative moves, a percentage or a plain ratio (`-0.5`)."""
    name, eq, spec = text.partition("=")
    parts = spec.split(":")
    if not eq or not name.strip() or len(parts) != 3:
        raise StressInputError(Place("--shock"), f"{shown(text)} is not NAME=LO:HI:COUNT", SHOCK_HINT)
    lo, hi = (_relative(p, "--shock", SHOCK_HINT) for p in parts[:2])
    count = parts[2].strip()
    if not count.isdigit() or int(count) < 1 or len(count) > 6:
        raise StressInputError(Place("--shock"), f"{shown(count)} is not a count of shocks", SHOCK_HINT)
    return Shock(name.strip(), lo, hi, int(count))


_GRID_HINT = "write span:NAME=RANGE[,NAME=RANGE...][,vol:NAME=RANGE], e.g. span:mark=15%, or span:15% for every price"


def parse_grid(text: str) -> Grid:
    """`span:mark=15%` (SPAN over one input), `span:15%` (every price input), `span:mark=15%,vol:iv=25%`."""
    kind, colon, rest = text.partition(":")
    if kind.strip().lower() != "span" or not colon or not rest.strip():
        raise StressInputError(Place("--grid"), f"{shown(text)} is not a grid", _GRID_HINT)
    scan: list[tuple[str, Fraction]] = []
    vols: list[tuple[str, Fraction]] = []
    for item in rest.split(","):
        item = item.strip()
        is_vol = item.startswith("vol:")
        name, eq, value = item.removeprefix("vol:").partition("=")
        if not eq:
            name, value = "*", name
        if is_vol and name == "*":
            raise StressInputError(Place("--grid"), f"{shown(item)} names no volatility input", _GRID_HINT)
        r = _relative(value, "--grid", _GRID_HINT)
        if r <= 0:
            raise StressInputError(
                Place("--grid"), f"the scan range {shown(value.strip())} is not positive", _GRID_HINT
            )
        (vols if is_vol else scan).append((name.strip(), r))
    if not scan:
        raise StressInputError(Place("--grid"), f"{shown(text)} moves no price", _GRID_HINT)
    return Grid("span", tuple(scan), tuple(vols))


__all__ = ["SHOCK_HINT", "Grid", "Shock", "parse_assignment", "parse_grid", "parse_shock"]
