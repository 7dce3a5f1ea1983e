"""Round trips through the printer, and the generated engine against a reference interpreter.

Protects two promises:

1. `dsl.printer` prints any AST the parser can produce so that parsing the text
   gives the same AST back (minimal parentheses, exact numbers), checked on
   hand-picked precedence cases, on random well-typed expressions, and on
   whole bundled specs.
2. The Python back end computes exactly what the IR means: for random
   well-typed numeric expressions (abs, min, max, if, rounding, division,
   tables, sums over assets, lets) and random exact inputs, the compiled `let`
   returns the same Fraction as tests/ir_reference.py evaluating the IR.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_reference import Reference
from specgen import sampled

import dsl
from dsl import ast
from dsl.diagnostics import SourceFile, Span, SpecError
from dsl.parser import parse
from dsl.printer import expr_to_source, module_to_source, number_to_source, unit_to_source

_S = Span(SourceFile("<generated>", ""), 1, 1, 1, 1)
ROOT = Path(__file__).resolve().parent.parent


def _parse_expr(text: str) -> ast.Expr:
    (d,) = parse(SourceFile("t.margin", f"property p: {text}\n")).decls
    assert isinstance(d, ast.NamedFormula)
    return d.expr


# ---- fixed cases ---------------------------------------------------------------

CANONICAL = [
    "a + b * c",
    "(a + b) * c",
    "a - b - c",
    "a - (b - c)",
    "a - (b + c)",
    "a / b / c",
    "a / (b * c)",
    "a * b / c",
    "-a",
    "-a * b",
    "-(a * b)",
    "-(a + b)",
    "- -a",
    "a - -b",
    "a * -b",
    "a < b",
    "(a < b) == c",
    "a == (b != c)",
    "-a < b + 1",
    "not a",
    "not not a",
    "not (a and b)",
    "not a and b",
    "not a < b",
    "a and b and c",
    "a and (b and c)",
    "a or b and c",
    "(a or b) and c",
    "a or (b or c)",
    "a implies b implies c",
    "(a implies b) implies c",
    "(a implies b) or c",
    "a implies b or c",
    "if a then b else c",
    "if a then b else c + 1",
    "(if a then b else c) + 1",
    "-(if a then b else c)",
    "not (if a then b else c)",
    "if if a then b else c then d else e",
    "if a then if b then c else d else e",
    "if a then b else if c then d else e",
    "(if a then b else c) implies d",
    "max(a + b, if c then d else e, -f)",
    "f()",
    "sum(i in assets: qty[i] * (px[i] - 1))",
    "all(i in assets: any(j in assets: w[i] <= w[j]))",
    "x' >= 0",
    "1_000 * 5% + 1e-4 - 0.000_1 + 2.5E+3",
    "true or false",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_text_prints_as_written(text: str) -> None:
    e = _parse_expr(text)
    assert expr_to_source(e) == text
    assert _parse_expr(expr_to_source(e)) == e


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("((a))", "a"),
        ("(a * b) + (c)", "a * b + c"),
        ("(-a) * b", "-a * b"),
        ("(not a) and b", "not a and b"),
        ("a implies (b implies c)", "a implies b implies c"),
        ("f((a), (if a then b else c))", "f(a, if a then b else c)"),
        ("sum(i in assets: (x))", "sum(i in assets: x)"),
    ],
)
def test_redundant_parentheses_are_dropped(text: str, printed: str) -> None:
    assert expr_to_source(_parse_expr(text)) == printed


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(0), "0"),
        (Fraction(42), "42"),
        (Fraction(-3), "-3"),
        (Fraction(1, 2), "0.5"),
        (Fraction(1, 8), "0.125"),
        (Fraction(-1, 20), "-0.05"),
        (Fraction(1, 10000), "0.0001"),
        (Fraction(123456789, 1000), "123456.789"),
        (Fraction(1, 1024), "0.0009765625"),
    ],
)
def test_number_to_source(value: Fraction, text: str) -> None:
    assert number_to_source(value) == text
    assert Fraction(text) == value


def test_number_that_is_not_a_decimal_is_refused() -> None:
    with pytest.raises(ValueError, match="not a finite decimal"):
        number_to_source(Fraction(1, 3))


def test_num_whose_text_disagrees_with_its_value_prints_its_value() -> None:
    assert expr_to_source(ast.Num(Fraction(3, 4), "", _S)) == "0.75"
    assert expr_to_source(ast.Num(Fraction(3, 4), "1", _S)) == "0.75"


def test_negative_num_binds_like_unary_minus() -> None:
    neg = ast.Num(Fraction(-2), "-2", _S)
    ref = ast.Ref(ast.Ident("x", _S), None, _S)
    assert expr_to_source(ast.Binary("-", ref, neg, _S)) == "x - -2"
    assert expr_to_source(ast.Unary("-", neg, _S)) == "- -2"


def test_unit_expressions_print() -> None:
    for text in ["USD", "USD/BTC", "USD*BTC/ETH", "USD/(BTC*ETH)", "BTC^2", "USD/BTC^2"]:
        (d,) = parse(SourceFile("t", f"state s: {text}\n")).decls
        assert isinstance(d, ast.VarDecl)
        assert unit_to_source(d.unit) == text


def _parses(path: Path) -> bool:
    try:
        parse(SourceFile(str(path), path.read_text(encoding="utf-8")))
    except SpecError:
        return False
    return True


def _spec_files() -> list[Path]:
    """Every bundled spec that parses (the diagnostics suite's deliberate syntax errors do not)."""
    files = sorted((ROOT / "examples").glob("**/*.margin"))
    files += sorted((ROOT / "tests" / "diagnostics").glob("*.margin"))
    return [f for f in files if _parses(f)]


def test_the_syntax_error_cases_are_the_only_specs_left_out() -> None:
    left_out = {f.name for f in (ROOT / "tests" / "diagnostics").glob("*.margin") if not _parses(f)}
    assert left_out and all(name.startswith("syntax_") for name in left_out), left_out


@pytest.mark.parametrize("path", _spec_files(), ids=lambda p: p.name)
def test_whole_specs_round_trip(path: Path) -> None:
    source = SourceFile(str(path), path.read_text(encoding="utf-8"))
    module = parse(source)
    printed = module_to_source(module)
    assert parse(SourceFile("printed", printed)) == module
    assert module_to_source(parse(SourceFile("printed", printed))) == printed


# ---- a typed expression generator over a fixed context --------------------------

CONTEXT = """\
spec "round trip context"
unit USD, BTC
assets BTC, ETH

param fee: rate = 0.01 in [0, 1]
param tick: USD = 0.01 in [0.0001, 100]
param lot: BTC = 0.001
param w[assets]: rate = {BTC: 0.5, ETH: 1.25} in [-2, 2]

state cash: USD
state size: BTC
state entry: USD/BTC
state qty[assets]: BTC
input mark: USD/BTC
input px[assets]: USD/BTC

table tier(n: USD) -> rate:
    [-inf, 0) -> 0
    [0, 1_000) -> 0.5%
    [1_000, inf) -> 0.0125
table ladder(n: USD) -> (rate, USD):
    [-inf, -10) -> 0.1, -3
    [-10, 10) -> 0.2, 0
    [10, inf) -> 0.3, 7.5

let notional: USD = abs(size) * mark
let (l_rate, l_cum) = ladder(notional - cash)
let val[i in assets]: USD = qty[i] * px[i]
"""

USD, BTC, PRICE, RATE = "USD", "BTC", "USD/BTC", "rate"
UNITS = (USD, BTC, PRICE, RATE)
ASSETS = ("BTC", "ETH")

# name -> per-asset?
REFS: dict[str, list[tuple[str, bool]]] = {
    USD: [("cash", False), ("tick", False), ("notional", False), ("l_cum", False), ("val", True)],
    BTC: [("size", False), ("lot", False), ("qty", True)],
    PRICE: [("entry", False), ("mark", False), ("px", True)],
    RATE: [("fee", False), ("l_rate", False), ("w", True)],
}


def _id(name: str) -> ast.Ident:
    return ast.Ident(name, _S)


def _bin(op: str, a: ast.Expr, b: ast.Expr) -> ast.Binary:
    return ast.Binary(op, a, b, _S)


def _call(f: str, *args: ast.Expr) -> ast.Call:
    return ast.Call(_id(f), args, _S)


def _number(value: Fraction, style: int) -> ast.Num:
    """A literal for `value` >= 0, written in one of the forms the lexer accepts."""
    plain = number_to_source(value)
    if style == 1 and value.denominator == 1 and value >= 1000:
        digits = str(value.numerator)
        groups = [digits[max(0, i - 3) : i] for i in range(len(digits), 0, -3)][::-1]
        return ast.Num(value, "_".join(groups), _S)
    if style == 2:
        return ast.Num(value, number_to_source(value * 100) + "%", _S)
    if style == 3 and value != 0:
        return ast.Num(value, f"{number_to_source(value * 1000)}e-3", _S)
    return ast.Num(value, plain, _S)


literals = st.builds(
    _number,
    st.sampled_from([0, 1, 2, 10, 1000, 50_000]).map(Fraction)
    | st.integers(0, 10**6).map(lambda n: Fraction(n, 1000))
    | st.sampled_from(["0.5", "0.005", "1.25", "0.0001"]).map(Fraction),
    st.integers(0, 3),
)
positive_literals = literals.filter(lambda n: n.value > 0)

Draw = Callable[[st.SearchStrategy[Any]], Any]


def _ref(draw: Draw, unit: str, bound: tuple[str, ...]) -> ast.Ref:
    name, per_asset = draw(sampled(REFS[unit]))
    index = _id(draw(sampled([*ASSETS, *bound]))) if per_asset else None
    return ast.Ref(_id(name), index, _S)


def _nonzero(draw: Draw, unit: str, depth: int, bound: tuple[str, ...]) -> ast.Expr:
    """An expression of `unit` that is never zero: `abs(e) + k` with k > 0."""
    inner = _numeric(draw, unit, unit != RATE, depth - 1, bound)
    return _bin("+", _call("abs", inner), draw(positive_literals))


def _numeric(draw: Draw, unit: str, exact: bool, depth: int, bound: tuple[str, ...]) -> ast.Expr:
    """A well-typed expression whose unit is `unit`, or a bare number when `exact` is false.

    Bare numbers take any unit under `+ - min max if`, but count as dimensionless
    under `*` and `/`, so factors whose unit matters are generated `exact`.
    """
    if depth <= 0:
        if not exact and draw(st.booleans()):
            return draw(literals)
        return _ref(draw, unit, bound)
    d = depth - 1
    kind = draw(
        st.sampled_from(
            [
                "leaf",
                "add",
                "round",  # rounding and tables are where back ends disagree: draw them more often
                "table" if unit == RATE else "round",
                "neg",
                "abs",
                "minmax",
                "ite",
                "round",
                "scale",
                "divide",
                "convert",
                "sum",
                *(["table"] if unit == RATE else []),
            ]
        )
    )
    if kind == "leaf":
        return _numeric(draw, unit, exact, 0, bound)
    if kind == "add":
        op = draw(sampled(["+", "-"]))
        return _bin(op, _numeric(draw, unit, exact, d, bound), _numeric(draw, unit, False, d, bound))
    if kind == "neg":
        return ast.Unary("-", _numeric(draw, unit, exact, d, bound), _S)
    if kind == "abs":
        return _call("abs", _numeric(draw, unit, exact, d, bound))
    if kind == "minmax":
        rest = draw(st.integers(1, 2))
        args = [_numeric(draw, unit, exact, d, bound)] + [_numeric(draw, unit, False, d, bound) for _ in range(rest)]
        return _call(draw(sampled(["min", "max"])), *args)
    if kind == "ite":
        cond = _boolean(draw, d, bound)
        return ast.Ite(cond, _numeric(draw, unit, exact, d, bound), _numeric(draw, unit, False, d, bound), _S)
    if kind == "round":
        x = _numeric(draw, unit, exact, d, bound)
        step = draw(positive_literals) if draw(st.booleans()) else _nonzero(draw, unit, d, bound)
        return _call(draw(sampled(["round_down", "round_up"])), x, step)
    if kind == "scale":
        x, r = _numeric(draw, unit, exact or unit != RATE, d, bound), _numeric(draw, RATE, False, d, bound)
        return _bin("*", x, r) if draw(st.booleans()) else _bin("*", r, x)
    if kind == "divide":
        return _bin("/", _numeric(draw, unit, exact or unit != RATE, d, bound), _nonzero(draw, RATE, d, bound))
    if kind == "convert":
        if unit == USD:
            a, b = _numeric(draw, BTC, True, d, bound), _numeric(draw, PRICE, True, d, bound)
            return _bin("*", a, b) if draw(st.booleans()) else _bin("*", b, a)
        if unit == BTC:
            return _bin("/", _numeric(draw, USD, True, d, bound), _nonzero(draw, PRICE, d, bound))
        if unit == PRICE:
            return _bin("/", _numeric(draw, USD, True, d, bound), _nonzero(draw, BTC, d, bound))
        other = draw(sampled([USD, BTC, PRICE]))
        return _bin("/", _numeric(draw, other, True, d, bound), _nonzero(draw, other, d, bound))
    if kind == "sum":
        var = f"i{len(bound)}"
        return ast.Quant("sum", _id(var), _id("assets"), _numeric(draw, unit, exact, d, (*bound, var)), _S)
    # table: a rate looked up by a USD amount
    return _call("tier", _numeric(draw, USD, False, d, bound))


def _boolean(draw: Draw, depth: int, bound: tuple[str, ...]) -> ast.Expr:
    if depth <= 0:
        if draw(st.booleans()):
            return ast.BoolLit(draw(st.booleans()), _S)
        unit = draw(st.sampled_from(UNITS))
        return _bin(draw(sampled(["<", "<=", ">", ">=", "==", "!="])), _ref(draw, unit, bound), draw(literals))
    d = depth - 1
    kind = draw(sampled(["cmp", "cmp", "not", "and", "or", "implies", "quant", "ite"]))
    if kind == "cmp":
        unit = draw(st.sampled_from(UNITS))
        op = draw(sampled(["<", "<=", ">", ">=", "==", "!="]))
        return _bin(op, _numeric(draw, unit, True, d, bound), _numeric(draw, unit, False, d, bound))
    if kind == "not":
        return ast.Unary("not", _boolean(draw, d, bound), _S)
    if kind == "quant":
        var = f"i{len(bound)}"
        body = _boolean(draw, d, (*bound, var))
        return ast.Quant(draw(sampled(["all", "any"])), _id(var), _id("assets"), body, _S)
    if kind == "ite":
        return ast.Ite(_boolean(draw, d, bound), _boolean(draw, d, bound), _boolean(draw, d, bound), _S)
    return _bin(kind, _boolean(draw, d, bound), _boolean(draw, d, bound))


@st.composite
def numeric_exprs(draw: Draw, max_depth: int = 4, min_depth: int = 0) -> tuple[str, ast.Expr]:
    unit = draw(st.sampled_from(UNITS))
    return unit, _numeric(draw, unit, draw(st.booleans()), draw(st.integers(min_depth, max_depth)), ())


@st.composite
def boolean_exprs(draw: Draw, max_depth: int = 4) -> ast.Expr:
    return _boolean(draw, draw(st.integers(0, max_depth)), ())


# ---- (a) print, parse back, compare --------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_exprs())
def test_numeric_expressions_round_trip(case: tuple[str, ast.Expr]) -> None:
    _, e = case
    text = expr_to_source(e)
    (d,) = parse(SourceFile("t", f"let x = {text}\n")).decls
    assert isinstance(d, ast.LetDecl)
    assert d.expr == e, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boolean_exprs())
def test_boolean_expressions_round_trip(e: ast.Expr) -> None:
    text = expr_to_source(e)
    assert _parse_expr(text) == e, text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_exprs(max_depth=3), boolean_exprs(max_depth=3))
def test_generated_expressions_are_well_typed(case: tuple[str, ast.Expr], cond: ast.Expr) -> None:
    unit, e = case
    spec = dsl.loads(CONTEXT + f"let x: {unit} = {expr_to_source(e)}\nproperty p: {expr_to_source(cond)}\n")
    assert str(spec.program.let("x").sym.ty) == unit


# ---- (b) the compiled engine against the reference interpreter ---------------------

amounts = st.sampled_from([0, 1, -1, 10, -10, 1000, 999, Fraction(1, 2)]).map(Fraction) | st.fractions(
    min_value=-5000, max_value=5000, max_denominator=1000
)
positive = st.fractions(min_value=Fraction(1, 100), max_value=1000, max_denominator=1000)


# Made once: a strategy built inside a draw is validated by Hypothesis again on every draw.
fees = st.fractions(min_value=0, max_value=1, max_denominator=1000)
ticks = st.fractions(min_value=Fraction(1, 10000), max_value=100, max_denominator=10000)
weights = st.fractions(min_value=-2, max_value=2, max_denominator=100)


@st.composite
def points(draw: Draw) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    params = {
        "fee": draw(fees),
        "tick": draw(ticks),
        "lot": Fraction(1, 1000),
        "w": {a: draw(weights) for a in ASSETS},
    }
    state = {
        "cash": draw(amounts),
        "size": draw(amounts),
        "entry": draw(positive),
        "qty": {a: draw(amounts) for a in ASSETS},
    }
    inputs = {"mark": draw(positive), "px": {a: draw(positive) for a in ASSETS}}
    return params, state, inputs


def _compiled_equals_reference(text: str, point: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    spec = dsl.loads(text)
    params, state, inputs = point
    eng = spec.engine
    fn = getattr(eng, eng.NAMES["x"])
    got = fn(eng.Params(**params), eng.State(**state), eng.Inputs(**inputs))
    expected = Reference(spec.program, params, state, inputs).let("x")
    assert type(got) is type(expected)
    assert got == expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_exprs(max_depth=4, min_depth=2), points())
def test_engine_let_matches_reference(case: tuple[str, ast.Expr], point: Any) -> None:
    _, e = case
    _compiled_equals_reference(CONTEXT + f"let x = {expr_to_source(e)}\n", point)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boolean_exprs(max_depth=3), points())
def test_engine_boolean_let_matches_reference(cond: ast.Expr, point: Any) -> None:
    _compiled_equals_reference(CONTEXT + f"let x = {expr_to_source(cond)}\n", point)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_exprs(max_depth=6, min_depth=2), points())
def test_engine_let_matches_reference_deep(case: tuple[str, ast.Expr], point: Any) -> None:
    _, e = case
    _compiled_equals_reference(CONTEXT + f"let x = {expr_to_source(e)}\n", point)


@pytest.mark.parametrize(
    "expr",
    [
        "round_down(-cash, 0.3)",
        "round_up(-cash, 0.3)",
        "round_down(cash, tick)",
        "tier(cash) + tier(1000) + tier(999.999) + tier(0) + tier(-0.001)",
        "l_rate * l_cum",
        "sum(i in assets: val[i] * w[i])",
        "if size > 0 then cash / (abs(size) + 1) * size else -cash",
        "min(cash, -cash, 3) + max(cash, 1, 2)",
    ],
)
def test_engine_matches_reference_on_edges(expr: str) -> None:
    state = {"cash": Fraction(-7, 2), "size": Fraction(3), "entry": Fraction(5), "qty": {"BTC": 2, "ETH": -1}}
    for cash in [Fraction(-7, 2), Fraction(0), Fraction(1000), Fraction(7, 10)]:
        state["cash"] = cash
        params = {"fee": Fraction(1, 100), "tick": Fraction(1, 4), "lot": Fraction(1, 1000), "w": {"BTC": 1, "ETH": 2}}
        inputs = {"mark": Fraction(3), "px": {"BTC": Fraction(2), "ETH": Fraction(1, 3)}}
        _compiled_equals_reference(CONTEXT + f"let x = {expr}\n", (params, state, inputs))


def test_spec_title_with_escapes_round_trips() -> None:
    module = ast.Module((ast.SpecDecl('say "hi"\\ back\nslash\tand Ⓢ', _S),), _S)
    printed = module_to_source(module)
    assert printed == 'spec "say \\"hi\\"\\\\ back\\nslash\\tand Ⓢ"\n'
    assert parse(SourceFile("t", printed)) == module
