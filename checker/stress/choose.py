"""`--act 'liquidate(d = max_closeable)'`: an action with arguments, fired with values the user chooses.

A lending liquidation takes arguments (how much debt the liquidator repays), and a stress run has no
liquidator to choose them. The language already has the construct for "taken with these values":
a forced action's chosen arguments (language.md 3.10, 6.3). So `with_choices` rewrites the spec's
text: the named action becomes `forced`, and each argument gets `= EXPR`, the expression the user
wrote, in the spec's own language (it may read the account's states, lets, inputs and parameters).
The rewritten text goes through the whole front end like any spec (nothing is evaluated as Python),
and travels in the run's shards, so every worker applies the same rules.

Only the action's header line changes, and only within it, so line numbers in messages stay the
spec's. `ChoiceError` (a `StressError`) reports an unknown action or argument, a missing value, or a
value that is not one line of the spec's expression language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checker.stress.rules import StressError
from dsl import ast
from dsl.diagnostics import SourceFile, Span, did_you_mean


class ChoiceError(StressError):
    """A `--act NAME(ARG = EXPR, ...)` that cannot apply to this spec."""


@dataclass(frozen=True, slots=True)
class Act:
    """A parsed `--act`: the action, and its arguments' chosen values as spec text (empty: none given)."""

    name: str
    values: tuple[tuple[str, str], ...]


def parse_act(text: str) -> Act:
    """`liquidate` or `liquidate(d_weth = max_closeable, d_wbtc = 0)`."""
    text = text.strip()
    if "\n" in text or "\r" in text or "#" in text:
        raise ChoiceError(f"--act {text[:40]!r}: one line of the spec's language, without comments")
    if "(" not in text:
        return Act(text, ())
    if not text.endswith(")"):
        raise ChoiceError(f"--act {text[:40]!r}: write NAME(ARG = EXPR, ...)")
    name, inner = text[: text.index("(")].strip(), text[text.index("(") + 1 : -1]
    values = []
    for part in _split(inner):
        arg, eq, expr = part.partition("=")
        if not eq or not arg.strip() or not expr.strip() or expr.lstrip().startswith("="):
            raise ChoiceError(f"--act {name}: {part.strip()[:40]!r} is not ARG = EXPR")
        values.append((arg.strip(), expr.strip()))
    return Act(name, tuple(values))


def _split(text: str) -> list[str]:
    """`text` split at its top-level commas (not those inside parentheses or brackets)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ChoiceError(f"--act: unbalanced parentheses in {text[:40]!r}")
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    if depth:
        raise ChoiceError(f"--act: unbalanced parentheses in {text[:40]!r}")
    out.append(text[start:])
    return [p for p in out if p.strip()]


def with_choices(source: SourceFile, acts: Sequence[Act]) -> str:
    """The spec's text with each act's action forced and its arguments given their chosen values."""
    from dsl.parser import parse

    acts = [a for a in acts if a.values]
    if not acts:
        return source.text
    decls = {d.name.name: d for d in parse(source).decls if isinstance(d, ast.ActionDecl)}
    edits: list[tuple[int, int, str]] = []  # (line, col, text to insert there)
    for act in acts:
        decl = decls.get(act.name)
        if decl is None:
            hint = did_you_mean(act.name, list(decls))
            raise ChoiceError(f"--act: the spec has no action `{act.name}`" + (f"; {hint}" if hint else ""))
        given = dict(act.values)
        names = [p.name.name for p in decl.params]
        for arg in given:
            if arg not in names:
                hint = did_you_mean(arg, names)
                raise ChoiceError(f"--act {act.name}: it has no argument `{arg}`" + (f"; {hint}" if hint else ""))
        missing = [n for n in names if n not in given]
        if missing:
            raise ChoiceError(
                f"--act {act.name}: give every argument a value (missing: " + ", ".join(missing) + ")"
            )
        for p in decl.params:
            if p.choice is not None:
                raise ChoiceError(f"--act {act.name}: `{p.name.name}` already has a chosen value in the spec")
            end: Span = p.unit.span
            edits.append((end.end_line, end.end_col, f" = ({given[p.name.name]})"))
        if not decl.forced:
            edits.append((decl.span.line, decl.span.col, "forced "))
    lines = source.text.split("\n")
    for line, col, insert in sorted(edits, reverse=True):  # from the end, so earlier places stay put
        row = lines[line - 1]
        lines[line - 1] = row[: col - 1] + insert + row[col - 1 :]
    return "\n".join(lines)
