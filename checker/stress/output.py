"""What a stress run writes: a table for the terminal, the JSON report, and CSV or Parquet tables.

Takes a `StressReport` (`checker.stress.model`); every number it writes is
exact, except on the terminal, where a number too long to read is shortened
and marked `≈` (the files keep it whole).

- `terminal(report)`: per scenario, the accounts liquidated, the bad debt, the
  fund's minimum and the worst account (a rich table, as text), then the notes.
- `write_json(report, path)`: `StressReport.to_json`, every number a string.
- `write_table(report, path)`: `.csv` or `.parquet` by the suffix. One row per
  scenario per step: `scenario, step, time, input.NAME..., liquidations,
  bad_debt, fund, undefined, outside_envelope, total.NAME..., shared.NAME...`
  (`input.` the scenario's inputs, `total.` each per-account state summed over
  the population, `shared.` each shared state; a name a scenario does not have
  is empty). A second file, `STEM.worst.EXT`, holds the worst accounts:
  `scenario, rank, account, loss, liquidated_at`.
  In CSV every number is its exact text (`12.5`, `1/3`; read it back with
  `checker.stress.model.read_number`). In Parquet each number column is
  `decimal128(p, s)` when every value in it is a terminating decimal that fits
  38 digits, and otherwise a string column of exact texts as in CSV; its field
  metadata says which (`exact: decimal` or `exact: text`). Counts are int64,
  `outside_envelope` is boolean, and the file's metadata has
  `written_by: solvent stress`.

Names (scenarios, accounts, times) pass through solvent's one escaping rule
(`checker.report.text`): on the terminal and in the tables a control
character, a bidirectional override or a lone surrogate is written as a
visible escape (`\\x1b`); the JSON escapes them its own way and reads back
exactly.

Files are written under the rule of `solvent check -o`
(`checker.report.files.check_target`): never over a spec being read, never
over a file the user wrote without `force`. The files this module writes are
recognised as solvent's (a rerun replaces them): the JSON by its opening keys,
the CSV tables by their header, Parquet by its metadata. Call `check_outputs`
before a long run so that a refused target fails before the work, not after.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from checker.report.files import OutputError, check_target, peek, write_target
from checker.report.text import json_safe, printable
from checker.stress.model import ScenarioResult, StressReport, number_text

MARK = "solvent stress"  # Parquet metadata `written_by`
SHORT = 20  # characters: longer numbers are shortened on the terminal
_STEP_HEAD = ("scenario", "step", "time")
_STEP_MIDDLE = ("liquidations", "bad_debt", "fund", "undefined", "outside_envelope")
_WORST_HEAD = ("scenario", "rank", "account", "loss", "liquidated_at")
_JSON_HEAD = re.compile(r'\A\{\n  "spec": "(?:[^"\\]|\\.)*",\n  "title": "(?:[^"\\]|\\.)*",\n  "population": \{')
_CSV_STEP_HEAD = re.compile(r"\Ascenario,step,time,(?:input\.[^,\r\n]+,)*liquidations,bad_debt,fund,undefined,")
_CSV_WORST_HEAD = ",".join(_WORST_HEAD)
_DECIMAL_DIGITS = 38  # decimal128's precision


# ---------------------------------------------------------------------------------------- terminal


def renderable(report: StressReport) -> Any:
    """The report for rich to print (in colour on a terminal): the table, then each scenario's notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    fund = report.fund or "fund"
    grid = Table(
        title=_text(f"{report.title}: {report.population_size} accounts ({report.population_source})"),
        title_justify="left",
    )
    for head, right in (
        ("scenario", False),
        ("steps", True),
        ("liquidated", True),
        ("bad debt", True),
        (f"{fund} min", True),
        ("worst account (loss)", False),
    ):
        grid.add_column(_text(head), justify="right" if right else "left", overflow="fold")
    # A note is said once: for every scenario, for the scenarios that share it, or for its one scenario.
    who: dict[str, list[str]] = {}
    for s in report.scenarios:
        worst = f"{s.worst[0].account} ({shorten(s.worst[0].loss)})" if s.worst else "-"
        fund_min = shorten(s.fund_min) if s.fund_min is not None else "-"
        row = (s.name, str(max(len(s.steps) - 1, 0)), str(s.liquidated), shorten(s.bad_debt), fund_min, worst)
        grid.add_row(*(_text(cell) for cell in row))
        for note in notes(s):
            who.setdefault(note, []).append(s.name)
    lines: list[Text] = []
    for note, names in who.items():
        if len(names) == len(report.scenarios) and len(names) > 1:
            lines.append(_text(f"  {note}"))
        elif len(names) > 1:
            shown = ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])}, ... {names[-1]}"
            lines.append(_text(f"  {len(names)} scenarios ({shown}): {note}"))
        else:
            lines.append(_text(f"  {names[0]}: {note}"))
    if not report.complete:
        lines.append(_text("  interrupted: only the scenarios whose every shard finished are shown"))
    return Group(grid, Text("notes:"), *lines) if lines else grid


def _text(text: str) -> Any:
    """A name or a note as rich shows it: never markup, control characters escaped (`checker.report.text`)."""
    from rich.text import Text

    return Text(printable(text, lines=False))


def terminal(report: StressReport, width: int = 110) -> str:
    """The report as plain text (`renderable`, without colour), and a footnote if a number was shortened."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False, highlight=False)
    console.print(renderable(report))
    text = "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())
    if "≈" in text:
        text += "≈: shortened for display; the JSON report and the tables are exact\n"
    return text


def notes(s: ScenarioResult) -> list[str]:
    """A scenario's notes for people: the runner's (among them the moves the proofs do not cover), then
    the undefined formulas."""
    out = list(s.notes)
    if s.undefined:
        first = s.undefined[0]
        out.append(
            f"{_many(len(s.undefined), 'account')} with an undefined formula"
            f" (first: account {first.account} at step {first.step}: {first.message})"
        )
    return out  # moves beyond the spec's env move: the runner's own note says how many and where


def _many(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def shorten(value: Fraction) -> str:
    """`value` exactly when short enough to read, else about 10 significant digits marked `≈` (display only)."""
    text = number_text(value)
    if len(text) <= SHORT:
        return text
    from decimal import localcontext

    with localcontext() as ctx:
        ctx.prec = 10
        approx = Decimal(value.numerator) / Decimal(value.denominator)
    return f"≈{approx:.10g}"


# ---------------------------------------------------------------------------------------- files


def write_json(report: StressReport, path: Path, force: bool = False, inputs: Sequence[Path] = ()) -> None:
    """The report as JSON (`StressReport.to_json`) at `path`; `OutputError` if it may not be written there."""
    text = json_safe(json.dumps(report.to_json(), indent=2, ensure_ascii=False)) + "\n"
    check_output(path, force, inputs)
    write_target(path, text, True, inputs)  # `force` already applied, with recognition of our own files


def worst_path(path: Path) -> Path:
    """Where `write_table(report, path)` puts the worst accounts: `STEM.worst.EXT` beside `path`."""
    return path.with_name(f"{path.stem}.worst{path.suffix}")


def table_paths(path: Path) -> tuple[Path, Path]:
    """The two files `write_table` writes; `OutputError` for a suffix other than .csv or .parquet."""
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise OutputError(f"{path}: a stress table is .csv or .parquet (the suffix chooses), not {path.suffix!r}")
    return path, worst_path(path)


def check_output(path: Path, force: bool = False, inputs: Sequence[Path] = ()) -> None:
    """Raise `OutputError` unless `path` may be written: `check_target`'s rule, with this module's own
    files (an earlier run's) counted as solvent's."""
    check_target(path, force or _ours(path), inputs)


def check_outputs(
    json_path: Path | None, table_path: Path | None, force: bool = False, inputs: Sequence[Path] = ()
) -> None:
    """Check every file a run will write (before the run, so that a refusal comes before the work)."""
    targets = ([json_path] if json_path is not None else []) + (list(table_paths(table_path)) if table_path else [])
    for k, target in enumerate(targets):
        check_output(target, force, inputs)
        for other in targets[:k]:
            if _same(target, other):
                raise OutputError(f"{target} would be written twice (the JSON report and a table): name two files")


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # not there yet: the same if they name the same place
        return os.path.abspath(a) == os.path.abspath(b)


def write_table(report: StressReport, path: Path, force: bool = False, inputs: Sequence[Path] = ()) -> None:
    """The steps table at `path` and the worst accounts at `worst_path(path)`, CSV or Parquet by suffix."""
    steps_path, worst = table_paths(path)
    check_output(steps_path, force, inputs)
    check_output(worst, force, inputs)
    step_columns, step_rows = _step_rows(report)
    worst_rows = _worst_rows(report)
    if steps_path.suffix.lower() == ".csv":
        write_target(steps_path, _csv(step_columns, step_rows), True, inputs)
        write_target(worst, _csv(list(_WORST_HEAD), worst_rows), True, inputs)
    else:
        _write_parquet(steps_path, step_columns, step_rows, inputs)
        _write_parquet(worst, list(_WORST_HEAD), worst_rows, inputs)


Cell = str | int | bool | Fraction | None


def _step_rows(report: StressReport) -> tuple[list[str], list[list[Cell]]]:
    inputs = _union(name for s in report.scenarios for t in s.steps for name in t.inputs)
    totals = _union(name for s in report.scenarios for t in s.steps for name in t.totals)
    shared = _union(name for s in report.scenarios for t in s.steps for name in t.shared)
    columns = [
        *_STEP_HEAD,
        *(f"input.{n}" for n in inputs),
        *_STEP_MIDDLE,
        *(f"total.{n}" for n in totals),
        *(f"shared.{n}" for n in shared),
    ]
    rows: list[list[Cell]] = []
    for s in report.scenarios:
        for k, t in enumerate(s.steps):
            time = s.times[k] if s.times is not None and k < len(s.times) else None
            rows.append(
                [
                    s.name,
                    k,
                    time,
                    *(t.inputs.get(n) for n in inputs),
                    t.liquidations,
                    t.bad_debt,
                    t.fund,
                    t.undefined,
                    t.outside_envelope,
                    *(t.totals.get(n) for n in totals),
                    *(t.shared.get(n) for n in shared),
                ]
            )
    return columns, rows


def _worst_rows(report: StressReport) -> list[list[Cell]]:
    return [
        [s.name, rank, w.account, w.loss, w.liquidated_at]
        for s in report.scenarios
        for rank, w in enumerate(s.worst, start=1)
    ]


def _union(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))  # first appearance order: the spec's order, as the runner gives it


def _csv(columns: list[str], rows: list[list[Cell]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_csv_cell(c) for c in row] for row in rows)
    return out.getvalue()


def _csv_cell(cell: Cell) -> str | int:
    match cell:
        case None:
            return ""
        case bool():
            return "true" if cell else "false"
        case int():
            return cell
        case str():
            return printable(cell, lines=False)
        case Fraction():
            return number_text(cell)
    raise AssertionError(f"unexpected cell {cell!r}")


def _write_parquet(path: Path, columns: list[str], rows: list[list[Cell]], inputs: Sequence[Path]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, fields = [], []
    for j, name in enumerate(columns):
        values = [row[j] for row in rows]
        array, metadata = _arrow_column(values)
        arrays.append(array)
        fields.append(pa.field(name, array.type, metadata=metadata))
    schema = pa.schema(fields, metadata={"written_by": MARK})
    check_output(path, True, inputs)  # again just before writing: only the spec rule and the file kind remain
    try:
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({err})") from None


def _arrow_column(values: list[Cell]) -> tuple[Any, dict[str, str] | None]:
    """One column as an Arrow array: exact numbers as decimal128 where they all fit, else exact texts."""
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if any(isinstance(v, Fraction) for v in present):
        texts = [None if v is None else number_text(_exact(v)) for v in values]
        decimal = _decimal_type([t for t in texts if t is not None])
        if decimal is None:
            return pa.array(texts, pa.string()), {"exact": "text"}
        precision, scale = decimal
        decimals = [None if t is None else Decimal(t) for t in texts]
        return pa.array(decimals, pa.decimal128(precision, scale)), {"exact": "decimal"}
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_()), None
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.int64()), None
    return pa.array([None if v is None else printable(str(v), lines=False) for v in values], pa.string()), None


def _exact(cell: Cell) -> Fraction:
    if isinstance(cell, (Fraction, int)) and not isinstance(cell, bool):
        return Fraction(cell)
    raise AssertionError(f"a number column holds {cell!r}")


def _decimal_type(texts: list[str]) -> tuple[int, int] | None:
    """(precision, scale) of a decimal128 that holds every value exactly, or None (a ratio, or too many digits)."""
    scale, whole = 0, 1
    for text in texts:
        if "/" in text:
            return None
        digits, _, places = text.lstrip("-").partition(".")
        scale = max(scale, len(places))
        whole = max(whole, len(digits.lstrip("0")) or 1)
    if whole + scale > _DECIMAL_DIGITS:
        return None
    return whole + scale, scale


# ---------------------------------------------------------------------------------------- our own files


def _ours(path: Path) -> bool:
    """Is the regular file at `path` one this module wrote (an earlier run's JSON, table or worst table)?"""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
    except OSError:
        return False
    if path.suffix.lower() == ".parquet":
        return _our_parquet(path)
    ends = peek(path)
    if ends is None:
        return False
    head = ends[0]
    first = head.split("\n", 1)[0].rstrip("\r")
    return bool(_JSON_HEAD.match(head) or _CSV_STEP_HEAD.match(first) or first == _CSV_WORST_HEAD)


def _our_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PAR1":
                return False
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # not Parquet after all, or unreadable: not ours
        return False
    return bool(metadata.get(b"written_by") == MARK.encode())
