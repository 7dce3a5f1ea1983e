"""The scenarios of a stress run: paths of the spec's inputs, exact, from a file or from a rule.

- `read_price_path(path, program)`: a historical path from a CSV file, a `time` column (ISO 8601
  or integer seconds) and one column per input it moves (`mark`, `price[BTC]`);
- `span_grid(program, start, scan)`: CME SPAN's 16 risk scenarios over a price scan range;
- `uniform_shocks(program, start, input, lo, hi, count)`: `count` relative moves from lo to hi;
- `parse_assignment`, `parse_shock`, `parse_grid`: the command line's text forms
  (`mark=60000`, `mark=-50%:50%:21`, `span:mark=15%`; defined in `checker.stress.options`), and
  `grid_scenarios` for a parsed grid.

Every value is a `Fraction`; a move is `start * (1 + r)` exactly, split into `steps` equal exact
steps when asked. A value that breaks the input's `where` (`mark > 0`: a price cannot reach zero)
is refused with a `StressInputError`, like every other problem (file, row, column, hint).
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from checker.stress.errors import Place, StressInputError, shown
from checker.stress.layout import Slot, first_false, layout, where_mask, where_of
from checker.stress.model import Scenario, number_text
from checker.stress.options import SHOCK_HINT, Grid, Shock, parse_assignment, parse_grid, parse_shock
from checker.stress.population import param_value
from checker.stress.tables import CellError, column_from_cells, read_csv_rows
from dsl import ir
from dsl.diagnostics import did_you_mean
from dsl.units import Dim

TIME = "time"
_SECONDS = re.compile(r"[+-]?[0-9]{1,15}")  # integer seconds (ASCII digits: `int` would take others too)
GAP_FACTOR = 10  # a step more than this many times the path's median step is a gap
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---- the spec's inputs by name ---------------------------------------------------------------------


def input_slots(program: ir.Program, name: str, place: Place) -> list[Slot]:
    """The inputs `name` moves: one (`mark`, `price[BTC]`), or every asset of an indexed one (`price`)."""
    slots = layout(program).inputs
    exact = [s for s in slots if s.name == name]
    if exact:
        return exact
    every = [s for s in slots if s.sym.name == name]
    if every:
        return every
    names = [s.name for s in slots]
    guess = did_you_mean(name, [*names, *{s.sym.name for s in slots}])
    known = f"the spec's inputs are {', '.join(f'`{n}`' for n in names)}" if names else "the spec has no inputs"
    hint = f"{guess} {known}" if guess else known
    raise StressInputError(place, f"`{name}` is not an input of the spec", hint, "stress-column")


def price_inputs(program: ir.Program) -> list[Slot]:
    """The inputs that are prices: a unit with a unit above and one below the line (`USD/BTC`)."""
    out = []
    for s in layout(program).inputs:
        exps = [e for _, e in s.sym.ty.exps] if isinstance(s.sym.ty, Dim) else []
        if any(e > 0 for e in exps) and any(e < 0 for e in exps):
            out.append(s)
    return out


def _start(start: Mapping[str, Fraction], slot: Slot, place: Place) -> Fraction:
    if slot.name not in start:
        raise StressInputError(
            place,
            f"the input `{slot.name}` has no starting value",
            f"give it with --start {slot.name}=VALUE; a scenario moves an input from where it starts",
            "stress-start",
        )
    return Fraction(start[slot.name])


def check_inputs(
    program: ir.Program,
    paths: Mapping[Slot, Sequence[Fraction]],
    start: Mapping[str, Fraction],
    place: Callable[[int, Slot], Place],
    what: str,
    params: Mapping[str, Fraction] | None = None,
) -> None:
    """Raise at the first step where a moved input's value breaks its `where` (exact, on whole paths).

    `paths`: each moved input's values, step by step; an input (or an asset) not moved reads its
    `start` value. `place(step, slot)` says where to point; `what` names the path in the message."""
    length = len(next(iter(paths.values())))
    columns: dict[tuple[str, str | None], tuple[list[int], int]] = {}
    for slot, values in paths.items():
        scale = math.lcm(*(v.denominator for v in values))
        columns[(slot.sym.name, slot.asset)] = ([int(v * scale) for v in values], scale)

    def lookup(sym: ir.Symbol, asset: str | None) -> Any:
        if sym.kind is ir.Kind.PARAM:
            return param_value(program, sym.name, asset, params)
        if (sym.name, asset) in columns:
            ints, scale = columns[(sym.name, asset)]
            return (np.array(ints, dtype=object), scale)
        return start.get(sym.name if asset is None else f"{sym.name}[{asset}]")

    for sym_name in dict.fromkeys(slot.sym.name for slot in paths):
        where = where_of(program, sym_name)
        if where is None:
            continue
        mask = where_mask(where.expr, lookup, length, program.assets)
        bad = None if mask is None else first_false(mask)
        if bad is None:
            continue
        moved = [slot for slot in paths if slot.sym.name == sym_name]
        shown_values = ", ".join(f"{slot.name} = {number_text(paths[slot][bad])}" for slot in moved)
        raise StressInputError(
            place(bad, moved[0]),
            f"{what}: {shown_values} breaks the `where` of `{sym_name}`",
            "every value of an input must satisfy its `where` (a price stays positive); check the values or "
            "make the move smaller",
            "stress-where",
            ((where.span.where, f"`{where.span.text()}`"),),
        )


def _path(start: Fraction, target: Fraction, steps: int) -> list[Fraction]:
    """start, then `steps` equal exact steps to target."""
    return [start + (target - start) * k / steps for k in range(steps + 1)]


def _scenario(
    program: ir.Program,
    start: Mapping[str, Fraction],
    name: str,
    slots: Sequence[Slot],
    starts: Sequence[Fraction],
    targets: Sequence[Fraction],
    steps: int,
    place: Place,
    weight: Fraction | None = None,
) -> Scenario:
    paths = [_path(s, t, steps) for s, t in zip(starts, targets, strict=True)]
    check_inputs(program, dict(zip(slots, paths, strict=True)), start, lambda _i, _s: place, f"scenario {name!r}")
    rows = tuple(tuple(p[k] for p in paths) for k in range(steps + 1))
    return Scenario(name, tuple(s.name for s in slots), rows, None, weight)


def _steps(steps: int, place: Place) -> int:
    if steps < 1:
        raise StressInputError(place, f"{steps} steps: a move takes at least one step", "use --steps 1 or more")
    return steps


# ---- SPAN ---------------------------------------------------------------------------------------
# CME Group, "CME SPAN: Standard Portfolio Analysis of Risk" (SPAN methodology overview,
# cmegroup.com/clearing/risk-management/span-overview.html) and "SPAN Methodology": 16 risk scenarios
# per contract; the underlying price unchanged, up and down by 1/3, 2/3 and 3/3 of the price scan
# range, each with volatility up and down (scenarios 1-14), and two extreme moves of 3 times the
# price scan range, volatility unchanged, of which 35% of the loss counts (scenarios 15-16).
SPAN_SCENARIOS: tuple[tuple[int, Fraction, int, Fraction], ...] = (  # number, share of the range, vol, weight
    (1, Fraction(0), 1, Fraction(1)),
    (2, Fraction(0), -1, Fraction(1)),
    (3, Fraction(1, 3), 1, Fraction(1)),
    (4, Fraction(1, 3), -1, Fraction(1)),
    (5, Fraction(-1, 3), 1, Fraction(1)),
    (6, Fraction(-1, 3), -1, Fraction(1)),
    (7, Fraction(2, 3), 1, Fraction(1)),
    (8, Fraction(2, 3), -1, Fraction(1)),
    (9, Fraction(-2, 3), 1, Fraction(1)),
    (10, Fraction(-2, 3), -1, Fraction(1)),
    (11, Fraction(1), 1, Fraction(1)),
    (12, Fraction(1), -1, Fraction(1)),
    (13, Fraction(-1), 1, Fraction(1)),
    (14, Fraction(-1), -1, Fraction(1)),
    (15, Fraction(3), 0, Fraction(35, 100)),
    (16, Fraction(-3), 0, Fraction(35, 100)),
)


def span_grid(
    program: ir.Program,
    start: Mapping[str, Fraction],
    scan: Mapping[str, Fraction],
    steps: int = 1,
    volatility: Mapping[str, Fraction] | None = None,
) -> tuple[Scenario, ...]:
    """SPAN's 16 scenarios: each input in `scan` (`{"mark": 15%}`, relative) moves by the scenario's
    share of its range; each input in `volatility` (a volatility input and its relative scan range)
    moves up or down by its range. Without `volatility` the spec's rules see no volatility: the
    names mark it with a star (`SPAN 3: mark +5%, vol up*`), and the pairs that differ only in
    volatility move prices alike. The extreme moves are `SPAN 15: mark +45%, extreme (35%)`: 35% of
    their loss counts in SPAN's own sum (the report shows the whole loss)."""
    place = Place("--grid")
    steps = _steps(steps, place)
    if not scan:
        raise StressInputError(place, "the grid names no input to move", "e.g. --grid span:mark=15%")
    moved = [(s, r) for name, r in scan.items() for s in input_slots(program, name, place)]
    vols = [(s, r) for name, r in (volatility or {}).items() for s in input_slots(program, name, place)]
    out = []
    for number, share, vol, weight in SPAN_SCENARIOS:
        slots = [s for s, _ in moved] + ([s for s, _ in vols] if vol else [])
        starts = [_start(start, s, place) for s in slots]
        factors = [1 + share * r for _, r in moved] + ([1 + vol * r for _, r in vols] if vol else [])
        targets = [s * f for s, f in zip(starts, factors, strict=True)]
        moves = ", ".join(f"{s.name} {_signed(share * r) if share else 'unchanged'}" for s, r in moved)
        # Short names: they head the report's rows. Without a volatility input, "vol up*" (the star:
        # not modelled) is said once in the grid's docs and the command's help, not in every name.
        vol_text = f", vol {'up' if vol > 0 else 'down'}" + ("" if vols else "*") if vol else ", extreme (35%)"
        name = f"SPAN {number}: {moves}{vol_text}"
        out.append(_scenario(program, start, name, slots, starts, targets, steps, place, weight))
    return tuple(out)


def _signed(r: Fraction) -> str:
    return ("+" if r >= 0 else "-") + number_text(abs(r) * 100) + "%"


# ---- uniform shocks -----------------------------------------------------------------------------


def uniform_shocks(
    program: ir.Program,
    start: Mapping[str, Fraction],
    input: str,
    lo: Fraction,
    hi: Fraction,
    count: int,
    steps: int = 1,
) -> tuple[Scenario, ...]:
    """`count` scenarios moving `input` (every asset of an indexed one alike) by relative amounts
    evenly spaced from `lo` to `hi` (`-1/2` is -50%), each over `steps` equal exact steps."""
    place = Place("--shock")
    steps = _steps(steps, place)
    if count < 1 or (count == 1 and lo != hi):
        raise StressInputError(place, f"{count} shocks from {_signed(lo)} to {_signed(hi)}", SHOCK_HINT)
    if lo > hi:
        raise StressInputError(place, f"the range {_signed(lo)} to {_signed(hi)} is backwards", SHOCK_HINT)
    slots = input_slots(program, input, place)
    starts = [_start(start, s, place) for s in slots]
    out = []
    for k in range(count):
        r = lo + (hi - lo) * k / (count - 1) if count > 1 else lo
        targets = [s * (1 + r) for s in starts]
        out.append(_scenario(program, start, f"shock {input} {_signed(r)}", slots, starts, targets, steps, place))
    return tuple(out)


def grid_scenarios(
    program: ir.Program, start: Mapping[str, Fraction], grid: Grid, steps: int = 1
) -> tuple[Scenario, ...]:
    """The scenarios of a parsed grid (`*` expands to every price input of the spec)."""
    scan: dict[str, Fraction] = {}
    for name, r in grid.scan:
        if name == "*":
            prices = price_inputs(program)
            if not prices:
                raise StressInputError(Place("--grid"), "the spec has no price input", "name the input: span:NAME=15%")
            scan.update({s.name: r for s in prices})
        else:
            scan[name] = r
    return span_grid(program, start, scan, steps, dict(grid.volatility))


# ---- price paths from a file ----------------------------------------------------------------------


def read_price_path(
    path: str | Path, program: ir.Program, allow_gaps: bool = False, params: Mapping[str, Fraction] | None = None
) -> Scenario:
    """A historical path from the CSV file `path` (see the module docstring); `allow_gaps` accepts a
    step more than `GAP_FACTOR` times the median step (a missing stretch of data); `params`: parameter
    values other than the defaults, for a `where` that reads one."""
    file = str(path)
    header, rows, lines, header_line = read_csv_rows(file)
    if TIME not in header:
        guess = did_you_mean(TIME, header)
        hint = f"the first column is usually `{TIME}`: ISO 8601 (2020-03-12T00:00:00Z) or integer seconds"
        raise StressInputError(Place(file, header_line), f"no `{TIME}` column", f"{guess} {hint}" if guess else hint)
    slots: list[Slot] = []
    for i, name in enumerate(header):
        place = Place(file, header_line, name, i + 1)
        if name == TIME:
            continue
        if header.index(name) != i:
            raise StressInputError(place, "appears twice in the header", "give each input one column")
        found = input_slots(program, name, place)
        if len(found) > 1:
            raise StressInputError(
                place, f"`{name}` is per asset", f"one column per asset: {', '.join(s.name for s in found)}"
            )
        slots.extend(found)
    if not slots:
        raise StressInputError(
            Place(file, header_line), "the path moves no input", "add a column per input, e.g. `mark`"
        )
    if len(rows) < 2:
        raise StressInputError(Place(file, lines[0]), "a path needs at least 2 rows (a start and a move)", None)
    times = _times(file, header.index(TIME), [r[header.index(TIME)] for r in rows], lines, allow_gaps)
    columns = []
    for slot in slots:
        j = header.index(slot.name)
        cells = [r[j] for r in rows]
        try:
            column = column_from_cells(slot.name, cells)
        except CellError as err:
            empty = "every row of a path needs a value for each input it moves"
            raise StressInputError(
                Place(file, lines[err.index], slot.name, j + 1),
                err.message,
                empty if "empty" in err.message else err.hint,
                "stress-cell",
            ) from None
        columns.append([column.value(i) for i in range(len(rows))])
    check_inputs(
        program,
        dict(zip(slots, columns, strict=True)),
        {},
        lambda i, slot: Place(file, lines[i], slot.name, header.index(slot.name) + 1),
        "the path",
        params,
    )
    steps = tuple(tuple(col[i] for col in columns) for i in range(len(rows)))
    return Scenario(Path(file).stem, tuple(s.name for s in slots), steps, tuple(times))


def _times(file: str, j: int, cells: list[str], lines: list[int], allow_gaps: bool) -> list[str]:
    """The cells of the `time` column, checked: readable, strictly increasing, no gaps."""

    def place(i: int) -> Place:
        return Place(file, lines[i], TIME, j + 1)

    # The first time says which form the column uses; every other row must use the same.
    seconds = bool(_SECONDS.fullmatch(next((c.strip() for c in cells if c.strip()), "")))
    micros: list[int] = []
    for i, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            raise StressInputError(place(i), "the time is empty", "every row needs a time", "stress-time")
        if seconds:
            if not _SECONDS.fullmatch(text):
                hint = "the first row gives integer seconds; write every time so (or ISO 8601 in every row)"
                raise StressInputError(place(i), f"{shown(text)} is not a whole number of seconds", hint, "stress-time")
            micros.append(int(text) * 10**6)
            continue
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            hint = "write ISO 8601 (2020-03-12T09:30:00Z) in every row, or integer seconds in every row"
            raise StressInputError(place(i), f"{shown(text)} is not a time", hint, "stress-time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # a time without a zone is read as UTC
        micros.append((moment - _EPOCH) // timedelta(microseconds=1))
    for i in range(1, len(micros)):
        if micros[i] == micros[i - 1]:
            raise StressInputError(
                place(i),
                f"the time {shown(cells[i].strip())} repeats line {lines[i - 1]}",
                "one row per time",
                "stress-time",
            )
        if micros[i] < micros[i - 1]:
            hint = "sort the file by time, oldest first"
            raise StressInputError(
                place(i), f"the time {shown(cells[i].strip())} is before line {lines[i - 1]}'s", hint, "stress-time"
            )
    gaps = [b - a for a, b in itertools.pairwise(micros)]
    usual = statistics.median_low(gaps)
    if not allow_gaps:
        for i, gap in enumerate(gaps, start=1):
            if gap > GAP_FACTOR * usual:
                message = (
                    f"a gap: {_duration(gap)} since line {lines[i - 1]}, the path's usual step is {_duration(usual)}"
                )
                hint = "fill in the missing data, or pass --allow-gaps to take the gap as one move"
                raise StressInputError(place(i), message, hint, "stress-gap")
    return [c.strip() for c in cells]


def _duration(micros: int) -> str:
    return f"{number_text(Fraction(micros, 10**6))} s"


__all__ = [
    "GAP_FACTOR",
    "SPAN_SCENARIOS",
    "Grid",
    "Shock",
    "grid_scenarios",
    "input_slots",
    "parse_assignment",
    "parse_grid",
    "parse_shock",
    "price_inputs",
    "read_price_path",
    "span_grid",
    "uniform_shocks",
]
