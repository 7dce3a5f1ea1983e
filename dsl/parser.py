"""Parsing: source text to `dsl.ast.Module`.

Lark (LALR, with an indentation post-lexer) turns the text into a parse tree;
one Transformer turns that into the project's own AST, converting Lark's
positions into `Span`s. Syntax errors become a `SpecError` whose diagnostic
says, in words, what was expected. Nothing after this module imports lark.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.indenter import DedentError, Indenter
from lark.lexer import PatternStr

from dsl import ast
from dsl.diagnostics import Diagnostic, Severity, SourceFile, Span, SpecError
from dsl.numbers import exact_number


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


class _BadDedent(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


@cache
def _lark() -> Lark:
    grammar = resources.files("dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        postlex=_Indenter(),
        # Spans end at the last real token: newlines and indentation tokens do not extend them.
        propagate_positions=lambda t: getattr(t, "type", "") not in ("_NL", "_INDENT", "_DEDENT"),
        maybe_placeholders=True,
    )


def parse(source: SourceFile) -> ast.Module:
    """Parse one spec. Raises `SpecError` with a located diagnostic on bad syntax."""
    text = source.text if source.text.endswith("\n") else source.text + "\n"
    try:
        tree = _lark().parse(text)
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
    except UnexpectedInput as err:
        raise SpecError([_describe(source, err)]) from None
    try:
        return _ToAst(source).transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, _BadLiteral):
            raise SpecError([err.orig_exc.diagnostic]) from None
        if isinstance(err.orig_exc, RecursionError):
            line = getattr(getattr(err.obj, "meta", None), "line", 1)
            span = Span(source, line, 1, line, len(source.line(line)) + 1)
            raise SpecError(
                [
                    Diagnostic(
                        Severity.ERROR,
                        "too-deep",
                        "this expression nests too deeply",
                        span,
                        hint="split it into several `let`s",
                    )
                ]
            ) from None
        raise


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
    line = max(1, err.line if err.line and err.line > 0 else len(source.text.splitlines()))
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


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


class _BadLiteral(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic


def _unescape(token: str, span: Span) -> str:
    """The text of a string literal; the escapes are \\" \\' \\\\ \\n \\r \\t."""
    out, i, body = [], 0, token[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                col = span.col + 1 + i
                bad = Span(span.source, span.line, col, span.line, col + 1 + len(nxt))
                raise _BadLiteral(
                    _syntax(
                        bad, f"unknown escape `\\{nxt}` in a string", "the escapes are \\\" \\' \\\\ \\n \\r and \\t"
                    )
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _span(source: SourceFile, meta: Any) -> Span:
    return Span(source, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(source: SourceFile, tok: Token) -> Span:
    return Span(source, tok.line or 1, tok.column or 1, tok.end_line or 1, tok.end_column or 1)


def _number(text: str, percent: bool) -> Fraction:
    """The exact value of a literal; absurdly long or large ones are refused (they could take hours)."""
    value = exact_number(text)
    return value / 100 if percent else value


@v_args(meta=True, inline=True)
class _ToAst(Transformer[Token, ast.Module]):
    """Parse tree to AST. One method per grammar rule or alias."""

    def __init__(self, source: SourceFile) -> None:
        super().__init__()
        self.src = source

    def sp(self, meta: Any) -> Span:
        return _span(self.src, meta)

    # ---- leaves
    def name(self, meta: Any, tok: Token) -> ast.Ident:
        return ast.Ident(str(tok), _tok_span(self.src, tok))

    def number(self, meta: Any, tok: Token, pct: Token | None) -> ast.Num:
        text = str(tok) + ("%" if pct else "")
        try:
            value = _number(str(tok), pct is not None)
        except ValueError as err:
            raise _BadLiteral(
                _syntax(_tok_span(self.src, tok), f"this number is too large: {err}", "write it with fewer digits")
            ) from None
        return ast.Num(value, text, self.sp(meta))

    def signed_number(self, meta: Any, num: ast.Num) -> ast.Num:
        return num

    def negative(self, meta: Any, num: ast.Num) -> ast.Num:
        return ast.Num(-num.value, "-" + num.text, self.sp(meta))

    # ---- module and declarations
    @v_args(meta=True, inline=False)
    def start(self, meta: Any, decls: list[Any]) -> ast.Module:
        span = self.sp(meta) if not meta.empty else Span(self.src, 1, 1, 1, 1)
        return ast.Module(tuple(decls), span)

    def spec_decl(self, meta: Any, tok: Token) -> ast.SpecDecl:
        return ast.SpecDecl(_unescape(str(tok), _tok_span(self.src, tok)), self.sp(meta))

    def unit_decl(self, meta: Any, *names: ast.Ident) -> ast.UnitDecl:
        return ast.UnitDecl(names, self.sp(meta))

    def assets_decl(self, meta: Any, *names: ast.Ident) -> ast.AssetsDecl:
        return ast.AssetsDecl(names, self.sp(meta))

    def set_ref(self, meta: Any, name: ast.Ident) -> ast.Ident:
        return name

    def param_decl(self, meta: Any, name: ast.Ident, *rest: Any) -> ast.ParamDecl:
        indexed = rest[0] if len(rest) == 4 else None
        unit, default, rng = rest[-3:]
        return ast.ParamDecl(name, indexed, unit, default, rng, self.sp(meta))

    def default_scalar(self, meta: Any, num: ast.Num) -> ast.Num:
        return num

    def default_map(self, meta: Any, *items: tuple[ast.Ident, ast.Num]) -> tuple[tuple[ast.Ident, ast.Num], ...]:
        return items

    def asset_value(self, meta: Any, name: ast.Ident, num: ast.Num) -> tuple[ast.Ident, ast.Num]:
        return (name, num)

    def range(self, meta: Any, lo: Any, hi: Any) -> tuple[ast.Bound, ast.Bound]:
        return (self._bound(lo), self._bound(hi))

    def _bound(self, b: Any) -> ast.Bound:
        if isinstance(b, ast.Bound):
            return b
        return ast.Bound(b.value, b.value < 0, b.span)

    def inf(self, meta: Any) -> ast.Bound:
        return ast.Bound(None, False, self.sp(meta))

    def neg_inf(self, meta: Any) -> ast.Bound:
        return ast.Bound(None, True, self.sp(meta))

    neg_inf_only = neg_inf
    pos_inf = inf

    def assume_decl(self, meta: Any, expr: ast.Expr) -> ast.AssumeDecl:
        return ast.AssumeDecl(expr, self.sp(meta))

    def _var(self, kind: str, meta: Any, name: ast.Ident, rest: tuple[Any, ...]) -> ast.VarDecl:
        indexed = rest[0] if len(rest) == 3 else None
        return ast.VarDecl(kind, name, indexed, rest[-2], rest[-1], self.sp(meta))

    def state_decl(self, meta: Any, name: ast.Ident, *rest: Any) -> ast.VarDecl:
        return self._var("state", meta, name, rest)

    def input_decl(self, meta: Any, name: ast.Ident, *rest: Any) -> ast.VarDecl:
        return self._var("input", meta, name, rest)

    def binder(self, meta: Any, var: ast.Ident, set_: ast.Ident) -> ast.Binder:
        return ast.Binder(var, set_, self.sp(meta))

    def let_decl(self, meta: Any, name: ast.Ident, *rest: Any) -> ast.LetDecl:
        binder = rest[0] if len(rest) == 3 else None
        return ast.LetDecl(name, binder, rest[-2], rest[-1], self.sp(meta))

    def tuple_let_decl(self, meta: Any, *items: Any) -> ast.TupleLetDecl:
        return ast.TupleLetDecl(tuple(items[:-1]), items[-1], self.sp(meta))

    def table_decl(
        self,
        meta: Any,
        name: ast.Ident,
        arg: ast.Ident,
        unit: ast.UnitExpr,
        results: tuple[ast.UnitExpr, ...],
        *rows: ast.TableRow,
    ) -> ast.TableDecl:
        return ast.TableDecl(name, arg, unit, results, rows, self.sp(meta))

    def table_result(self, meta: Any, *units: ast.UnitExpr) -> tuple[ast.UnitExpr, ...]:
        return units

    def table_row(self, meta: Any, lo: Any, hi: Any, *values: ast.Num) -> ast.TableRow:
        return ast.TableRow(self._bound(lo), self._bound(hi), values, self.sp(meta))

    def margin_block(self, meta: Any, *roles: ast.RoleDef) -> ast.MarginBlock:
        return ast.MarginBlock(roles, self.sp(meta))

    def role_def(self, meta: Any, role: ast.Ident, expr: ast.Expr) -> ast.RoleDef:
        return ast.RoleDef(role, expr, False, self.sp(meta))

    def role_when(self, meta: Any, role: ast.Ident, expr: ast.Expr) -> ast.RoleDef:
        return ast.RoleDef(role, expr, True, self.sp(meta))

    def action_decl(
        self,
        meta: Any,
        forced: Token | None,
        name: ast.Ident,
        params: tuple[ast.ActionParam, ...] | None,
        guard: ast.Expr | None,
        *body: ast.LetDecl | ast.Assign,
    ) -> ast.ActionDecl:
        return ast.ActionDecl(forced is not None, name, params or (), guard, body, self.sp(meta))

    def action_params(self, meta: Any, *params: ast.ActionParam) -> tuple[ast.ActionParam, ...]:
        return params

    def action_param(self, meta: Any, name: ast.Ident, unit: ast.UnitExpr) -> ast.ActionParam:
        return ast.ActionParam(name, unit, self.sp(meta))

    def assignment(self, meta: Any, target: ast.Target, expr: ast.Expr) -> ast.Assign:
        return ast.Assign(target, expr, self.sp(meta))

    def target(self, meta: Any, name: ast.Ident, index: ast.Ident | ast.Binder | None) -> ast.Target:
        return ast.Target(name, index, self.sp(meta))

    def index_name(self, meta: Any, name: ast.Ident) -> ast.Ident:
        return name

    def index_binder(self, meta: Any, var: ast.Ident, set_: ast.Ident) -> ast.Binder:
        return ast.Binder(var, set_, self.sp(meta))

    def env_decl(self, meta: Any, name: ast.Ident, guard: ast.Expr | None, *items: ast.EnvItem) -> ast.EnvDecl:
        return ast.EnvDecl(name, guard, items, self.sp(meta))

    env_block = env_decl

    def env_item(self, meta: Any, target: ast.Target, lo: ast.Expr, hi: ast.Expr) -> ast.EnvItem:
        return ast.EnvItem(target, lo, hi, self.sp(meta))

    def init_decl(self, meta: Any, expr: ast.Expr) -> ast.NamedFormula:
        return ast.NamedFormula("init", None, expr, self.sp(meta))

    def conserved_decl(self, meta: Any, name: ast.Ident, expr: ast.Expr) -> ast.NamedFormula:
        return ast.NamedFormula("conserved", name, expr, self.sp(meta))

    def invariant_decl(self, meta: Any, name: ast.Ident, expr: ast.Expr) -> ast.NamedFormula:
        return ast.NamedFormula("invariant", name, expr, self.sp(meta))

    def property_decl(self, meta: Any, name: ast.Ident, expr: ast.Expr) -> ast.NamedFormula:
        return ast.NamedFormula("property", name, expr, self.sp(meta))

    # ---- units
    def unit_name(self, meta: Any, name: ast.Ident) -> ast.UnitName:
        return ast.UnitName(name, self.sp(meta))

    def unit_pow(self, meta: Any, name: ast.Ident, power: Token) -> ast.UnitPow:
        value = Fraction(str(power).replace("_", ""))
        if value.denominator != 1:
            span = _tok_span(self.src, power)
            raise _BadLiteral(_syntax(span, f"a unit's power must be a whole number, not {power}", "write e.g. BTC^2"))
        return ast.UnitPow(name, int(value), self.sp(meta))

    def unit_mul(self, meta: Any, left: ast.UnitExpr, right: ast.UnitExpr) -> ast.UnitBin:
        return ast.UnitBin("*", left, right, self.sp(meta))

    def unit_div(self, meta: Any, left: ast.UnitExpr, right: ast.UnitExpr) -> ast.UnitBin:
        return ast.UnitBin("/", left, right, self.sp(meta))

    # ---- expressions
    def ite(self, meta: Any, c: ast.Expr, t: ast.Expr, e: ast.Expr) -> ast.Ite:
        return ast.Ite(c, t, e, self.sp(meta))

    def _bin(self, op: str, meta: Any, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary(op, left, right, self.sp(meta))

    def implies(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("implies", meta, a, b)

    def or_(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("or", meta, a, b)

    def and_(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("and", meta, a, b)

    def not_(self, meta: Any, a: ast.Expr) -> ast.Unary:
        return ast.Unary("not", a, self.sp(meta))

    def neg(self, meta: Any, a: ast.Expr) -> ast.Unary:
        return ast.Unary("-", a, self.sp(meta))

    def lt(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("<", meta, a, b)

    def le(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("<=", meta, a, b)

    def gt(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin(">", meta, a, b)

    def ge(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin(">=", meta, a, b)

    def eq(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("==", meta, a, b)

    def ne(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("!=", meta, a, b)

    def add(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("+", meta, a, b)

    def sub(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("-", meta, a, b)

    def mul(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("*", meta, a, b)

    def div(self, meta: Any, a: ast.Expr, b: ast.Expr) -> ast.Binary:
        return self._bin("/", meta, a, b)

    def true(self, meta: Any) -> ast.BoolLit:
        return ast.BoolLit(True, self.sp(meta))

    def false(self, meta: Any) -> ast.BoolLit:
        return ast.BoolLit(False, self.sp(meta))

    def ref(self, meta: Any, name: ast.Ident) -> ast.Ref:
        return ast.Ref(name, None, self.sp(meta))

    def primed_ref(self, meta: Any, name: ast.Ident) -> ast.Ref:
        return ast.Ref(name, None, self.sp(meta), primed=True)

    def indexed_ref(self, meta: Any, name: ast.Ident, index: ast.Ident) -> ast.Ref:
        return ast.Ref(name, index, self.sp(meta))

    def call(self, meta: Any, func: ast.Ident, *args: ast.Expr | None) -> ast.Call:
        return ast.Call(func, tuple(a for a in args if a is not None), self.sp(meta))

    def _quant(self, kind: str, meta: Any, var: ast.Ident, set_: ast.Ident, body: ast.Expr) -> ast.Quant:
        return ast.Quant(kind, var, set_, body, self.sp(meta))

    def sum_(self, meta: Any, var: ast.Ident, set_: ast.Ident, body: ast.Expr) -> ast.Quant:
        return self._quant("sum", meta, var, set_, body)

    def all_(self, meta: Any, var: ast.Ident, set_: ast.Ident, body: ast.Expr) -> ast.Quant:
        return self._quant("all", meta, var, set_, body)

    def any_(self, meta: Any, var: ast.Ident, set_: ast.Ident, body: ast.Expr) -> ast.Quant:
        return self._quant("any", meta, var, set_, body)
