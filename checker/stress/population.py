"""Reading a population of accounts for a stress run from a CSV or Parquet file, exactly.

`read_population(path, program, shared)` returns a `checker.stress.model.Population`: one `Column`
per per-account state of the spec (`checker.stress.layout`: account 1's states of an `accounts N`
spec, an indexed state once per asset as `name[ASSET]`), an optional `account` column of ids, and
the starting values of the shared states (given by `shared`, CLI `--shared insurance=1000000`;
a shared state not given starts at 0 where its `where` allows 0, else it is an error).

Numbers are exact. A CSV cell is read like a spec literal (`dsl.numbers.exact_number`: `12.5`,
`-3`, `1e3`, `1/3`); each column becomes integers over one common denominator (`Column.scale`, a
power of ten for decimals), an int64 array, or an object array of Python integers where a value does
not fit in 64 bits. A flag (`bool` state) is `true`/`false`, stored as 1/0 over a scale of 1.
Parquet: integer, decimal and string columns are read exactly; a float64 column is read as the
shortest decimal that prints each value (`repr`: 0.1 is read as 1/10, not as the binary double
0.1000000000000000055...), which is what the writer most likely meant, and the `Population`
carries a note saying so (`Population.notes`) for the runner to show.

Every problem is a `StressInputError` with the file, row (CSV line, Parquet row), column and a hint;
among them a `where` of a state that a row breaks, checked on whole columns with exact integer
arithmetic (`checker.stress.layout.where_mask`; the spec's engine row by row for unusual forms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from checker.stress.errors import Place, StressInputError, shown
from checker.stress.layout import Layout, Slot, engine_failures, first_false, layout, reads, where_mask, where_of
from checker.stress.model import Column, Population, number_text
from checker.stress.tables import CellError, Table, arrow_column, column_from_cells, read_csv, read_parquet
from dsl import ir
from dsl.diagnostics import did_you_mean

ID_COLUMN = "account"


def read_population(
    path: str | Path,
    program: ir.Program,
    shared: Mapping[str, Fraction | bool] | None = None,
    start: Mapping[str, Fraction] | None = None,
    params: Mapping[str, Fraction] | None = None,
) -> Population:
    """The accounts in the CSV or Parquet file `path` for the spec `program` (see the module docstring).

    `shared`: the starting values of shared states (by name). `start`: the inputs' starting values,
    needed only when a state's `where` reads an input (`posted >= abs(position) * mark * im_rate`).
    `params`: parameter values other than the defaults (`name` or `name[ASSET]`), as the run uses them.
    Raises `StressInputError` on any problem with the file or the values."""
    lay = layout(program)
    file = str(path)
    shared_values = shared_start(program, lay, dict(shared or {}), params)
    table = read_parquet(file) if Path(file).suffix.lower() in (".parquet", ".pq") else read_csv(file)
    _check_header(table, lay)
    notes: list[str] = []
    columns: dict[str, Column] = {}
    for slot in lay.columns:
        columns[slot.name] = _column(table, slot, notes)
    # A spec may name a state `account`: then that column is the state's, and accounts go by row number.
    ids = _ids(table) if ID_COLUMN in table.header and lay.column(ID_COLUMN) is None else None
    population = Population(file, table.size, columns, shared_values, ids, tuple(notes))
    check_wheres(program, lay, population, table, dict(start or {}), params)
    return population


def _column(table: Table, slot: Slot, notes: list[str]) -> Column:
    raw = table.cells[slot.name]
    try:
        if isinstance(raw, tuple | list):
            return column_from_cells(slot.name, raw, slot.flag)
        return arrow_column(slot.name, raw, slot.flag, notes)
    except CellError as err:
        raise StressInputError(table.place(err.index, slot.name), err.message, err.hint, "stress-cell") from None


def _check_header(table: Table, lay: Layout) -> None:
    expected = [s.name for s in lay.columns]
    seen: set[str] = set()
    for name in table.header:
        if name in seen:
            raise StressInputError(
                Place(table.file, table.header_line, name, table.header.index(name) + 1),
                "appears twice in the header",
                "each state has one column; remove or rename the copy",
                "stress-column",
            )
        seen.add(name)
    for i, name in enumerate(table.header):
        if name in expected or name == ID_COLUMN:
            continue
        place = Place(table.file, table.header_line, name, i + 1)
        if any(s.name == name for s in lay.shared):
            hint = f"a shared state is one value for the venue, not per account: give it with --shared {name}=VALUE"
            raise StressInputError(place, f"`{name}` is a shared state, not a column", hint, "stress-column")
        per_asset = [s.name for s in lay.columns if s.sym.name == name and s.asset is not None]
        if per_asset:
            hint = f"one column per asset: {_listing(per_asset)}"
            raise StressInputError(place, f"`{name}` is per asset", hint, "stress-column")
        if any(s.name == name or s.sym.name == name for s in lay.inputs):
            hint = "inputs are market data: they come from the scenarios (a price path, a grid, a shock)"
            raise StressInputError(place, f"`{name}` is an input, not a state of the accounts", hint, "stress-column")
        guess = did_you_mean(name, [*expected, ID_COLUMN])
        listing = f"the columns are {_listing(expected)} and optionally `{ID_COLUMN}`"
        raise StressInputError(
            place, "is not a state of the spec", f"{guess} {listing}" if guess else listing, "stress-column"
        )
    missing = [n for n in expected if n not in seen]  # every column present is known by now
    if missing:
        what = f"the columns {_listing(missing)} are" if len(missing) > 1 else f"the column `{missing[0]}` is"
        hint = f"the spec's per-account states are {_listing(expected)}; each needs a column"
        raise StressInputError(Place(table.file, table.header_line), f"{what} missing", hint, "stress-column")


def _listing(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _ids(table: Table) -> list[str]:
    raw = table.cells[ID_COLUMN]
    ids = [str(v) if v is not None else "" for v in (raw if isinstance(raw, tuple | list) else raw.to_pylist())]
    ids = [v.strip() for v in ids]
    first: dict[str, int] = {}
    for i, v in enumerate(ids):
        if not v:
            raise StressInputError(table.place(i, ID_COLUMN), "the account id is empty", "give every account an id")
        if v in first:
            hint = f"first used on row {table.row(first[v])}; account ids name accounts in reports, so they are unique"
            raise StressInputError(table.place(i, ID_COLUMN), f"the account id {shown(v)} is used twice", hint)
        first[v] = i
    return ids


def shared_start(
    program: ir.Program,
    lay: Layout,
    given: Mapping[str, Fraction | bool],
    params: Mapping[str, Fraction] | None = None,
) -> dict[str, Fraction | bool]:
    """The shared states' starting values: those given, 0 (false for a flag) for the others where their
    `where` allows it. A flag's value is a bool (1 and 0 are read as true and false)."""
    names = [s.name for s in lay.shared]
    for name in given:
        if name not in names:
            guess = did_you_mean(name, names)
            known = f"the shared states are {_listing(names)}" if names else "the spec has no shared state"
            raise StressInputError(
                Place("--shared"), f"`{name}` is not a shared state", f"{guess} {known}" if guess else known
            )
    values: dict[str, Fraction | bool] = {}
    for slot in lay.shared:
        value = _shared_value(slot, given.get(slot.name, False if slot.flag else Fraction(0)))
        where = where_of(program, slot.name)
        if where is not None and not _scalar_where(where, program, {slot.name: value}, params):
            if slot.name in given:
                message = f"{slot.name} = {_text(value)} breaks the `where` of `{slot.name}`"
                hint = f"give a value that satisfies `{where.span.text()}`"
            else:
                message = f"the shared state `{slot.name}` needs a starting value: {_text(value)} breaks its `where`"
                hint = f"give it with --shared {slot.name}=VALUE (a value that satisfies `{where.span.text()}`)"
            raise StressInputError(
                Place("--shared"), message, hint, "stress-where", ((where.span.where, f"`{where.span.text()}`"),)
            )
        values[slot.name] = value
    return values


def _shared_value(slot: Slot, value: Fraction | bool) -> Fraction | bool:
    if not slot.flag:
        if isinstance(value, bool):
            raise StressInputError(Place("--shared"), f"`{slot.name}` is a number, not a flag", "give a number")
        return Fraction(value)
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise StressInputError(
        Place("--shared"), f"`{slot.name}` is a flag, not {number_text(value)}", "give true or false (or 1 or 0)"
    )


def _text(value: Fraction | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else number_text(value)


def _scalar_where(
    where: ir.Constraint,
    program: ir.Program,
    values: Mapping[str, Fraction | bool],
    params: Mapping[str, Fraction] | None,
) -> bool:
    """Whether `where` holds for one value per name (unsupported forms are left to the run: True)."""

    def lookup(sym: ir.Symbol, asset: str | None) -> Any:
        if sym.kind is ir.Kind.PARAM:
            return param_value(program, sym.name, asset, params)
        key = sym.name if asset is None else f"{sym.name}[{asset}]"
        return values.get(key)

    mask = where_mask(where.expr, lookup, 1, program.assets)
    return True if mask is None else bool(mask[0])


def param_value(
    program: ir.Program, name: str, asset: str | None, params: Mapping[str, Fraction] | None = None
) -> Fraction | None:
    """A parameter's value (for one asset of a per-asset one): from `params` (`name`, `name[ASSET]`),
    else its default."""
    given = params or {}
    key = name if asset is None else f"{name}[{asset}]"
    if key in given:
        return Fraction(given[key])
    for p in program.params:
        if p.sym.name == name:
            return p.default if isinstance(p.default, Fraction) else dict(p.default).get(asset or "")
    return None


def check_wheres(
    program: ir.Program,
    lay: Layout,
    population: Population,
    table: Table,
    start: Mapping[str, Fraction],
    params: Mapping[str, Fraction] | None = None,
) -> None:
    """Raise on the first row that breaks a `where` of a per-account state (exact, column by column)."""
    by_sym: dict[tuple[str, str | None], Column] = {
        (s.sym.name, s.asset): population.columns[s.name] for s in lay.columns
    }

    def lookup(sym: ir.Symbol, asset: str | None) -> Any:
        if (sym.name, asset) in by_sym:
            c = by_sym[(sym.name, asset)]
            return (c.ints, c.scale)
        if sym.kind is ir.Kind.PARAM:
            return param_value(program, sym.name, asset, params)
        key = sym.name if asset is None else f"{sym.name}[{asset}]"
        return population.shared.get(key, start.get(key))

    names = {s.sym.name for s in lay.columns}
    slow: list[ir.Constraint] = []
    for where in program.wheres:
        if where.name not in names:
            continue
        mask = where_mask(where.expr, lookup, population.size, program.assets)
        if mask is None:
            slow.append(where)
            continue
        bad = first_false(mask)
        if bad is not None:
            raise _where_error(table, lay, population, where, bad, int(np.count_nonzero(~mask)))
    if slow:
        _check_slow(program, lay, population, table, start, slow, params)


def _check_slow(
    program: ir.Program,
    lay: Layout,
    population: Population,
    table: Table,
    start: Mapping[str, Fraction],
    slow: list[ir.Constraint],
    params: Mapping[str, Fraction] | None,
) -> None:
    inputs: dict[str, Fraction] = {}
    for slot in lay.inputs:
        if slot.name in start:
            inputs[slot.name] = start[slot.name]
        elif any(slot.sym.name in reads(w.expr, ir.Kind.INPUT) for w in slow):
            where = next(w for w in slow if slot.sym.name in reads(w.expr, ir.Kind.INPUT))
            raise StressInputError(
                Place(table.file),
                f"the `where` of `{where.name}` reads the input `{slot.name}`, which has no starting value",
                f"give it with --start {slot.name}=VALUE so that every account's `where` can be checked",
                "stress-start",
                ((where.span.where, f"`{where.span.text()}`"),),
            )
        else:
            inputs[slot.name] = Fraction(1)  # read by no `where` checked here

    def row(i: int) -> dict[str, Any]:
        return {
            name: (bool(c.ints[i]) if _is_flag(lay, name) else c.value(i)) for name, c in population.columns.items()
        }

    failed = engine_failures(program, row, population.size, population.shared, inputs, params)
    if failed is None:
        return
    i, text = failed
    named = [w for w in (*slow, *program.wheres) if f"`{w.name}`" in text]
    where = named[0] if named else slow[0]
    if where.name not in {s.sym.name for s in lay.columns}:
        # The engine checks every `where`; this one is an input's (or a shared state's): not the row's fault.
        what = "input" if where.name in {s.sym.name for s in lay.inputs} else "shared state"
        raise StressInputError(
            Place("--start" if what == "input" else "--shared"),
            f"the starting value of the {what} `{where.name}` breaks its `where`",
            f"the accounts' `where`s are checked on the spec's engine at the starting inputs: give "
            f"--start {where.name}=VALUE (or --shared) that satisfies `{where.span.text()}`",
            "stress-start",
            ((where.span.where, f"`{where.span.text()}`"),),
        )
    raise _where_error(table, lay, population, where, i, None)


def _culprit(where: ir.Constraint, lay: Layout, population: Population, i: int) -> str | None:
    """The column of the asset for which `all(a in assets: ...)` fails on row i (`supplied[WBTC]`)."""
    if not (isinstance(where.expr, ir.Quant) and where.expr.kind == "all"):
        return None
    columns = {(s.sym.name, s.asset): population.columns[s.name] for s in lay.columns}

    def lookup(sym: ir.Symbol, asset: str | None) -> Any:
        c = columns.get((sym.name, asset))
        return (c.ints[i : i + 1], c.scale) if c is not None else population.shared.get(sym.name)

    for asset in population_assets(lay):
        mask = where_mask(where.expr.body, lookup, 1, (), {where.expr.var: asset})
        if mask is not None and not mask[0]:
            return f"{where.name}[{asset}]" if f"{where.name}[{asset}]" in population.columns else None
    return None


def population_assets(lay: Layout) -> list[str]:
    """The assets the columns name, in order."""
    return list(dict.fromkeys(s.asset for s in lay.columns if s.asset is not None))


def _is_flag(lay: Layout, name: str) -> bool:
    slot = lay.column(name)
    return slot is not None and slot.flag


def _where_error(
    table: Table, lay: Layout, population: Population, where: ir.Constraint, i: int, count: int | None
) -> StressInputError:
    read = reads(where.expr, ir.Kind.STATE)
    cols = [s.name for s in lay.columns if s.sym.name in read]
    values = ", ".join(f"{n} = {number_text(population.columns[n].value(i))}" for n in cols)
    others = ""
    if count and count > 1:
        others = " (and so does 1 other row)" if count == 2 else f" (and so do {count - 1:,} other rows)"
    first = _culprit(where, lay, population, i) or next(
        (n for n in cols if n.partition("[")[0] == where.name), cols[0] if cols else None
    )
    account = f" (account {shown(population.ids[i])})" if population.ids is not None else ""
    message = f"{values}{account} breaks the `where` of `{where.name}`{others}"
    hint = "fix the value, or check the units and signs of this column (the spec states them in `where`)"
    return StressInputError(
        table.place(i, first), message, hint, "stress-where", ((where.span.where, f"`{where.span.text()}`"),)
    )


__all__ = ["ID_COLUMN", "check_wheres", "param_value", "read_population", "shared_start"]
