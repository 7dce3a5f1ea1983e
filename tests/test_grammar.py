"""Grammar coverage: every construct of dsl/grammar.lark parses to the AST we expect.

Protects the parser's contract with `dsl.elaborate`: the shape of the AST for
each declaration and expression form, operator precedence and associativity,
number literals, and the source spans that diagnostics point at. Expected trees
are built by hand; AST equality ignores spans, so spans are checked separately.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from dsl import ast
from dsl.diagnostics import SourceFile, Span, SpecError
from dsl.parser import parse

_S = Span(SourceFile("<expected>", ""), 1, 1, 1, 1)  # never compared


# ---- terse constructors for expected trees ---------------------------------


def I(name: str) -> ast.Ident:  # noqa: E743
    return ast.Ident(name, _S)


def R(name: str, index: str | None = None, primed: bool = False) -> ast.Ref:
    return ast.Ref(I(name), I(index) if index else None, _S, primed)


def N(text: str, value: Fraction | int | str | None = None) -> ast.Num:
    if value is None:
        value = Fraction(text.replace("_", ""))
    return ast.Num(Fraction(value), text, _S)


def B(op: str, a: ast.Expr, b: ast.Expr) -> ast.Binary:
    return ast.Binary(op, a, b, _S)


def Neg(x: ast.Expr) -> ast.Unary:
    return ast.Unary("-", x, _S)


def Not(x: ast.Expr) -> ast.Unary:
    return ast.Unary("not", x, _S)


def Call(f: str, *args: ast.Expr) -> ast.Call:
    return ast.Call(I(f), args, _S)


def Q(kind: str, var: str, set_: str, body: ast.Expr) -> ast.Quant:
    return ast.Quant(kind, I(var), I(set_), body, _S)


def Ite(c: ast.Expr, t: ast.Expr, o: ast.Expr) -> ast.Ite:
    return ast.Ite(c, t, o, _S)


def U(name: str) -> ast.UnitName:
    return ast.UnitName(I(name), _S)


def UBin(op: str, a: ast.UnitExpr, b: ast.UnitExpr) -> ast.UnitBin:
    return ast.UnitBin(op, a, b, _S)


def Bd(value: Fraction | int | str | None, negative: bool = False) -> ast.Bound:
    if value is None:
        return ast.Bound(None, negative, _S)
    v = Fraction(value)
    return ast.Bound(v, v < 0, _S)


def Binder(var: str, set_: str) -> ast.Binder:
    return ast.Binder(I(var), I(set_), _S)


def T(name: str, index: ast.Ident | ast.Binder | None = None) -> ast.Target:
    return ast.Target(I(name), index, _S)


def Let(name: str, expr: ast.Expr, unit: ast.UnitExpr | None = None, binder: ast.Binder | None = None) -> ast.LetDecl:
    return ast.LetDecl(I(name), binder, unit, expr, _S)


def Assign(target: ast.Target, expr: ast.Expr) -> ast.Assign:
    return ast.Assign(target, expr, _S)


# ---- parsing helpers -----------------------------------------------------------


def module(text: str) -> ast.Module:
    return parse(SourceFile("t.margin", text))


def decls(text: str) -> tuple[ast.Decl, ...]:
    return module(text).decls


def one(text: str) -> ast.Decl:
    (d,) = decls(text)
    return d


def expr(text: str) -> ast.Expr:
    d = one(f"property p: {text}\n")
    assert isinstance(d, ast.NamedFormula)
    return d.expr


a, b, c, d, x, y = R("a"), R("b"), R("c"), R("d"), R("x"), R("y")


# ---- declarations ----------------------------------------------------------------


def test_spec_title() -> None:
    assert one('spec "Linear perpetual, isolated margin"\n') == ast.SpecDecl("Linear perpetual, isolated margin", _S)


def test_spec_title_with_escapes() -> None:
    assert one(r'spec "say \"hi\""' + "\n") == ast.SpecDecl('say "hi"', _S)


def test_unit_and_assets() -> None:
    assert decls("unit USD, BTC\nassets BTC, ETH, SOL\n") == (
        ast.UnitDecl((I("USD"), I("BTC")), _S),
        ast.AssetsDecl((I("BTC"), I("ETH"), I("SOL")), _S),
    )


def test_param_scalar_default_and_range() -> None:
    assert one("param imr: rate = 0.01 in [0.001, 0.5]\n") == ast.ParamDecl(
        I("imr"), None, U("rate"), N("0.01"), (Bd("0.001"), Bd("0.5")), _S
    )


def test_param_without_default_or_range() -> None:
    assert one("param k: USD\n") == ast.ParamDecl(I("k"), None, U("USD"), None, None, _S)


def test_param_negative_default_and_infinite_range() -> None:
    assert one("param skew: USD = -5 in [-inf, inf]\n") == ast.ParamDecl(
        I("skew"), None, U("USD"), ast.Num(Fraction(-5), "-5", _S), (Bd(None, True), Bd(None)), _S
    )


def test_param_range_with_negative_numbers() -> None:
    (rng_lo, rng_hi) = one("param s: rate = 0 in [-1.5, 2]\n").range  # type: ignore[union-attr,misc]
    assert (rng_lo, rng_hi) == (Bd("-1.5"), Bd(2))
    assert rng_lo.negative and not rng_hi.negative


def test_param_per_asset_map_default() -> None:
    assert one("param lt[assets]: rate = {BTC: 0.8, ETH: -0.75} in [0, 1]\n") == ast.ParamDecl(
        I("lt"),
        I("assets"),
        U("rate"),
        ((I("BTC"), N("0.8")), (I("ETH"), ast.Num(Fraction("-0.75"), "-0.75", _S))),
        (Bd(0), Bd(1)),
        _S,
    )


def test_param_per_asset_scalar_default() -> None:
    assert one("param w[assets]: rate = 1\n") == ast.ParamDecl(I("w"), I("assets"), U("rate"), N("1"), None, _S)


def test_assume() -> None:
    assert one("assume mmr < imr\n") == ast.AssumeDecl(B("<", R("mmr"), R("imr")), _S)


def test_state_and_input() -> None:
    assert decls("state collateral: USD where collateral >= 0\ninput mark: USD/BTC\n") == (
        ast.VarDecl("state", I("collateral"), None, U("USD"), B(">=", R("collateral"), N("0")), _S),
        ast.VarDecl("input", I("mark"), None, UBin("/", U("USD"), U("BTC")), None, _S),
    )


def test_per_asset_state_and_input() -> None:
    assert decls("state qty[assets]: rate\ninput price[assets]: USD where price[a] > 0\n") == (
        ast.VarDecl("state", I("qty"), I("assets"), U("rate"), None, _S),
        ast.VarDecl("input", I("price"), I("assets"), U("USD"), B(">", R("price", "a"), N("0")), _S),
    )


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("USD", U("USD")),
        ("USD/BTC", UBin("/", U("USD"), U("BTC"))),
        ("USD*BTC", UBin("*", U("USD"), U("BTC"))),
        ("USD/BTC/BTC", UBin("/", UBin("/", U("USD"), U("BTC")), U("BTC"))),
        ("USD/(BTC*ETH)", UBin("/", U("USD"), UBin("*", U("BTC"), U("ETH")))),
        ("BTC^2", ast.UnitPow(I("BTC"), 2, _S)),
        ("USD / BTC^2", UBin("/", U("USD"), ast.UnitPow(I("BTC"), 2, _S))),
    ],
)
def test_unit_expressions(text: str, unit: ast.UnitExpr) -> None:
    d = one(f"state s: {text}\n")
    assert isinstance(d, ast.VarDecl)
    assert d.unit == unit


def test_let_typed_and_inferred() -> None:
    assert decls("let notional: USD = abs(size) * mark\nlet r = a / b\n") == (
        Let("notional", B("*", Call("abs", R("size")), R("mark")), U("USD")),
        Let("r", B("/", a, b)),
    )


def test_let_indexed_with_binder() -> None:
    assert one("let value[a in assets]: USD = qty[a] * price[a]\n") == Let(
        "value", B("*", R("qty", "a"), R("price", "a")), U("USD"), Binder("a", "assets")
    )


def test_tuple_let() -> None:
    assert one("let (tier_rate, tier_amount, z) = mmr_tier(notional)\n") == ast.TupleLetDecl(
        (I("tier_rate"), I("tier_amount"), I("z")), Call("mmr_tier", R("notional")), _S
    )


def test_table_single_column() -> None:
    text = "table fee(n: USD) -> rate:\n    [-inf, 0) -> 0\n    [0, 1_000) -> 0.5%\n    [1_000, inf) -> 1e-4\n"
    assert one(text) == ast.TableDecl(
        I("fee"),
        I("n"),
        U("USD"),
        (U("rate"),),
        (
            ast.TableRow(Bd(None, True), Bd(0), (N("0"),), _S),
            ast.TableRow(Bd(0), Bd(1000), (N("0.5%", Fraction(1, 200)),), _S),
            ast.TableRow(Bd(1000), Bd(None), (N("1e-4"),), _S),
        ),
        _S,
    )


def test_table_multi_column() -> None:
    text = (
        "table mmr_tier(n: USD) -> (rate, USD):   # brackets\n"
        "    [0, 50_000)        -> 0.004, 0\n"
        "\n"
        "    [50_000, inf)      -> 0.010, -1_300\n"
    )
    assert one(text) == ast.TableDecl(
        I("mmr_tier"),
        I("n"),
        U("USD"),
        (U("rate"), U("USD")),
        (
            ast.TableRow(Bd(0), Bd(50000), (N("0.004"), N("0")), _S),
            ast.TableRow(Bd(50000), Bd(None), (N("0.010"), ast.Num(Fraction(-1300), "-1_300", _S)), _S),
        ),
        _S,
    )


def test_margin_roles() -> None:
    text = (
        "margin:\n"
        "    equity      = collateral + size * (mark - entry)\n"
        "    initial     = notional * imr\n"
        "    maintenance = notional * mmr\n"
        "    liquidatable when equity < maintenance\n"
    )
    assert one(text) == ast.MarginBlock(
        (
            ast.RoleDef(
                I("equity"), B("+", R("collateral"), B("*", R("size"), B("-", R("mark"), R("entry")))), False, _S
            ),
            ast.RoleDef(I("initial"), B("*", R("notional"), R("imr")), False, _S),
            ast.RoleDef(I("maintenance"), B("*", R("notional"), R("mmr")), False, _S),
            ast.RoleDef(I("liquidatable"), B("<", R("equity"), R("maintenance")), True, _S),
        ),
        _S,
    )


def test_action_with_guard() -> None:
    text = "action liquidate when liquidatable:\n    size' = 0\n    collateral' = max(equity, 0)\n"
    assert one(text) == ast.ActionDecl(
        False,
        I("liquidate"),
        (),
        R("liquidatable"),
        (Assign(T("size"), N("0")), Assign(T("collateral"), Call("max", R("equity"), N("0")))),
        _S,
    )


def test_forced_action_with_args_local_let_and_indexed_updates() -> None:
    text = (
        "forced action trade(q: BTC, px: USD/BTC):\n"
        "    let cost: USD = q * px\n"
        "    let k = 2\n"
        "    qty'[BTC] = qty[BTC] + q\n"
        "    cash'[a in assets] = cash[a] - cost\n"
    )
    assert one(text) == ast.ActionDecl(
        True,
        I("trade"),
        (ast.ActionParam(I("q"), U("BTC"), _S), ast.ActionParam(I("px"), UBin("/", U("USD"), U("BTC")), _S)),
        None,
        (
            Let("cost", B("*", R("q"), R("px")), U("USD")),
            Let("k", N("2")),
            Assign(T("qty", I("BTC")), B("+", R("qty", "BTC"), R("q"))),
            Assign(T("cash", Binder("a", "assets")), B("-", R("cash", "a"), R("cost"))),
        ),
        _S,
    )


def test_env_inline() -> None:
    text = "env move: mark' in [mark * (1 - m), mark * (1 + m)], basis' in [0, 1]\n"
    assert one(text) == ast.EnvDecl(
        I("move"),
        None,
        (
            ast.EnvItem(
                T("mark"), B("*", R("mark"), B("-", N("1"), R("m"))), B("*", R("mark"), B("+", N("1"), R("m"))), _S
            ),
            ast.EnvItem(T("basis"), N("0"), N("1"), _S),
        ),
        _S,
    )


def test_env_block_with_guard_and_index() -> None:
    text = "env shock when calm:\n    price'[BTC] in [0, 2]\n    price'[ETH] in [1, 3]\n"
    assert one(text) == ast.EnvDecl(
        I("shock"),
        R("calm"),
        (
            ast.EnvItem(T("price", I("BTC")), N("0"), N("2"), _S),
            ast.EnvItem(T("price", I("ETH")), N("1"), N("3"), _S),
        ),
        _S,
    )


def test_named_formulas() -> None:
    text = (
        "init: size == 0 and insurance >= 0\n"
        "conserved value: collateral + insurance\n"
        "invariant fund_solvent: insurance >= 0\n"
        "property  maintenance_below_initial: maintenance <= initial\n"
    )
    assert decls(text) == (
        ast.NamedFormula("init", None, B("and", B("==", R("size"), N("0")), B(">=", R("insurance"), N("0"))), _S),
        ast.NamedFormula("conserved", I("value"), B("+", R("collateral"), R("insurance")), _S),
        ast.NamedFormula("invariant", I("fund_solvent"), B(">=", R("insurance"), N("0")), _S),
        ast.NamedFormula("property", I("maintenance_below_initial"), B("<=", R("maintenance"), R("initial")), _S),
    )


def test_comments_blank_lines_and_line_continuation() -> None:
    text = "# heading\n\nlet x = 1 + \\\n    2   # trailing\n\n\nlet y = (1 +\n    2)\n"
    assert decls(text) == (Let("x", B("+", N("1"), N("2"))), Let("y", B("+", N("1"), N("2"))))


def test_empty_file_and_missing_final_newline() -> None:
    assert decls("") == ()
    assert decls("# only a comment\n") == ()
    assert decls("let x = 1") == (Let("x", N("1")),)


# ---- expressions -------------------------------------------------------------------

EXPRESSIONS = [
    # atoms
    ("x", x),
    ("x'", R("x", primed=True)),
    ("price[BTC]", R("price", "BTC")),
    ("true", ast.BoolLit(True, _S)),
    ("false", ast.BoolLit(False, _S)),
    ("(x)", x),
    ("((x))", x),
    ("f()", Call("f")),
    ("abs(x)", Call("abs", x)),
    ("max(a, b, c)", Call("max", a, b, c)),
    ("round_down(x, 0.01)", Call("round_down", x, N("0.01"))),
    ("sum(a in assets: qty[a] * price[a])", Q("sum", "a", "assets", B("*", R("qty", "a"), R("price", "a")))),
    ("all(i in assets: w[i] >= 0)", Q("all", "i", "assets", B(">=", R("w", "i"), N("0")))),
    ("any(i in assets: w[i] > 0 or x)", Q("any", "i", "assets", B("or", B(">", R("w", "i"), N("0")), x))),
    # numbers
    ("0", N("0")),
    ("42", N("42")),
    ("0.005", N("0.005")),
    ("1_000", N("1_000", 1000)),
    ("1_000.000_5", N("1_000.000_5", "1000.0005")),
    ("1e-4", N("1e-4", Fraction(1, 10000))),
    ("2.5E+3", N("2.5E+3", 2500)),
    ("5%", N("5%", Fraction(1, 20))),
    ("0.5%", N("0.5%", Fraction(1, 200))),
    # arithmetic
    ("a + b", B("+", a, b)),
    ("a - b - c", B("-", B("-", a, b), c)),
    ("a + b * c", B("+", a, B("*", b, c))),
    ("(a + b) * c", B("*", B("+", a, b), c)),
    ("a / b / c", B("/", B("/", a, b), c)),
    ("a / (b / c)", B("/", a, B("/", b, c))),
    ("a * b / c", B("/", B("*", a, b), c)),
    ("-a", Neg(a)),
    ("- -a", Neg(Neg(a))),
    ("-a * b", B("*", Neg(a), b)),
    ("a * -b", B("*", a, Neg(b))),
    ("a - -b", B("-", a, Neg(b))),
    ("-(a + b)", Neg(B("+", a, b))),
    ("-5%", Neg(N("5%", Fraction(1, 20)))),
    # comparisons
    ("a < b", B("<", a, b)),
    ("a <= b", B("<=", a, b)),
    ("a > b", B(">", a, b)),
    ("a >= b", B(">=", a, b)),
    ("a == b", B("==", a, b)),
    ("a != b", B("!=", a, b)),
    ("a + 1 < b * 2", B("<", B("+", a, N("1")), B("*", b, N("2")))),
    ("(a < b) == c", B("==", B("<", a, b), c)),
    # logic
    ("not a", Not(a)),
    ("not not a", Not(Not(a))),
    ("not a < b", Not(B("<", a, b))),
    ("not a and b", B("and", Not(a), b)),
    ("a and b and c", B("and", B("and", a, b), c)),
    ("a or b and c", B("or", a, B("and", b, c))),
    ("(a or b) and c", B("and", B("or", a, b), c)),
    ("a or b or c", B("or", B("or", a, b), c)),
    ("a implies b", B("implies", a, b)),
    ("a implies b implies c", B("implies", a, B("implies", b, c))),
    ("(a implies b) implies c", B("implies", B("implies", a, b), c)),
    ("a or b implies c and d", B("implies", B("or", a, b), B("and", c, d))),
    # conditionals
    ("if a then b else c", Ite(a, b, c)),
    ("if a then b else c + 1", Ite(a, b, B("+", c, N("1")))),
    ("(if a then b else c) + 1", B("+", Ite(a, b, c), N("1"))),
    ("if a then if b then c else d else x", Ite(a, Ite(b, c, d), x)),
    ("if a then b else if c then d else x", Ite(a, b, Ite(c, d, x))),
    ("if a implies b then x else y", Ite(B("implies", a, b), x, y)),
    ("f(if a then b else c, -x)", Call("f", Ite(a, b, c), Neg(x))),
]


@pytest.mark.parametrize(("text", "tree"), EXPRESSIONS, ids=[t for t, _ in EXPRESSIONS])
def test_expression(text: str, tree: ast.Expr) -> None:
    assert expr(text) == tree


def test_numbers_keep_their_text() -> None:
    n = expr("1_000")
    assert isinstance(n, ast.Num)
    assert (n.value, n.text) == (Fraction(1000), "1_000")
    pct = expr("12.5%")
    assert isinstance(pct, ast.Num)
    assert (pct.value, pct.text) == (Fraction(1, 8), "12.5%")


@pytest.mark.parametrize(
    "text",
    [
        "a < b < c",  # comparisons do not chain
        "a == b != c",
        "a + if b then c else d",  # `if` is loosest: it needs parentheses inside an operator
        "not",
        "a +",
        "f(a,)",
        "a[b][c]",
        "x''",  # one prime at most
        "sum(a: x)",
        "1__0",
    ],
)
def test_rejected_expressions(text: str) -> None:
    with pytest.raises(SpecError):
        expr(text)


@pytest.mark.parametrize(
    "text",
    [
        "param q: rate in [0 1]\n",
        "let (x) = t(1)\n",  # a tuple let names at least two values
        "table t(n: USD) -> rate:\n[0, 1) -> 1\n",  # rows must be indented
        "margin:\n",
        "action a:\n",
        "unit\n",
    ],
)
def test_rejected_declarations(text: str) -> None:
    with pytest.raises(SpecError):
        module(text)


# ---- spans -------------------------------------------------------------------------


def _at(span: Span) -> tuple[int, int, int, int]:
    return (span.line, span.col, span.end_line, span.end_col)


def test_expression_spans() -> None:
    d = one("property p: a + b * c\n")
    assert isinstance(d, ast.NamedFormula)
    e = d.expr
    assert isinstance(e, ast.Binary) and isinstance(e.right, ast.Binary)
    assert d.name is not None and _at(d.name.span) == (1, 10, 1, 11)
    assert _at(e.span) == (1, 13, 1, 22)
    assert _at(e.left.span) == (1, 13, 1, 14)
    assert _at(e.right.span) == (1, 17, 1, 22)
    assert e.right.span.text() == "b * c"


def test_parenthesised_and_call_spans() -> None:
    d = one("let v = (a + b) * max(x, 0.5)\n")
    assert isinstance(d, ast.LetDecl) and isinstance(d.expr, ast.Binary)
    assert d.expr.span.text() == "(a + b) * max(x, 0.5)"
    assert d.expr.left.span.text() == "a + b"
    call = d.expr.right
    assert isinstance(call, ast.Call)
    assert call.span.text() == "max(x, 0.5)"
    assert call.func.span.text() == "max"
    assert call.args[1].span.text() == "0.5"


def test_spans_in_an_indented_block() -> None:
    text = "unit USD\n\naction liquidate when size > 0:\n    size' = 0\n    cash'[BTC] = cash[BTC] - 1\n"
    d = decls(text)[1]
    assert isinstance(d, ast.ActionDecl)
    assert (d.span.line, d.span.col) == (3, 1)
    assert _at(d.name.span) == (3, 8, 3, 17)
    assert d.guard is not None and d.guard.span.text() == "size > 0"
    first, second = d.body
    assert isinstance(first, ast.Assign) and isinstance(second, ast.Assign)
    assert _at(first.target.span) == (4, 5, 4, 10)
    assert first.target.span.text() == "size'"
    assert _at(first.expr.span) == (4, 13, 4, 14)
    assert second.target.span.text() == "cash'[BTC]"
    assert second.expr.span.text() == "cash[BTC] - 1"
    assert _at(second.expr.span) == (5, 18, 5, 31)


def test_table_row_and_bound_spans() -> None:
    d = one("table t(n: USD) -> rate:\n    [0, inf) -> 0.5\n")
    assert isinstance(d, ast.TableDecl)
    row = d.rows[0]
    assert (row.span.line, row.span.col) == (2, 5)
    assert row.hi.span.text() == "inf"
    assert row.values[0].span.text() == "0.5"


def test_param_default_span() -> None:
    d = one("param fee: rate = -0.5 in [0, 1]\n")
    assert isinstance(d, ast.ParamDecl) and isinstance(d.default, ast.Num)
    assert d.default.span.text() == "-0.5"
    assert d.range is not None and _at(d.range[1].span) == (1, 31, 1, 32)


def test_statement_spans_end_on_their_own_line() -> None:
    text = "action a:\n    size' = 0   # flat\n    x' = 1\nlet y = 2\n"
    action, let = decls(text)
    assert isinstance(action, ast.ActionDecl) and isinstance(let, ast.LetDecl)
    assert action.body[0].span.text() == "size' = 0"
    assert _at(let.span) == (4, 1, 4, 10)
