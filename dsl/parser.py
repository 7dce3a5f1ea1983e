"""Parsing: source text to `dsl.ast.Module`.

Lark (LALR, with an indentation post-lexer) turns the text into a parse tree;
`dsl.build_ast` turns that into the project's own AST, converting Lark's
positions into `Span`s. Syntax errors become a `SpecError` whose diagnostic
says, in words, what was expected. Nothing after this module (and
`build_ast`) imports lark.

Before Lark sees the text, characters that editors, terminals and
`str.splitlines` disagree about as line breaks are refused with a located
error: a `\r` not followed by `\n` (classic Mac line endings), vertical tab,
form feed, U+001C-U+001E, U+0085, U+2028 and U+2029. A line ends at `\n` or
`\r\n` and nowhere else, so the spec solvent reads is the one every editor shows.
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.indenter import DedentError, Indenter
from lark.lexer import PatternStr

from dsl import ast
from dsl.build_ast import build
from dsl.diagnostics import Diagnostic, Severity, SourceFile, Span, SpecError
from dsl.limits import MAX_SOURCE_BYTES, MAX_TOKENS


class _Indenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar[list[str]] = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types: ClassVar[list[str]] = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def handle_NL(self, token: Token) -> Any:
        try:
            yield from super().handle_NL(token)
        except DedentError:
            raise _BadDedent(token) from None

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        # Counted here, as Lark asks for them: a spec with too many tokens is refused before it is all parsed.
        for count, token in enumerate(super().process(stream), 1):  # type: ignore[no-untyped-call]
            if count > MAX_TOKENS:
                raise _TooManyTokens(token)
            yield token


class _BadDedent(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


class _TooManyTokens(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


class _Meta:
    """Lark's `Meta` (a node's position) with slots: a plain `Meta` keeps a dict of 13 entries per node,
    which made a 100,000-row table take 700 MB while it was parsed."""

    __slots__ = (
        "empty",
        *("line", "column", "start_pos", "end_line", "end_column", "end_pos"),
        *("container_line", "container_column", "container_start_pos"),
        *("container_end_line", "container_end_column", "container_end_pos"),
    )

    def __init__(self) -> None:
        self.empty = True


class _Tree(Tree[Token]):
    """A parse-tree node whose position is a slotted `_Meta`."""

    __slots__ = ()

    @property
    def meta(self) -> Any:
        if self._meta is None:
            self._meta = _Meta()  # type: ignore[assignment]  # duck-typed: Lark only reads and sets attributes
        return self._meta


_per_thread = threading.local()


def _lark() -> Lark:
    """This thread's parser. The indentation post-lexer keeps its state on the parser object, so two
    threads parsing with one parser would corrupt each other's indentation (bogus syntax errors)."""
    parser: Lark | None = getattr(_per_thread, "lark", None)
    if parser is None:
        parser = _per_thread.lark = _new_lark()
    return parser


def _new_lark() -> Lark:
    """A parser from the shipped tables (`dsl.parse_tables`), or built from the grammar when they do not fit."""
    from dsl import parse_tables

    loaded = parse_tables.load(grammar(), OPTIONS, **_objects())
    return loaded if loaded is not None else build_from_grammar()


OPTIONS: dict[str, object] = {"parser": "lalr", "maybe_placeholders": True}  # and `_objects()`


def build_from_grammar() -> Lark:
    """A parser built from `grammar.lark` (its LALR tables computed: about 0.25 s)."""
    return Lark(grammar(), **OPTIONS, **_objects())


def _objects() -> dict[str, Any]:
    """The parser's options that are Python objects, given alike when it is built and when it is loaded."""
    return {
        "postlex": _Indenter(),
        # Spans end at the last real token: newlines and indentation tokens do not extend them.
        "propagate_positions": lambda t: getattr(t, "type", "") not in ("_NL", "_INDENT", "_DEDENT"),
        "tree_class": _Tree,
    }


@cache
def grammar() -> str:
    """The text of `grammar.lark`."""
    return resources.files("dsl").joinpath("grammar.lark").read_text(encoding="utf-8")


def parse(source: SourceFile) -> ast.Module:
    """Parse one spec. Raises `SpecError` with a located diagnostic on bad syntax."""
    _check_size(source)
    _check_line_ends(source)
    text = source.text if source.text.endswith("\n") else source.text + "\n"
    try:
        with _no_gc():
            tree = _lark().parse(text)
            return build(tree, source)
    except _BadDedent as err:
        line = err.token.end_line or 1
        indent = len(source.line(line)) - len(source.line(line).lstrip())
        span = Span(source, line, 1, line, indent + 1)
        raise SpecError(
            [
                _syntax(
                    span,
                    "this line's indentation matches no enclosing block",
                    "indent the lines of one block by the same amount",
                )
            ]
        ) from None
    except _TooManyTokens as err:
        span = _token_span(source, err.token)
        message = f"the spec is too large: it has more than {MAX_TOKENS:,} tokens (names, numbers and symbols)"
        hint = "split the spec, or generate large tables with fewer rows"
        raise SpecError([Diagnostic(Severity.ERROR, "too-large", message, span, hint=hint)]) from None
    except UnexpectedInput as err:
        raise SpecError([_describe(source, err)]) from None


def _token_span(source: SourceFile, token: Token) -> Span:
    line, col = token.line or source.line_count or 1, token.column or 1
    return Span(source, line, col, line, col + max(1, len(token)) if token.end_line == line else col + 1)


def _check_size(source: SourceFile) -> None:
    """Refuse a text larger than `MAX_SOURCE_BYTES` (as UTF-8), as `read_source` refuses such a file."""
    text = source.text
    # A character is 1 to 4 bytes of UTF-8: only a text near the limit is encoded to be measured.
    if len(text) * 4 <= MAX_SOURCE_BYTES:
        return
    if len(text) <= MAX_SOURCE_BYTES and len(text.encode("utf-8", "surrogatepass")) <= MAX_SOURCE_BYTES:
        return
    message = f"the spec is too large: more than {MAX_SOURCE_BYTES // 2**20} MiB"
    hint = "split the spec, or generate large tables with fewer rows"
    raise SpecError([Diagnostic(Severity.ERROR, "too-large", f"{source.path}: {message}", None, hint=hint)])


_gc_lock = threading.Lock()
_gc_parsers = 0  # parses under way that asked for the pause
_gc_paused = False  # whether they disabled the collector (it was on)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while the parse tree and the AST are built.

    Parsing allocates millions of small objects and frees none of them, so the
    collector runs over and over and finds nothing: with it on, a 64,000-row
    table parses at half the speed. Nothing built here forms a reference cycle.
    The first parse in switches the collector off (only if it was on) and the
    last one out switches it back on, so threads parsing at once, and a caller
    who keeps the collector off, are left as they were.
    """
    global _gc_parsers, _gc_paused
    with _gc_lock:
        if _gc_parsers == 0 and gc.isenabled():
            gc.disable()
            _gc_paused = True
        _gc_parsers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_parsers -= 1
            if _gc_parsers == 0 and _gc_paused:
                gc.enable()
                _gc_paused = False


# Everything Python's `str.splitlines` breaks at, except `\n` and a `\r` right before it.
_ODD_LINE_END = re.compile("\r(?!\n)|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_ODD_NAMES = {
    "\r": "a carriage return (\\r) not followed by \\n",
    "\x0b": "a vertical tab (U+000B)",
    "\x0c": "a form feed (U+000C)",
    "\x1c": "a file separator (U+001C)",
    "\x1d": "a group separator (U+001D)",
    "\x1e": "a record separator (U+001E)",
    "\x85": "a next-line character (U+0085)",
    "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


def _check_line_ends(source: SourceFile) -> None:
    """Refuse characters that some readers take for a line break and others do not.

    Vim shows a file with lone `\r` line ends as one line, VS Code as many; a
    terminal moves to a new line at a form feed that an editor shows inline.
    Whichever way solvent read them, somebody would see a different spec from
    the one checked, so each kind is reported once, where it first occurs.
    """
    text = source.text
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for match in _ODD_LINE_END.finditer(text):
        char = match.group()
        first.setdefault(char, match.start())
        counts[char] = counts.get(char, 0) + 1
    if not first:
        return
    diagnostics = []
    for char, pos in sorted(first.items(), key=lambda item: item[1]):
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        more = counts[char] - 1
        also = f" ({more} more in the file)" if more else ""
        if char == "\r":
            message = f"{_ODD_NAMES[char]}: classic Mac line endings are not accepted{also}"
            hint = "save the spec with \\n or \\r\\n line endings, e.g. `tr '\\r' '\\n' < old.margin > new.margin`"
        else:
            message = f"{_ODD_NAMES[char]} is not allowed in a spec, comments included{also}"
            hint = "editors and terminals disagree on whether it ends a line; delete it or use a plain line break"
        diagnostics.append(
            Diagnostic(Severity.ERROR, "line-end", message, Span(source, line, col, line, col + 1), hint=hint)
        )
    raise SpecError(diagnostics)


def _syntax(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, "syntax", message, span, hint=hint)


_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted string ("...")',
    "_NL": "the end of the line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the indented block",
    "$END": "the end of the file",
    "FORCED": "`forced`",
}


def _word(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"`{pattern.value}`" if isinstance(pattern, PatternStr) else name.lower()


def _found(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    if token.type == "_INDENT":
        return "indentation"
    if token.type == "_DEDENT":
        return "end of an indented block"
    if token.type == "NAME":
        return f"name `{token}`"
    if token.type == "NUMBER":
        return f"number `{token}`"
    return f"`{token}`"


def _describe(source: SourceFile, err: UnexpectedInput) -> Diagnostic:
    line = max(1, err.line if err.line and err.line > 0 else source.line_count)
    col = max(1, err.column if err.column and err.column > 0 else 1)
    if isinstance(err, UnexpectedCharacters):
        char = source.line(line)[col - 1 : col] or "?"
        if not char.isprintable():
            char = f"U+{ord(char):04X}"
        span = Span(source, line, col, line, col + 1)
        hint = "strings use double quotes" if char == "'" else None
        return _syntax(span, f"unexpected character `{char}`", hint)
    if isinstance(err, UnexpectedToken):
        token = err.token
        expected = sorted(
            {_word(t) for t in err.expected if not t.startswith("__ANON")}
            | {_word(t) for t in err.expected if t.startswith("__ANON")}
        )
        if token.type == "_INDENT":
            line = token.end_line or line
            width = len(source.line(line)) - len(source.line(line).lstrip())
            span = Span(source, line, 1, line, width + 1)
        elif token.type in ("_NL", "_DEDENT", "$END"):
            # Point just past the last real token on that line, where the thing is missing.
            prev = source.line(line).rstrip()
            line_text = prev if prev else source.line(max(1, line - 1))
            if not prev and line > 1:
                line -= 1
            col = len(line_text.split("#", 1)[0].rstrip()) + 1
            span = Span(source, line, col, line, col + 1)
        else:
            end = (token.end_column or col + 1) if token.end_line == token.line else col + len(str(token))
            span = Span(source, line, col, line, max(end, col + 1))
        message = f"unexpected {_found(token)}"
        return _syntax(span, message, _hint(token, expected))
    if isinstance(err, UnexpectedEOF):
        span = Span(source, line, col, line, col + 1)
        return _syntax(span, "unexpected end of file", None)
    span = Span(source, line, col, line, col + 1)
    return _syntax(span, "syntax error", None)


def _hint(token: Token, expected: list[str]) -> str:
    if str(token) == "=" and "`==`" in expected:
        return "to compare two values use `==`; `=` only defines a name"
    if str(token) == "'" and 'a quoted string ("...")' in expected:
        return 'strings use double quotes: "..."'
    if token.type == "_INDENT":
        return "this line is indented more than the line before it, which opens no block"
    if str(token) in ("<", "<=", ">", ">=", "==", "!="):
        return "comparisons do not chain: write `a <= b and b <= c`"
    if "a name" in expected and "a number" in expected:
        return "expected an expression (a number, a name, or `(`)"
    if token.type == "NAME" and str(token) in _KEYWORDS:
        return f"`{token}` is a reserved word here; pick another name"
    shown = expected[:8]
    more = "" if len(expected) <= 8 else f" (or {len(expected) - 8} more)"
    if len(shown) == 1:
        return f"expected {shown[0]}"
    return "expected one of " + ", ".join(shown) + more


_KEYWORDS = ast.KEYWORDS
