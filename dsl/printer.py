"""Pretty-printing: `dsl.ast` back to DSL source text.

Takes AST expressions (`expr_to_source`), unit expressions (`unit_to_source`)
and whole modules (`module_to_source`) and returns source text in one
canonical layout: single spaces around operators, four-space indentation, one
declaration per line, comments and the user's spacing dropped.

Guarantees, for any AST the parser can produce: parsing the printed text gives
back an equal AST (spans are not compared). Parentheses are minimal: a
sub-expression is wrapped only when the grammar would otherwise group it
differently. Levels, loosest first: `if-then-else`, `implies` (right
associative), `or`, `and`, `not`, the comparisons (non-associative), `+ -`,
`* /`, unary `-`, atoms.

Numbers print exactly. A `Num` prints as the text the user wrote when that
text still denotes its value (so `1_000`, `5%` and `1e-4` survive a round
trip); otherwise as a plain decimal. A value that is not a finite decimal
(e.g. 1/3) cannot come from the parser and raises `ValueError`, as does any
other AST that no source text produces (an unknown operator).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import assert_never

from dsl import ast

__all__ = ["expr_to_source", "module_to_source", "number_to_source", "unit_to_source"]

# Binding strength: a higher number binds tighter.
_ITE, _IMPLIES, _OR, _AND, _NOT, _CMP, _ADD, _MUL, _NEG, _ATOM = range(10)

_BINARY_LEVEL = {
    "implies": _IMPLIES,
    "or": _OR,
    "and": _AND,
    "<": _CMP,
    "<=": _CMP,
    ">": _CMP,
    ">=": _CMP,
    "==": _CMP,
    "!=": _CMP,
    "+": _ADD,
    "-": _ADD,
    "*": _MUL,
    "/": _MUL,
}

# The level each operand must have to be printed without parentheses, from the grammar:
# `disj "implies" implies`, `disj "or" conj`, `conj "and" negation`, `arith CMP arith`,
# `arith "+" term`, `term "*" factor`.
_OPERAND_LEVELS = {
    _IMPLIES: (_OR, _IMPLIES),
    _OR: (_OR, _AND),
    _AND: (_AND, _NOT),
    _CMP: (_ADD, _ADD),
    _ADD: (_ADD, _MUL),
    _MUL: (_MUL, _NEG),
}

_NUMBER = re.compile(r"\d+(_\d+)*(\.\d+(_\d+)*)?([eE][+-]?\d+)?%?")

INDENT = "    "


def number_to_source(value: Fraction) -> str:
    """`value` as an exact decimal literal, with a leading `-` when negative."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        raise ValueError(f"{value} is not a finite decimal, so no number literal denotes it")
    places = max(twos, fives)
    scaled = value.numerator * (10**places // value.denominator)
    if places == 0:
        return f"{sign}{scaled}"
    digits = str(scaled).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _text_denotes(text: str, value: Fraction) -> bool:
    if not _NUMBER.fullmatch(text):
        return False
    body = text.removesuffix("%").replace("_", "")
    parsed = Fraction(body) / 100 if text.endswith("%") else Fraction(body)
    return parsed == value


def _num(n: ast.Num) -> str:
    if n.value >= 0 and _text_denotes(n.text, n.value):
        return n.text
    if n.value < 0 and n.text.startswith("-") and _text_denotes(n.text[1:], -n.value):
        return n.text
    return number_to_source(n.value)


def _level(e: ast.Expr) -> int:
    match e:
        case ast.Ite():
            return _ITE
        case ast.Binary(op=op):
            if op not in _BINARY_LEVEL:
                raise ValueError(f"unknown binary operator {op!r}")
            return _BINARY_LEVEL[op]
        case ast.Unary(op="not"):
            return _NOT
        case ast.Unary():
            return _NEG
        case ast.Num(value=v):
            return _NEG if v < 0 else _ATOM
        case ast.BoolLit() | ast.Ref() | ast.Call() | ast.RowRef() | ast.Quant():
            return _ATOM
        case _:
            assert_never(e)


def _wrap(e: ast.Expr, at_least: int) -> str:
    text = expr_to_source(e)
    return f"({text})" if _level(e) < at_least else text


def expr_to_source(e: ast.Expr) -> str:
    """The DSL text of expression `e`, with the fewest parentheses that keep its shape."""
    match e:
        case ast.Num():
            return _num(e)
        case ast.BoolLit(value=v):
            return "true" if v else "false"
        case ast.Ref(name=name, index=index, primed=primed):
            if primed and index is not None:
                return f"{name.name}'[{index.name}]"
            if primed:
                return f"{name.name}'"
            return name.name if index is None else f"{name.name}[{index.name}]"
        case ast.Call(func=func, args=args):
            return f"{func.name}({', '.join(expr_to_source(a) for a in args)})"
        case ast.RowRef(table=table, row=row, cell=cell):
            return f"{table.name}[{number_to_source(row)}].{cell.name}"
        case ast.Quant(kind=kind, var=var, set=set_, body=body):
            if kind not in ("sum", "all", "any"):
                raise ValueError(f"unknown quantifier {kind!r}")
            return f"{kind}({var.name} in {set_.name}: {expr_to_source(body)})"
        case ast.Unary(op=op, operand=x):
            if op == "not":
                return f"not {_wrap(x, _NOT)}"
            if op == "-":
                inner = _wrap(x, _NEG)
                return f"- {inner}" if inner.startswith("-") else f"-{inner}"  # `--a` reads badly
            raise ValueError(f"unknown unary operator {op!r}")
        case ast.Binary(op=op, left=a, right=b):
            left_at, right_at = _OPERAND_LEVELS[_level(e)]
            return f"{_wrap(a, left_at)} {op} {_wrap(b, right_at)}"
        case ast.Ite(cond=c, then=t, orelse=o):
            return f"if {expr_to_source(c)} then {expr_to_source(t)} else {expr_to_source(o)}"
        case _:
            assert_never(e)


# ---- units and declarations --------------------------------------------------


def unit_to_source(u: ast.UnitExpr) -> str:
    """The DSL text of a unit expression (`USD/BTC`, `USD*(BTC/USD)`, `BTC^2`)."""
    match u:
        case ast.UnitName(name=n):
            return n.name
        case ast.UnitPow(name=n, power=p):
            if p < 0:
                raise ValueError("a unit power is written as a non-negative integer")
            return f"{n.name}^{p}"
        case ast.UnitBin(op=op, left=a, right=b):
            right = unit_to_source(b)
            return f"{unit_to_source(a)}{op}{f'({right})' if isinstance(b, ast.UnitBin) else right}"
        case _:
            assert_never(u)


def _bound(b: ast.Bound) -> str:
    if b.value is None:
        return "-inf" if b.negative else "inf"
    return number_to_source(b.value)


def _signed(n: ast.Num) -> str:
    return _num(n)


def _index(index: ast.Ident | ast.Binder | None) -> str:
    match index:
        case None:
            return ""
        case ast.Ident(name=n):
            return f"[{n}]"
        case ast.Binder(var=v, set=s):
            return f"[{v.name} in {s.name}]"
        case _:
            assert_never(index)


def _target(t: ast.Target) -> str:
    return f"{t.name.name}'{_index(t.index)}"


def _action_param(p: ast.ActionParam) -> str:
    head = f"{p.name.name}: {unit_to_source(p.unit)}"
    return head if p.choice is None else f"{head} = {expr_to_source(p.choice)}"


def _let(d: ast.LetDecl) -> str:
    binder = _index(d.binder)
    unit = f": {unit_to_source(d.unit)}" if d.unit is not None else ""
    return f"let {d.name.name}{binder}{unit} = {expr_to_source(d.expr)}"


def _string(title: str) -> str:
    escaped = title.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _decl(d: ast.Decl) -> list[str]:
    match d:
        case ast.SpecDecl(title=title):
            return [f"spec {_string(title)}"]
        case ast.UnitDecl(names=names):
            return ["unit " + ", ".join(n.name for n in names)]
        case ast.AssetsDecl(names=names):
            return ["assets " + ", ".join(n.name for n in names)]
        case ast.AccountsDecl(count=count):
            return [f"accounts {count.text}"]
        case ast.ParamDecl(name=name, indexed=indexed, unit=unit, default=default, range=rng):
            out = f"param {name.name}{_index(indexed)}: {unit_to_source(unit)}"
            if isinstance(default, ast.Num):
                out += f" = {_signed(default)}"
            elif default is not None:
                out += " = {" + ", ".join(f"{a.name}: {_signed(v)}" for a, v in default) + "}"
            if rng is not None:
                out += f" in [{_bound(rng[0])}, {_bound(rng[1])}]"
            return [out]
        case ast.AssumeDecl(expr=e):
            return [f"assume {expr_to_source(e)}"]
        case ast.VarDecl(kind=kind, name=name, indexed=indexed, unit=unit, where=where):
            out = f"{'shared ' if d.shared else ''}{kind} {name.name}{_index(indexed)}: {unit_to_source(unit)}"
            return [out if where is None else f"{out} where {expr_to_source(where)}"]
        case ast.LetDecl():
            return [_let(d)]
        case ast.TupleLetDecl(names=names, expr=e):
            return [f"let ({', '.join(n.name for n in names)}) = {expr_to_source(e)}"]
        case ast.TableDecl(name=name, arg=arg, arg_unit=arg_unit, results=results, rows=rows, columns=columns):
            named = columns or (None,) * len(results)
            res = ", ".join(
                unit_to_source(u) if n is None else f"{n.name}: {unit_to_source(u)}"
                for n, u in zip(named, results, strict=True)
            )
            head = f"table {name.name}({arg.name}: {unit_to_source(arg_unit)}) -> "
            head += res if len(results) == 1 and not columns else f"({res})"
            body = [
                f"{INDENT}[{_bound(r.lo)}, {_bound(r.hi)}) -> " + ", ".join(_signed(v) for v in r.values) for r in rows
            ]
            return [head + ":", *body]
        case ast.MarginBlock(roles=roles):
            return [
                "margin:",
                *(f"{INDENT}{r.role.name} {'when' if r.is_condition else '='} {expr_to_source(r.expr)}" for r in roles),
            ]
        case ast.ActionDecl(forced=forced, name=name, params=params, guard=guard, body=body):
            head = ("forced " if forced else "") + f"action {name.name}"
            if params:
                head += "(" + ", ".join(_action_param(p) for p in params) + ")"
            if guard is not None:
                head += f" when {expr_to_source(guard)}"
            lines = [
                INDENT + (_let(s) if isinstance(s, ast.LetDecl) else f"{_target(s.target)} = {expr_to_source(s.expr)}")
                for s in body
            ]
            return [head + ":", *lines]
        case ast.EnvDecl(name=name, guard=guard, items=items):
            head = f"env {name.name}" + (f" when {expr_to_source(guard)}" if guard is not None else "")
            shown = [f"{_target(i.target)} in [{expr_to_source(i.lo)}, {expr_to_source(i.hi)}]" for i in items]
            return [f"{head}: " + ", ".join(shown)]
        case ast.NamedFormula(kind=kind, name=name, expr=e, on=on, direction=direction):
            label = f"{kind} {name.name}" if name is not None else kind
            if on is not None:
                label += f" on {on.step.name}" if on.step is not None else f" on every {on.every}"
            return [f"{label}: {expr_to_source(e)}" + (f" {direction}" if direction else "")]
        case _:
            assert_never(d)


def module_to_source(m: ast.Module) -> str:
    """The DSL text of a whole module: one declaration (or block) per line, ending in a newline."""
    return "".join(line + "\n" for d in m.decls for line in _decl(d))
