"""Reading a stress input file into a header and raw columns: CSV through Python's `csv`, Parquet
through pyarrow. No numbers are read here (`checker.stress.population` does that, exactly); what
can go wrong with the file itself (missing, not UTF-8, empty, a row of the wrong length, a column
type that cannot be read exactly) is a `StressInputError` naming the file and the row.
"""

from __future__ import annotations

import csv
import math
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from checker.stress.errors import Place, StressInputError, shown
from checker.stress.model import Column
from dsl.numbers import exact_number

_PLAIN = re.compile(r"\s*([+-]?\d+)(?:\.(\d*))?\s*")  # the usual cell, read without building a Fraction


class CellError(Exception):
    """A cell that is not what its column needs: `index` is its 0-based position in the column."""

    def __init__(self, index: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.index, self.message, self.hint = index, message, hint


def column_from_cells(name: str, cells: Sequence[str | None], flag: bool = False) -> Column:
    """The exact `Column` of text cells (a CSV column); `CellError` names the first bad cell."""
    if flag:
        return Column(name, np.array([_flag(i, c) for i, c in enumerate(cells)], dtype=np.int64), 1)
    fast = _plain_decimals(cells)
    if fast is not None:
        return Column(name, int_array(fast[0]), fast[1])
    matches = [_PLAIN.fullmatch(c) if c is not None else None for c in cells]
    places = max((len(m[2]) for m in matches if m is not None and m[2]), default=0)
    unit = 10**places
    scale, slow = unit, {}
    for i, m in enumerate(matches):
        if m is None:  # an exponent, a ratio, underscores, or not a number at all
            value = _exact(i, cells[i])
            slow[i] = value
            scale = math.lcm(scale, value.denominator)
    if not slow and places == 0:
        ints: list[int] = [int(m[1]) for m in matches]  # type: ignore[index]  # all matched
    elif not slow:
        ints = [int(m[1] + (m[2] or "").ljust(places, "0")) for m in matches]  # type: ignore[index]
    else:
        ints = []
        for i, m in enumerate(matches):
            if m is None:
                v = slow[i]
                ints.append(v.numerator * (scale // v.denominator))
            else:
                ints.append(int(m[1] + (m[2] or "").ljust(places, "0")) * (scale // unit))
    return Column(name, int_array(ints), scale)


def _plain_decimals(cells: Sequence[str | None]) -> tuple[list[int], int] | None:
    """The integers and scale of a column of plain decimals (`-12.50`), or None if some cell is not one.

    The fast path for a large file: `int` on the digits with the point removed and the fraction padded
    to the column's places. `int` also accepts underscores (which would miscount the places), so a
    column with any goes the careful way; everything `int` refuses (`1e3`, `1/3`, `abc`, ``) does too."""
    try:
        stripped = [c.strip() for c in cells]  # type: ignore[union-attr]  # None (Parquet null) is refused first
    except AttributeError:
        return None
    if any("_" in c for c in stripped):
        return None
    parts = [c.partition(".") for c in stripped]
    places = max((len(p[2]) for p in parts), default=0)
    zeros = ["0" * k for k in range(places + 1)]
    try:
        return [int(w + f + zeros[places - len(f)]) for w, _, f in parts], 10**places
    except ValueError:
        return None


def int_array(ints: Sequence[int]) -> Any:
    """`ints` as a numpy int64 array, or an object array of Python integers when one does not fit."""
    try:
        return np.array(ints, dtype=np.int64)
    except OverflowError:
        return np.array(list(ints), dtype=object)


def _exact(i: int, cell: str | None) -> Fraction:
    if cell is None or not cell.strip():
        raise CellError(i, "the cell is empty", "every account needs a value in every column; write 0 if it is zero")
    try:
        return exact_number(cell)
    except ValueError as err:
        text = str(err)
        message = text if text.endswith("is not a number") else f"{shown(cell)} is not a number ({text})"
        raise CellError(i, message, _NUMBER_HINT) from None


_NUMBER_HINT = "write a decimal (`1250.5`, `-3`, `2e-3`) or a ratio (`1/3`), without units or thousands separators"


def _flag(i: int, cell: str | None) -> int:
    text = (cell or "").strip().lower()
    if text not in ("true", "false"):
        raise CellError(i, f"{shown(cell or '')} is not a flag", "this state is a `bool`: write `true` or `false`")
    return 1 if text == "true" else 0


@dataclass(frozen=True, slots=True)
class Table:
    """A file's header and its columns before they are read as numbers: text cells or Arrow arrays.

    `rows[i]` is the row number to report for data row i (the CSV line where it starts, the Parquet
    row); None means i + 1 (Parquet), `offset` + i otherwise."""

    file: str
    header: tuple[str, ...]
    cells: Mapping[str, Any]  # column name -> a tuple of text cells (CSV), or a pyarrow Array
    size: int
    lines: Sequence[int] | None  # CSV: the line each data row starts on
    header_line: int = 1  # CSV: the line of the header (blank lines may come first)

    def row(self, i: int) -> int:
        return self.lines[i] if self.lines is not None else i + 1

    def place(self, i: int | None, column: str | None) -> Place:
        index = self.header.index(column) + 1 if column is not None and column in self.header else None
        return Place(self.file, self.row(i) if i is not None else None, column, index)


def _open_error(file: str, err: OSError) -> StressInputError:
    if isinstance(err, FileNotFoundError):
        return StressInputError(Place(file), "no such file", "check the path", "stress-file")
    if isinstance(err, IsADirectoryError):
        return StressInputError(Place(file), "is a directory", "name a .csv or .parquet file", "stress-file")
    return StressInputError(Place(file), f"cannot be read ({err.strerror or err})", "check the path", "stress-file")


def read_csv(file: str) -> Table:
    """`file` as a `population.Table` of text cells; blank lines are skipped, a BOM is allowed."""
    header, rows, lines, header_line = read_csv_rows(file)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    cells = dict(zip(header, columns, strict=True))  # tuples of text cells
    return Table(file, tuple(header), cells, len(rows), lines, header_line)


def regular_file(file: str) -> None:
    """Raise unless `file` is a regular file: a FIFO or a device would block or never end."""
    try:
        info = os.stat(file)
    except OSError as err:
        raise _open_error(file, err) from None
    except ValueError:  # a NUL in the name
        raise StressInputError(Place(file), "is not a valid file name", "check the path", "stress-file") from None
    if stat.S_ISDIR(info.st_mode):
        raise StressInputError(Place(file), "is a directory", "name a .csv or .parquet file", "stress-file")
    if not stat.S_ISREG(info.st_mode):
        raise StressInputError(Place(file), "is not a regular file", "save the data to a file first", "stress-file")


def read_csv_rows(file: str) -> tuple[list[str], list[list[str]], list[int], int]:
    """The header (names stripped), the data rows, the line each data row starts on, the header's line."""
    regular_file(file)
    try:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            last = 0
            for row in reader:
                line, last = last + 1, reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if header is None:
                    header = [name.strip() for name in row]
                    header_line = line
                    continue
                if len(row) != len(header):
                    raise StressInputError(
                        Place(file, line),
                        f"this row has {len(row)} cells, the header (line {header_line}) has {len(header)}",
                        "every row needs one cell per column; check for a missing or an extra comma",
                        "stress-row",
                    )
                rows.append(row)
                lines.append(line)
    except OSError as err:
        raise _open_error(file, err) from None
    except UnicodeDecodeError as err:
        raise StressInputError(
            Place(file), f"is not UTF-8 text (byte {err.start})", "save the file as UTF-8 CSV", "stress-file"
        ) from None
    except csv.Error as err:
        raise StressInputError(Place(file, last + 1), f"is not valid CSV ({err})", None, "stress-file") from None
    if header is None:
        raise StressInputError(Place(file), "the file is empty", "the first line names the columns", "stress-empty")
    if not rows:
        raise StressInputError(
            Place(file, header_line), "the file has a header but no rows", "add one row per account", "stress-empty"
        )
    return header, rows, lines, header_line


def read_parquet(file: str) -> Table:
    """`file` as a `population.Table` of Arrow arrays (one chunk per column)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    regular_file(file)
    try:
        data = pq.read_table(file)
    except OSError as err:
        if isinstance(err, FileNotFoundError | IsADirectoryError):
            raise _open_error(file, err) from None
        raise StressInputError(Place(file), f"is not a Parquet file ({err})", None, "stress-file") from None
    except pa.ArrowException as err:
        raise StressInputError(Place(file), f"is not a Parquet file ({err})", None, "stress-file") from None
    if data.num_columns == 0:
        raise StressInputError(Place(file), "the file has no columns", None, "stress-empty")
    if data.num_rows == 0:
        raise StressInputError(Place(file), "the file has no rows", "add one row per account", "stress-empty")
    header = tuple(name.strip() for name in data.column_names)
    cells = {name: data.column(i).combine_chunks() for i, name in enumerate(header)}
    return Table(file, header, cells, data.num_rows, None)


def arrow_column(name: str, array: Any, flag: bool, notes: list[str]) -> Column:
    """The exact `Column` of an Arrow array: integers and decimals as they are, strings as CSV cells,
    floats as the shortest decimal that prints them (a note says so); `CellError` on a bad cell."""
    import pyarrow as pa

    kind = array.type
    if array.null_count:
        first = int(np.flatnonzero(np.asarray(array.is_null()))[0])
        raise CellError(first, "the cell is empty (null)", "every account needs a value in every column")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column_from_cells(name, array.to_pylist(), flag)
    if flag:
        if not pa.types.is_boolean(kind):
            raise CellError(0, f"a `bool` state needs a boolean (or text) column, not {kind}", None)
        return Column(name, np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.int64), 1)
    if pa.types.is_integer(kind):
        values = array.to_numpy(zero_copy_only=False)
        if values.dtype == np.uint64 and len(values) and values.max() >= 2**63:
            return Column(name, np.array([int(v) for v in array.to_pylist()], dtype=object), 1)
        return Column(name, values.astype(np.int64), 1)
    if pa.types.is_decimal(kind):
        if kind.scale >= 0:  # Arrow prints a decimal exactly, every place of its scale: the fast text path
            return column_from_cells(name, array.cast(pa.string()).to_pylist(), False)
        places = kind.scale
        return Column(name, int_array([_decimal_int(v, places) for v in array.to_pylist()]), 1)
    if pa.types.is_floating(kind):
        floats = array.to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(~np.isfinite(floats))
        if len(bad):
            value = float(floats[bad[0]])
            raise CellError(int(bad[0]), f"{value!r} is not a finite number", "a state's value is a finite number")
        if floats.dtype == np.float64:
            texts = [repr(v) for v in floats.tolist()]  # the shortest decimal that reads back as the same double
        else:  # float32 (or 16): the shortest decimal for its own precision, not for the double it widens to
            texts = [np.format_float_positional(v, unique=True, trim="-") for v in floats]
        notes.append(
            f"column `{name}` is stored as floating point; each value was read as the shortest decimal that "
            "prints it (0.1 as 1/10), which is what was most likely meant; store decimals to be sure"
        )
        return column_from_cells(name, texts, False)
    raise CellError(0, f"a column of type {kind} cannot be read as numbers", "use integer, decimal or string columns")


def _decimal_int(value: Decimal, places: int) -> int:
    """`value * 10**places` exactly (Decimal arithmetic would round to its context's precision)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # Arrow decimals are finite
    number: int = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    shift = exponent + max(places, 0)
    return number * 10**shift if shift >= 0 else number // int(10**-shift)


__all__ = [
    "CellError",
    "Table",
    "arrow_column",
    "column_from_cells",
    "int_array",
    "read_csv",
    "read_csv_rows",
    "read_parquet",
]
