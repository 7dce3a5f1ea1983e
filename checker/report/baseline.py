"""Accepted findings: a baseline of VIOLATED results a team has looked at and accepts, each with a reason.

A faithful spec of a real venue can have a violation the venue lives with (a
documented risk, a fix scheduled upstream). Listed in a baseline, it is still
checked and still reported, as ACCEPTED with its reason, but it does not fail
the run. An entry that no longer matches a violation (the check is proved now,
or the result was renamed) is STALE: reported, and a failure with `fail-stale`.

Entries live in `[[tool.solvent.accept]]` tables of the nearest pyproject.toml,
in a file of `[[accept]]` tables (`--baseline FILE`, or `baseline = "FILE"` in
`[tool.solvent]`), or both. Each has exactly these keys:

    [[accept]]
    spec = "specs/perp.margin"     # relative to the file holding the entry
    check = "gap-safety"           # the check id
    name = "gap-safety: move"      # the result's line-free name, as in JUnit
    reason = "the venue caps moves by circuit breaker; see RISK-12"

The identity (spec, check, name) is the JUnit test name's (`junit_names`): it
does not change when lines move. A missing or empty key, an unknown key, a
value of the wrong type, an unknown check id or an entry given twice is a
located diagnostic (`FILE:LINE:COL`, code `baseline`, a hint), exit status 2,
before anything is checked.

`--write-baseline` appends an entry for each unaccepted violation of the run,
with the reason `TODO: say why this is accepted`: existing text (entries,
reasons, comments) is never rewritten, and the file is read back before it is
written, so that a write never leaves it unreadable.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from checker.core.results import Acceptance, Verdict
from checker.report.render import SpecReport, junit_names
from dsl.diagnostics import Diagnostic, Label, Severity, SourceFile, Span, SpecError, did_you_mean

CODE = "baseline"
KEYS = ("spec", "check", "name", "reason")
TODO = "TODO: say why this is accepted"
_FILE_HEAD = (
    "# solvent baseline: VIOLATED results this project accepts, each with its reason.\n"
    "# Matched by spec, check and name (the JUnit test name); `solvent check` reports them as ACCEPTED.\n"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One accepted violation: the spec (resolved), the check id, the result's line-free name, the reason."""

    spec: Path
    check: str
    name: str
    reason: str
    where: str  # "FILE:LINE:COL" of the entry, for messages and reports
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Baseline:
    """Every entry found, and where `--write-baseline` appends (the baseline file, else the pyproject.toml)."""

    entries: tuple[Entry, ...] = ()
    target: Path | None = None
    in_pyproject: bool = False  # the target is a pyproject.toml: entries go in `[[tool.solvent.accept]]`
    pyproject: Path | None = None  # where the entries were read from, to read them again after a write
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class Stale:
    """An entry that matched no VIOLATED result of the run: what the result is now, and whether that fails."""

    entry: Entry
    now: str  # "PROVED", "UNKNOWN", "SKIPPED", "no result of this name", "the spec does not exist"
    fails: bool

    def message(self) -> str:
        """One line saying which entry is stale and why, for every report format."""
        e = self.entry
        now = f"now {self.now}" if self.now.isupper() else self.now
        return f"stale baseline entry at {e.where} ({e.name}): matches no violation, {now}; remove it"


def load_baseline(pyproject: Path | None, file: Path | None, must_exist: bool = True) -> Baseline:
    """The entries of `[[tool.solvent.accept]]` in `pyproject` and of `[[accept]]` in `file` (either may be None).

    Raises `SpecError` (code `baseline`) with every malformed entry located. `file` missing is an error
    when `must_exist` (reading a baseline that is not there is a typo), not when it is about to be written.
    """
    entries: list[Entry] = []
    problems: list[Diagnostic] = []
    if pyproject is not None:
        source, doc = _read(pyproject, problems)
        if source is not None and doc is not None:
            tool = doc.get("tool")
            table = tool.get("solvent") if isinstance(tool, dict) else None
            if isinstance(table, dict) and "accept" in table:
                entries += _entries(source, table["accept"], r"tool\s*\.\s*solvent\s*\.\s*accept", pyproject, problems)
    if file is not None and (must_exist or file.exists()):
        source, doc = _read(file, problems)
        if source is not None and doc is not None:
            for key in doc:
                if key != "accept":
                    hint = "a baseline file holds only `[[accept]]` tables (spec, check, name, reason)"
                    span = _key_span(source, key, 0, len(source.text))
                    problems.append(_error(source, span, f"unknown key `{key}`", hint))
            entries += _entries(source, doc.get("accept", []), "accept", file, problems)
    seen: dict[tuple[Path, str, str], Entry] = {}
    for e in entries:
        first = seen.setdefault((e.spec, e.check, e.name), e)
        if first is not e:
            labels = (Label(first.span, "first accepted here"),) if first.span is not None else ()
            message = f"`{e.name}` of {e.spec.name} is accepted twice"
            problems.append(Diagnostic(Severity.ERROR, CODE, message, e.span, labels, hint="keep one entry"))
    if problems:  # in file order, as a spec's diagnostics are
        raise SpecError(sorted(problems, key=lambda d: (d.span is not None, _order(d.span))))
    if file is not None:
        return Baseline(tuple(entries), file, False, pyproject, file)
    return Baseline(tuple(entries), pyproject, pyproject is not None, pyproject, None)


def for_run(option: str | None, write: str | None, start: Path) -> Baseline:
    """The baseline of a `solvent check` run: `--baseline` (or `baseline = ...`) and `--write-baseline [FILE]`.

    `write` is None without `--write-baseline`, "" for it without a FILE. The entries are read before
    anything is checked (a malformed one stops the run: `SpecError`); a contradiction between the two
    options, or nowhere to write, is a `ValueError` (a usage error).
    """
    from checker.settings import find_pyproject

    if write and option and _resolved(write) != _resolved(option):
        raise ValueError(f"--write-baseline {write} and --baseline {option} name two files; name one")
    name = option or write or None
    if name and Path(name).suffix == ".margin":
        raise ValueError(f"{name} is a spec being read, not a baseline; a baseline is a TOML file of [[accept]] tables")
    baseline = load_baseline(find_pyproject(start), Path(name) if name else None, must_exist=write is None)
    if write is not None and baseline.target is None:
        raise ValueError("--write-baseline: no pyproject.toml here or above to hold the entries; name a FILE")
    if write is not None and baseline.target is not None and not baseline.target.parent.is_dir():
        raise ValueError(f"--write-baseline {baseline.target}: the directory {baseline.target.parent} does not exist")
    return baseline


def settle(
    reports: Sequence[SpecReport], baseline: Baseline, only: Sequence[str], fail_stale: bool, write: bool,
    inputs: Sequence[Path] = (),
) -> tuple[list[Stale], int, str | None]:
    """Apply `baseline` to a finished run; with `write`, also append the run's other violations to it.

    Returns the stale entries, the number of entries written and why the write failed (None when it did
    not): a failed write leaves the run's report as the baseline it had makes it.
    """
    stale = apply_baseline(reports, baseline, only, fail_stale)
    try:
        written = write_entries(baseline, new_entries(reports), inputs) if write else 0
    except ValueError as err:
        return stale, 0, str(err)
    if written:  # read back what was written: the report shows the new entries as accepted
        stale = apply_baseline(reports, load_baseline(baseline.pyproject, baseline.file), only, fail_stale)
    return stale, written, None


def apply_baseline(
    reports: Sequence[SpecReport], baseline: Baseline, only: Sequence[str] = (), fail_stale: bool = False
) -> list[Stale]:
    """Mark the accepted violations in `reports` (in place) and return every stale entry.

    Each report's own stale entries are also put in its `stale`. An entry is judged only when its spec
    was checked here without an error or a bug, and its check ran (`only`); or when its spec is gone.
    """
    by_spec: dict[Path, list[Entry]] = {}
    for e in baseline.entries:
        by_spec.setdefault(e.spec, []).append(e)
    stale: list[Stale] = []
    checked: set[Path] = set()
    for report in reports:
        spec = _resolved(report.path)
        checked.add(spec)
        entries = {(e.check, e.name): e for e in by_spec.get(spec, [])}
        names = junit_names(report.results)
        verdicts: dict[str, str] = {}
        matched: set[tuple[str, str]] = set()
        for i, (result, name) in enumerate(zip(report.results, names, strict=True)):
            verdicts[name] = result.verdict.value
            entry = entries.get((result.id, name))
            if entry is not None and result.verdict is Verdict.VIOLATED:
                report.results[i] = replace(result, accepted=Acceptance(entry.reason, entry.where))
                matched.add((result.id, name))
        if report.error is not None or report.bug is not None:
            continue
        report.stale = [
            Stale(e, verdicts.get(e.name, "no result of this name (renamed or removed?)"), fail_stale)
            for key, e in entries.items()
            if key not in matched and (not only or e.check in only)
        ]
        stale += report.stale
    for spec, entries_ in by_spec.items():
        if spec not in checked and not spec.exists():
            stale += [Stale(e, "the spec does not exist", fail_stale) for e in entries_]
    return stale


def new_entries(reports: Sequence[SpecReport]) -> list[tuple[str, str, str]]:
    """(spec path, check id, name) of every VIOLATED result not accepted yet, in report order."""
    out = []
    for report in reports:
        for result, name in zip(report.results, junit_names(report.results), strict=True):
            if result.verdict is Verdict.VIOLATED and result.accepted is None:
                out.append((report.path, result.id, name))
    return out


def write_entries(baseline: Baseline, found: Iterable[tuple[str, str, str]], inputs: Sequence[Path] = ()) -> int:
    """Append an entry per (spec, check, name) in `found` to the baseline's target; the number appended.

    Existing text is kept byte for byte; every value is written as an escaped TOML string. Raises
    `ValueError`, with a message, for a target that cannot take them (a spec, not a regular file, a file
    that cannot be read or written, text that would no longer be TOML).
    """
    target = baseline.target
    assert target is not None, "the caller names a target"
    found = list(found)
    if not found:
        return 0
    for read in inputs:
        if target.exists() and read.exists() and os.path.samefile(target, read):
            raise ValueError(f"{target} is a spec being read; the baseline goes in a TOML file")
    if target.exists() and not target.is_file():
        raise ValueError(f"{target}: not a regular file")
    try:
        old = target.read_text(encoding="utf-8") if target.exists() else _FILE_HEAD
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{target}: cannot read it ({err})") from None
    header = "[[tool.solvent.accept]]" if baseline.in_pyproject else "[[accept]]"
    base = target.resolve().parent
    blocks = []
    for spec, check, name in found:
        shown = Path(os.path.relpath(_resolved(spec), base)).as_posix()
        fields = "".join(f"{k} = {_toml_string(v)}\n" for k, v in zip(KEYS, (shown, check, name, TODO), strict=True))
        blocks.append(f"\n{header}\n{fields}")
    text = old + ("" if old.endswith("\n") or not old else "\n") + "".join(blocks)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        why = f"appending the entries would make it invalid TOML ({err}); add them by hand"
        raise ValueError(f"{target}: {why}") from None
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ValueError(f"{target}: cannot write ({err.strerror or err})") from None
    return len(found)


# ---------------------------------------------------------------------------------------- reading


def _read(path: Path, problems: list[Diagnostic]) -> tuple[SourceFile | None, dict[str, object] | None]:
    shown = os.path.relpath(path) if path.is_absolute() else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "write it with `solvent check --write-baseline FILE`, or fix the path"
        problems.append(Diagnostic(Severity.ERROR, CODE, f"{shown}: no such baseline file", None, hint=hint))
        return None, None
    except (OSError, UnicodeDecodeError) as err:
        problems.append(Diagnostic(Severity.ERROR, CODE, f"{shown}: cannot read it ({err})", None))
        return None, None
    source = SourceFile(shown, text)
    try:
        return source, tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        span = _point(source, int(m.group(1)), int(m.group(2))) if m else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) or "not valid TOML"
        problems.append(Diagnostic(Severity.ERROR, CODE, f"not valid TOML: {message}", span))
        return None, None


def _entries(source: SourceFile, raw: object, header: str, holder: Path, problems: list[Diagnostic]) -> list[Entry]:
    """The entries of one file's `accept` array; the malformed ones go to `problems`."""
    sections = _sections(source, header)
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        span = _key_span(source, "accept", 0, len(source.text))
        if span is None and sections:
            span = _line_span(source, sections[0][0])
        hint = f"write each entry as a [[{_pretty(header)}]] table"
        problems.append(_error(source, span, "`accept` must be an array of tables", hint))
        return []
    out = []
    base = holder.resolve().parent
    for i, table in enumerate(raw):
        start, end = sections[i] if i < len(sections) else (0, len(source.text))
        head = _line_span(source, start) if i < len(sections) else _key_span(source, "accept", 0, len(source.text))
        ok = True
        for key in table:
            if key not in KEYS:
                hint = did_you_mean(key, KEYS) or f"an entry has {', '.join(KEYS)}"
                span = _key_span(source, key, start, end) or head
                problems.append(_error(source, span, f"unknown key `{key}`", hint))
                ok = False
        for key in KEYS:
            value = table.get(key)
            if value is None:
                problems.append(_error(source, head, f"this entry has no `{key}`", _key_hint(key)))
                ok = False
            elif not isinstance(value, str) or not value.strip():
                what = "an empty string" if isinstance(value, str) else _TOML_TYPES.get(type(value), "a value")
                span = _key_span(source, key, start, end) or head
                problems.append(_error(source, span, f"`{key}` must be a non-empty string, not {what}", _key_hint(key)))
                ok = False
        if not ok:
            continue
        check, name = str(table["check"]), str(table["name"])
        span = _key_span(source, "check", start, end) or head
        from checker.checks.catalogue import IDS  # the ids a result can have

        if check not in IDS:
            hint = did_you_mean(check, IDS) or "`solvent explain` lists the check ids"
            problems.append(_error(source, span, f"no check `{check}`", hint))
            continue
        if not name.startswith(check):
            span = _key_span(source, "name", start, end) or head
            hint = f"a result's name starts with its check id, e.g. name = \"{check}: ...\" (the JUnit test name)"
            problems.append(_error(source, span, f"`{name}` is not a name of a `{check}` result", hint))
            continue
        where = head.where if head is not None else source.path
        out.append(Entry(_resolved(str(base / str(table["spec"]))), check, name, str(table["reason"]), where, head))
    return out


_TOML_TYPES = {bool: "true or false", int: "a number", float: "a number", list: "an array", dict: "a table"}


def _order(span: Span | None) -> tuple[str, int, int]:
    return ("", 0, 0) if span is None else (span.source.path, span.line, span.col)


def _key_hint(key: str) -> str:
    examples = {
        "spec": 'spec = "specs/perp.margin" (relative to this file)',
        "check": 'check = "gap-safety" (`solvent explain` lists the ids)',
        "name": 'name = "gap-safety: move" (the result\'s name without `at line N`, as in JUnit)',
        "reason": 'reason = "why the team accepts this violation"',
    }
    return f"e.g. {examples[key]}"


def _pretty(header: str) -> str:
    return "tool.solvent.accept" if header.startswith("tool") else "accept"


# ---------------------------------------------------------------------------------------- locating


def _sections(source: SourceFile, header: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each `[[header]]` table, in order (tomllib gives no positions)."""
    text = source.text
    heads = [m.start() for m in re.finditer(r"(?m)^[ \t]*\[\[\s*" + header + r"\s*\]\]", text)]
    tables = [m.start() for m in re.finditer(r"(?m)^[ \t]*\[", text)]
    out = []
    for h in heads:
        end = next((t for t in tables if t > h), len(text))
        out.append((h, end))
    return out


def _key_span(source: SourceFile, key: str, start: int, end: int) -> Span | None:
    pattern = re.compile(r"(?m)^[ \t]*(?:" + re.escape(key) + r'|"' + re.escape(key) + r'")\s*=')
    m = pattern.search(source.text, start, end)
    if m is None:
        return None
    at = m.start() + len(m.group()) - len(m.group().lstrip())
    line = source.text.count("\n", 0, at) + 1
    col = at - (source.text.rfind("\n", 0, at) + 1) + 1
    return Span(source, line, col, line, col + len(key))


def _line_span(source: SourceFile, offset: int) -> Span | None:
    line = source.text.count("\n", 0, offset) + 1
    return _point(source, line, 1)


def _point(source: SourceFile, line: int, col: int) -> Span | None:
    if not 1 <= line <= source.line_count:
        return None
    width = max(1, len(source.line(line).rstrip()) - col + 1)
    return Span(source, line, col, line, col + width)


def _error(source: SourceFile, span: Span | None, message: str, hint: str | None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, CODE, message, span, hint=hint)


def _resolved(path: str) -> Path:
    return Path(os.path.abspath(path)).resolve()


def _toml_string(value: str) -> str:
    """`value` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04X}" if not 0xD800 <= ord(ch) <= 0xDFFF else "\\uFFFD")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'

