"""Parse tree to AST: one pass, iterative, with a cap on nesting.

`build(tree, source)` turns Lark's parse tree into a `dsl.ast.Module`,
converting Lark's positions into `Span`s. It walks the tree with an explicit
stack rather than Lark's recursive `Transformer`, so a deeply nested spec
cannot exhaust Python's stack here, and it refuses an expression nested more
than `MAX_NESTING` deep with a located `too-deep` error: every later pass
(checking, lowering, code generation, the Z3 encoder) is recursive and relies
on that bound. A literal that cannot be read (a bad escape, a number beyond the
caps of `dsl.numbers`, a unit power beyond `MAX_UNIT_POWER`) is a located
`syntax` error.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

from lark import Token, Tree

from dsl import ast
from dsl.diagnostics import Diagnostic, InternalError, Severity, SourceFile, Span, SpecError
from dsl.limits import MAX_NESTING, MAX_TABLE_ROWS, MAX_UNIT_POWER
from dsl.numbers import exact_number

# Rules whose node holds other expressions (or units): each one on the path from the root is a level.
# Parentheses are not rules in the parse tree, so redundant ones cost nothing.
_NESTING = frozenset(
    {
        *("ite", "implies", "or_", "and_", "not_", "neg", "call", "sum_", "all_", "any_"),
        *("lt", "le", "gt", "ge", "eq", "ne", "add", "sub", "mul", "div", "unit_mul", "unit_div"),
    }
)


def build(tree: Tree[Token], source: SourceFile) -> ast.Module:
    """The AST of `tree`, parsed from `source`. Raises `SpecError` on an unreadable literal or deep nesting."""
    builder = _ToAst(source)
    # Post-order with an explicit stack of (node, children still to visit, results of those visited).
    stack: list[tuple[Tree[Token], Any, list[Any]]] = [(tree, iter(tree.children), [])]
    depth = 0
    while True:
        node, todo, done = stack[-1]
        for child in todo:
            if isinstance(child, Tree):
                if child.data in _NESTING:
                    depth += 1
                    if depth > MAX_NESTING:
                        raise SpecError([_too_deep(source, child)])
                stack.append((child, iter(child.children), []))
                break
            done.append(child)  # a token, or None for an absent optional part
        else:
            stack.pop()
            result = builder.rule(node, done)
            node.children = []  # let the parse tree go as the AST grows: a large spec then needs less memory
            if node.data in _NESTING:
                depth -= 1
            if not stack:
                return result  # type: ignore[no-any-return]
            stack[-1][2].append(result)


def _too_deep(source: SourceFile, node: Tree[Token]) -> Diagnostic:
    line, col = node.meta.line, node.meta.column
    return Diagnostic(
        Severity.ERROR,
        "too-deep",
        f"this expression nests too deeply (more than {MAX_NESTING} operations inside one another)",
        Span(source, line, col, line, col + 1),
        hint="split it into several `let`s (a flat sum `a + b + ...` counts one level per `+`)",
    )


def _syntax(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, "syntax", message, span, hint=hint)


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


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
                message = f"unknown escape `\\{nxt}` in a string"
                raise SpecError([_syntax(bad, message, "the escapes are \\\" \\' \\\\ \\n \\r and \\t")])
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


class _ToAst:
    """Parse tree to AST. One method per grammar rule or alias, called with the node's meta and its children."""

    def __init__(self, source: SourceFile) -> None:
        self.src = source

    def rule(self, node: Tree[Token], children: list[Any]) -> Any:
        """The AST of `node`, whose children are already built."""
        if node.data == "start":
            return self.start(node.meta, children)
        method = getattr(self, node.data, None)
        if method is None or node.data.startswith("_") or node.data == "rule":
            raise InternalError(f"the grammar rule {node.data!r} has no AST builder")
        return method(node.meta, *children)

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
            span = _tok_span(self.src, tok)
            raise SpecError([_syntax(span, f"this number is too large: {err}", "write it with fewer digits")]) from None
        return ast.Num(value, text, self.sp(meta))

    def negative(self, meta: Any, num: ast.Num) -> ast.Num:
        return ast.Num(-num.value, "-" + num.text, self.sp(meta))

    # ---- module and declarations
    def start(self, meta: Any, decls: list[Any]) -> ast.Module:
        span = self.sp(meta) if not meta.empty else Span(self.src, 1, 1, 1, 1)
        return ast.Module(tuple(decls), span)

    def spec_decl(self, meta: Any, tok: Token) -> ast.SpecDecl:
        return ast.SpecDecl(_unescape(str(tok), _tok_span(self.src, tok)), self.sp(meta))

    def unit_decl(self, meta: Any, *names: ast.Ident) -> ast.UnitDecl:
        return ast.UnitDecl(names, self.sp(meta))

    def assets_decl(self, meta: Any, *names: ast.Ident) -> ast.AssetsDecl:
        return ast.AssetsDecl(names, self.sp(meta))

    def accounts_decl(self, meta: Any, tok: Token) -> ast.AccountsDecl:
        span = _tok_span(self.src, tok)
        try:
            value = _number(str(tok), False)
        except ValueError as err:
            raise SpecError([_syntax(span, f"this number is too large: {err}", "write it with fewer digits")]) from None
        return ast.AccountsDecl(ast.Num(value, str(tok), span), self.sp(meta))

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

    def state_decl(self, meta: Any, shared: Token | None, name: ast.Ident, *rest: Any) -> ast.VarDecl:
        decl = self._var("state", meta, name, rest)
        return dataclasses.replace(decl, shared=True) if shared is not None else decl

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
        columns: tuple[tuple[ast.Ident | None, ast.UnitExpr], ...],
        *rows: ast.TableRow,
    ) -> ast.TableDecl:
        if len(rows) > MAX_TABLE_ROWS:
            message = f"table `{name.name}` has {len(rows):,} rows; a table may have at most {MAX_TABLE_ROWS:,}"
            hint = "merge rows that share their values, or split the table"
            raise SpecError([Diagnostic(Severity.ERROR, "too-large", message, rows[MAX_TABLE_ROWS].span, hint=hint)])
        results = tuple(u for _, u in columns)
        names = tuple(n for n, _ in columns) if any(n is not None for n, _ in columns) else ()
        return ast.TableDecl(name, arg, unit, results, rows, self.sp(meta), names)

    def table_result(self, meta: Any, *columns: Any) -> tuple[tuple[ast.Ident | None, ast.UnitExpr], ...]:
        return tuple(c if isinstance(c, tuple) else (None, c) for c in columns)

    def named_result(self, meta: Any, name: ast.Ident, unit: ast.UnitExpr) -> tuple[tuple[ast.Ident, ast.UnitExpr]]:
        return ((name, unit),)

    def table_column(
        self, meta: Any, name: ast.Ident | None, unit: ast.UnitExpr
    ) -> tuple[ast.Ident | None, ast.UnitExpr]:
        return (name, unit)

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

    def action_param(
        self, meta: Any, name: ast.Ident, unit: ast.UnitExpr, choice: ast.Expr | None = None
    ) -> ast.ActionParam:
        return ast.ActionParam(name, unit, self.sp(meta), choice)

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

    def conserved_decl(self, meta: Any, name: ast.Ident, expr: ast.Expr, direction: str | None) -> ast.NamedFormula:
        return ast.NamedFormula("conserved", name, expr, self.sp(meta), direction=direction or "")

    def never_decreases(self, meta: Any) -> str:
        return "never decreases"

    def never_increases(self, meta: Any) -> str:
        return "never increases"

    def invariant_decl(self, meta: Any, name: ast.Ident, expr: ast.Expr) -> ast.NamedFormula:
        return ast.NamedFormula("invariant", name, expr, self.sp(meta))

    def property_decl(self, meta: Any, name: ast.Ident, on: ast.StepRef | None, expr: ast.Expr) -> ast.NamedFormula:
        return ast.NamedFormula("property", name, expr, self.sp(meta), on=on)

    def on_step(self, meta: Any, step: ast.Ident) -> ast.StepRef:
        return ast.StepRef(step, "", self.sp(meta))

    def on_every_step(self, meta: Any) -> ast.StepRef:
        return ast.StepRef(None, "step", self.sp(meta))

    def on_every_action(self, meta: Any) -> ast.StepRef:
        return ast.StepRef(None, "action", self.sp(meta))

    # ---- units
    def unit_name(self, meta: Any, name: ast.Ident) -> ast.UnitName:
        return ast.UnitName(name, self.sp(meta))

    def unit_pow(self, meta: Any, name: ast.Ident, power: Token) -> ast.UnitPow:
        span = _tok_span(self.src, power)
        shown = str(power) if len(power) <= 20 else f"{str(power)[:20]}..."
        try:
            value = exact_number(str(power))  # capped: `USD^1e-99999999` must not build a huge Fraction
        except ValueError:
            value = None
        if value is None or value.denominator != 1 or value > MAX_UNIT_POWER:
            message = f"a unit's power must be a whole number from 0 to {MAX_UNIT_POWER}, not {shown}"
            raise SpecError([_syntax(span, message, "write e.g. BTC^2")])
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

    def row_ref(self, meta: Any, table: ast.Ident, row: Token, cell: ast.Ident) -> ast.RowRef:
        try:
            value = _number(str(row), False)
        except ValueError as err:
            span = _tok_span(self.src, row)
            raise SpecError([_syntax(span, f"this number is too large: {err}", "rows are numbered from 1")]) from None
        return ast.RowRef(table, value, cell, self.sp(meta))

    def primed_indexed_ref(self, meta: Any, name: ast.Ident, index: ast.Ident) -> ast.Ref:
        return ast.Ref(name, index, self.sp(meta), primed=True)

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
