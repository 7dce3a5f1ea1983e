"""Bad input to a stress run (a population file, a price path, a command-line value): one error type.

A `StressInputError` names where the problem is as precisely as the input allows: the file, the row
(the 1-based line of a CSV file, the 1-based row of a Parquet file), the column (its name and 1-based
position) and, for a broken `where`, the spec's own location of that `where`. It renders like the
spec's diagnostics (`dsl.diagnostics.Diagnostic.render`):

    book.csv:7:2: error: column `collateral`: -5 breaks the `where` of `collateral` [where]
    examples/perp.margin:38:36: note: `collateral >= 0`
      = hint: ...

The CLI prints `render()` and exits with status 2; nothing here raises anything else on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Place:
    """Where in an input the problem is: a file (or `--option` text), a row, a column."""

    file: str
    row: int | None = None  # 1-based CSV line or Parquet row
    column: str | None = None  # the column's name as the file writes it
    index: int | None = None  # the column's 1-based position in the file

    @property
    def where(self) -> str:
        """`file:row:col`, as far as it is known (`file:row`, `file`)."""
        parts = [self.file]
        if self.row is not None:
            parts.append(str(self.row))
            if self.index is not None:
                parts.append(str(self.index))
        return ":".join(parts)


class StressInputError(Exception):
    """A stress run's input is wrong; `render()` is what the user sees (file:row:col, message, hint)."""

    def __init__(
        self,
        place: Place,
        message: str,
        hint: str | None = None,
        code: str = "stress-input",
        notes: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.place = place
        self.message = message
        self.hint = hint
        self.code = code
        self.notes = notes  # (location, text): e.g. the spec's `where` that a row breaks
        super().__init__(self.render())

    @property
    def file(self) -> str:
        return self.place.file

    @property
    def row(self) -> int | None:
        return self.place.row

    @property
    def column(self) -> str | None:
        return self.place.column

    def render(self) -> str:
        """The compiler-style text: `file:row:col: error: message [code]`, notes, then the hint."""
        column = f"column `{_name(self.place.column)}`: " if self.place.column is not None else ""
        out = [f"{_printable(self.place.where)}: error: {column}{_printable(self.message)} [{self.code}]"]
        out.extend(f"{_printable(location)}: note: {_printable(text)}" for location, text in self.notes)
        if self.hint:
            out.append(f"  = hint: {_printable(self.hint)}")
        return "\n".join(out)


def _printable(text: str) -> str:
    """`text` with every control character (a terminal escape, a newline in a column name) shown as U+FFFD."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def _name(name: str, limit: int = 60) -> str:
    """A column name from a file, as a message quotes it: printable, at most `limit` characters."""
    clean = _printable(name)
    return clean if len(clean) <= limit else clean[:limit] + f"... ({len(clean)} characters)"


def shown(text: str, limit: int = 40) -> str:
    """A cell as it is quoted in a message: at most `limit` characters, control characters made visible."""
    clean = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return repr(clean) if len(clean) <= limit else repr(clean[:limit]) + f"... ({len(clean)} characters)"


__all__ = ["Place", "StressInputError", "shown"]
