"""`[tool.solvent]` in the nearest pyproject.toml: defaults for `solvent check`.

A team writes its CI settings once, next to the rest of its tooling:

    [tool.solvent]
    strict = true
    rlimit = 50000000
    sarif = "reports/solvent.sarif"

Each key is a long option of `solvent check` without its dashes (`max-k`,
`search-runs`, ...; `split = false` is `--no-split`), and its value is read by
the very same converter as the option, so the same bounds and the same exact
numbers apply. The command line wins over the file. Paths are relative to the
directory holding the pyproject.toml, so a setting means the same file
whatever directory solvent is started from.

The file is the nearest pyproject.toml from the working directory up (the
project's root, as for ruff or black). An unknown key, a value of the wrong
type or out of range, or a file that is not TOML is a located diagnostic
(`pyproject.toml:line:col`, a hint) and exit status 2, never a traceback.
Nothing here imports Z3 or Lark: it runs before the command does.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsl.diagnostics import Diagnostic, Severity, SourceFile, Span, SpecError, did_you_mean

TABLE = "tool.solvent"
CODE = "settings"


@dataclass(frozen=True, slots=True)
class Key:
    """One key of `[tool.solvent]`: the option it stands for and the TOML type it takes."""

    dest: str  # the argparse destination
    kind: str  # "bool", "int", "number", "str", "list", "path"


# Which options a team may set in the file. Per-run choices (`--param`, `--force`, `--synthesize`'s
# targets, the spec paths) stay on the command line: a setting must not quietly change what is checked.
KEYS: Mapping[str, Key] = {
    "format": Key("format", "str"),
    "strict": Key("strict", "bool"),
    "quiet": Key("quiet", "bool"),
    "rlimit": Key("rlimit", "int"),
    "timeout": Key("timeout", "number"),
    "engines": Key("engines", "list"),
    "split": Key("decompose", "bool"),
    "params": Key("params", "str"),
    "depth": Key("depth", "int"),
    "max-k": Key("max_k", "int"),
    "search-runs": Key("search_runs", "int"),
    "search-depth": Key("search_depth", "int"),
    "only": Key("only", "list"),
    "jobs": Key("jobs", "int"),
    "synthesize": Key("synthesize", "bool"),
    "output": Key("output", "path"),
    "json": Key("json", "path"),
    "junit": Key("junit", "path"),
    "sarif": Key("sarif", "path"),
    "emit-tests": Key("emit_tests", "path"),
    "baseline": Key("baseline", "path"),
    "cache": Key("cache", "path"),
    "cache-prune": Key("cache_prune", "bool"),
    "fail-stale": Key("fail_stale", "bool"),
}

# Tables of `[tool.solvent]` that are not options: their own module reads and checks them.
OWN_MODULE = {"accept": "checker.report.baseline"}


@dataclass(frozen=True, slots=True)
class Settings:
    """The values found (argparse destinations to converted values) and the file they came from."""

    path: Path | None
    values: Mapping[str, Any]


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml in `start` or one of its parents, or None."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(start: Path, actions: Mapping[str, argparse.Action]) -> Settings:
    """`[tool.solvent]` of the nearest pyproject.toml, each value converted as its option would be.

    `actions` maps argparse destinations to the `check` command's actions (their `type` and `choices`
    convert and bound the values). Raises `SpecError` with a diagnostic located in the file.
    """
    path = find_pyproject(start)
    if path is None:
        return Settings(None, {})
    shown = os.path.relpath(path) if path.is_absolute() else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError([Diagnostic(Severity.ERROR, CODE, f"{shown}: cannot read it ({err})", None)]) from None
    source = SourceFile(shown, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        span = _span(source, int(m.group(1)), int(m.group(2))) if m else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) or "not valid TOML"
        raise SpecError([Diagnostic(Severity.ERROR, CODE, f"not valid TOML: {message}", span)]) from None
    table = doc.get("tool", {}).get("solvent") if isinstance(doc.get("tool"), dict) else None
    if table is None:
        return Settings(path, {})
    if not isinstance(table, dict):
        raise SpecError([_error(source, None, "`tool.solvent` must be a table", None)])
    problems: list[Diagnostic] = []
    values: dict[str, Any] = {}
    for name, raw in table.items():
        if name in OWN_MODULE:
            continue
        key = KEYS.get(name)
        if key is None:
            hint = did_you_mean(name.replace("_", "-"), KEYS) if name.replace("_", "-") not in KEYS else None
            if name.replace("_", "-") in KEYS:
                hint = f"write `{name.replace('_', '-')}`, with dashes, as on the command line"
            problems.append(
                _error(source, name, f"unknown setting `{name}`", hint or f"settings are: {', '.join(KEYS)}")
            )
            continue
        try:
            values[key.dest] = _convert(key, raw, actions[key.dest], path.parent)
        except ValueError as err:
            problems.append(_error(source, name, f"`{name}`: {err}", _hint(name, key, actions[key.dest])))
    if problems:
        raise SpecError(problems)
    return Settings(path, values)


def _convert(key: Key, raw: object, action: argparse.Action, base: Path) -> Any:
    """`raw` as the option's value: the TOML type first, then the option's own converter and choices."""
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    match key.kind:
        case "bool":
            if not isinstance(raw, bool):
                raise ValueError(f"{_shown(raw)} is not true or false")
            return raw
        case "int" | "number":
            if isinstance(raw, bool) or not isinstance(raw, int | float | str if key.kind == "number" else int):
                want = "a whole number" if key.kind == "int" else "a number"
                raise ValueError(f"{_shown(raw)} is not {want}")
            return _typed(convert, repr(raw) if isinstance(raw, float) else str(raw))
        case "str":
            if not isinstance(raw, str):
                raise ValueError(f"{_shown(raw)} is not a string")
            if action.choices is not None and raw not in action.choices:
                raise ValueError(f"{raw!r} is not one of {', '.join(map(str, action.choices))}")
            return _typed(convert, raw)
        case "list":
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise ValueError(f"{_shown(raw)} is not a list of strings")
            if key.dest == "engines":
                return _typed(convert, ",".join(raw))
            from checker.checks.catalogue import IDS  # `only`: check ids, refused here as on the command line

            for check_id in raw:
                if check_id not in IDS:
                    hint = did_you_mean(check_id, IDS)
                    raise ValueError(f"no check {check_id!r}" + (f"; {hint}" if hint else ""))
            return list(raw)
        case "path":
            if not isinstance(raw, str) or not raw:
                raise ValueError(f"{_shown(raw)} is not a path")
            return os.path.relpath(base / raw) if (base / raw).is_absolute() else str(base / raw)
    raise AssertionError(f"unhandled kind {key.kind}")


def _typed(convert: Callable[[str], Any], text: str) -> Any:
    try:
        return convert(text)
    except argparse.ArgumentTypeError as err:
        raise ValueError(str(err)) from None


def _shown(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _hint(name: str, key: Key, action: argparse.Action) -> str:
    """What the option takes, with an example value of the right TOML type."""
    match key.kind:
        case "bool":
            example = "true"
        case "int" | "number":
            # (not the default of --jobs: it is the machine's CPU count, and the hint would vary with it)
            fixed = isinstance(action.default, int) and key.dest != "jobs"
            example = str(action.default) if fixed else "4" if key.kind == "int" else "30"
        case "str":
            example = f'"{action.choices[-1] if action.choices else "..."}"'  # type: ignore[index]
        case "list":
            example = '["z3", "cvc5"]' if key.dest == "engines" else '["well-defined"]'
        case _:
            example = f'"reports/solvent.{name if name in ("json", "sarif") else "xml" if name == "junit" else "out"}"'
    return f"as on the command line ({', '.join(action.option_strings)}), e.g. {name} = {example}"


def _error(source: SourceFile, name: str | None, message: str, hint: str | None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, CODE, message, _locate(source, name), hint=hint)


def _locate(source: SourceFile, name: str | None) -> Span | None:
    """The span of `name = ...` inside `[tool.solvent]` (or of the table's header); tomllib gives no positions."""
    lines = source.text.split("\n")
    header = re.compile(r"\s*\[\s*tool\s*\.\s*solvent\s*\]")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    if name is not None:
        key = re.compile(r"\s*(?:" + re.escape(name) + r'|"' + re.escape(name) + r'")\s*=')
        for i in range(start + 1, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if key.match(lines[i]):
                col = len(lines[i]) - len(lines[i].lstrip()) + 1
                return Span(source, i + 1, col, i + 1, col + len(name))
    return _span(source, start + 1, 1)


def _span(source: SourceFile, line: int, col: int) -> Span | None:
    if not 1 <= line <= source.line_count:
        return None
    width = max(1, len(source.line(line)) - col + 1)
    return Span(source, line, col, line, col + width)
