"""Source files, spans and diagnostics shared by every pass.

A `SourceFile` holds the text of one spec; a `Span` points into it. Passes
never print: they collect `Diagnostic`s and keep going, and one renderer turns
them into compiler-style messages (``file:line:col: error: ...``, the source
line, a caret under the span, and a hint).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The text of one spec and the name it is reported under.

    A line ends at `\n` (a `\r` just before it belongs to the line ending), and
    at nothing else: that is what the parser counts, so a diagnostic's
    `line:col` and its excerpt always show what the parser read. (`str.splitlines`
    would also break at `\r`, form feeds, U+2028 and others; the parser refuses
    those characters instead, see `dsl.parser`.)
    """

    path: str
    text: str
    _lines: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Split once: diagnostics on a large spec would otherwise re-split the text per excerpt.
        lines = tuple(line.removesuffix("\r") for line in self.text.split("\n"))
        object.__setattr__(self, "_lines", lines)

    @property
    def line_count(self) -> int:
        """The number of lines (a final line ending does not start another line)."""
        return len(self._lines) - (1 if self.text.endswith("\n") or not self.text else 0)

    def line(self, number: int) -> str:
        """The 1-based line `number`, without its line ending."""
        return self._lines[number - 1] if 0 < number <= len(self._lines) else ""


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open region of a source file; lines and columns are 1-based."""

    source: SourceFile = field(repr=False, compare=False)
    line: int
    col: int
    end_line: int
    end_col: int

    @property
    def where(self) -> str:
        """``path:line:col``, the prefix of every message about this span."""
        return f"{self.source.path}:{self.line}:{self.col}"

    def text(self) -> str:
        """The source text the span covers."""
        lines = [self.source.line(n) for n in range(self.line, self.end_line + 1)]
        if not lines:
            return ""
        if len(lines) == 1:
            return lines[0][self.col - 1 : self.end_col - 1]
        lines[0] = lines[0][self.col - 1 :]
        lines[-1] = lines[-1][: self.end_col - 1]
        return "\n".join(lines)


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Label:
    """A secondary span with a short explanation ("first declared here")."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about the user's spec, with where and how to fix it."""

    severity: Severity
    code: str
    message: str
    span: Span | None
    labels: tuple[Label, ...] = ()
    hint: str | None = None

    def render(self) -> str:
        """The compiler-style text of this diagnostic."""
        head = f"{self.severity.value}: {self.message} [{self.code}]"
        out = [f"{self.span.where}: {head}" if self.span else head]
        if self.span is not None:
            out.extend(_excerpt(self.span, ""))
        for label in self.labels:
            out.append(f"{label.span.where}: note: {label.message}")
            out.extend(_excerpt(label.span, ""))
        if self.hint:
            out.append(f"  = hint: {self.hint}")
        return "\n".join(out)


_WIDTH = 160  # at most this much of a source line is shown; a spec saved with lone CRs is one long line


def _excerpt(span: Span, message: str) -> list[str]:
    line = span.source.line(span.line)
    end = span.end_col if span.end_line == span.line else len(line) + 1
    start, width = span.col - 1, max(1, end - span.col)
    if len(line) > _WIDTH:
        # A window that starts a little before the span; `…` marks what is cut on either side.
        first = max(0, min(start - 20, len(line) - _WIDTH))
        left, right = ("…" if first > 0 else ""), ("…" if first + _WIDTH < len(line) else "")
        line = left + line[first : first + _WIDTH] + right
        start, width = start - first + len(left), max(1, min(width, _WIDTH - (start - first)))
    # Control characters would be invisible (or act on the terminal): show each as one U+FFFD.
    line = "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)
    number = str(span.line)
    gutter = " " * len(number)
    caret = " " * start + "^" * width
    return [f" {gutter} |", f" {number} | {line}", f" {gutter} | {caret}{message}"]


class SpecError(Exception):
    """The user's spec (or its file) has errors; carries every diagnostic."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__(self.render())

    def render(self) -> str:
        """All diagnostics, separated by blank lines, then a count."""
        body = "\n\n".join(d.render() for d in self.diagnostics)
        errors = sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)
        plural = "s" if errors != 1 else ""
        return f"{body}\n\n{errors} error{plural} found" if errors else body


class InternalError(Exception):
    """A bug in solvent itself, never the user's fault."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"internal error: {message}\n"
            "This is a bug in solvent, not in your spec. Please report it with the "
            "spec and the command line that produced it."
        )


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean `x`?" hint for a misspelt name, when one is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
