"""The abstract syntax tree: what the user wrote, with a span on every node.

Built by `dsl.parser` from Lark's parse tree and consumed by `dsl.elaborate`.
Nothing here is resolved or typed; names are plain strings. Nodes are frozen
and compare without their spans, so tests can compare trees directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from dsl.diagnostics import Span

KEYWORDS = frozenset(
    [
        "spec",
        "unit",
        "assets",
        "accounts",
        "shared",
        "param",
        "assume",
        "state",
        "input",
        "let",
        "table",
        "margin",
        "action",
        "env",
        "init",
        "conserved",
        "invariant",
        "property",
        "where",
        "in",
        "when",
        "if",
        "then",
        "else",
        "and",
        "or",
        "not",
        "implies",
        "true",
        "false",
        "inf",
        "sum",
        "all",
        "any",
        "forced",
        "every",
    ]
)


@dataclass(frozen=True, slots=True)
class Ident:
    name: str
    span: Span = field(compare=False)


# ---- units -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitName:
    name: Ident
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class UnitPow:
    name: Ident
    power: int
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class UnitBin:
    op: str  # "*" or "/"
    left: UnitExpr
    right: UnitExpr
    span: Span = field(compare=False)


UnitExpr = UnitName | UnitPow | UnitBin


# ---- expressions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Num:
    value: Fraction
    text: str
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Ref:
    name: Ident
    index: Ident | None
    span: Span = field(compare=False)
    primed: bool = False  # `x'` read in an expression: only a step property may (elaborate checks)


@dataclass(frozen=True, slots=True)
class Call:
    func: Ident
    args: tuple[Expr, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class RowRef:
    """`table[N].field`: a cell of the table's row N (from 1): `lower`, `upper` or a named result column."""

    table: Ident
    row: Fraction  # as written; the elaborator accepts only whole numbers from 1 to the number of rows
    cell: Ident
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Quant:
    kind: str  # "sum", "all" or "any"
    var: Ident
    set: Ident
    body: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / < <= > >= == != and or implies
    left: Expr
    right: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Ite:
    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = field(compare=False)


Expr = Num | BoolLit | Ref | Call | RowRef | Quant | Unary | Binary | Ite


# ---- declarations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpecDecl:
    title: str
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class UnitDecl:
    names: tuple[Ident, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class AssetsDecl:
    names: tuple[Ident, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class AccountsDecl:
    """`accounts N`: the spec describes N accounts (N is the count the checker unrolls)."""

    count: Num
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Bound:
    """A range end: a number, or an infinity (`value` None, `negative` its sign)."""

    value: Fraction | None
    negative: bool
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: Ident
    indexed: Ident | None
    unit: UnitExpr
    default: Num | tuple[tuple[Ident, Num], ...] | None
    range: tuple[Bound, Bound] | None
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class AssumeDecl:
    expr: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class VarDecl:
    kind: str  # "state" or "input"
    name: Ident
    indexed: Ident | None
    unit: UnitExpr
    where: Expr | None
    span: Span = field(compare=False)
    shared: bool = False  # `shared state`: one value for the whole venue, not one per account


@dataclass(frozen=True, slots=True)
class Binder:
    var: Ident
    set: Ident
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class LetDecl:
    name: Ident
    binder: Binder | None
    unit: UnitExpr | None
    expr: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class TupleLetDecl:
    names: tuple[Ident, ...]
    expr: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class TableRow:
    lo: Bound
    hi: Bound
    values: tuple[Num, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class TableDecl:
    name: Ident
    arg: Ident
    arg_unit: UnitExpr
    results: tuple[UnitExpr, ...]
    rows: tuple[TableRow, ...]
    span: Span = field(compare=False)
    columns: tuple[Ident | None, ...] = ()  # the result columns' names (None: unnamed); () when none is named


@dataclass(frozen=True, slots=True)
class RoleDef:
    role: Ident
    expr: Expr
    is_condition: bool  # `liquidatable when e` rather than `equity = e`
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class MarginBlock:
    roles: tuple[RoleDef, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Target:
    """`x'`, `x'[BTC]` or `x'[a in assets]` on the left of an update."""

    name: Ident
    index: Ident | Binder | None
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Assign:
    target: Target
    expr: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class ActionParam:
    name: Ident
    unit: UnitExpr
    span: Span = field(compare=False)
    choice: Expr | None = None  # `q: BTC = expr`: the value a forced step takes (language.md §6.3)


@dataclass(frozen=True, slots=True)
class ActionDecl:
    forced: bool
    name: Ident
    params: tuple[ActionParam, ...]
    guard: Expr | None
    body: tuple[LetDecl | Assign, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class EnvItem:
    target: Target
    lo: Expr
    hi: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class EnvDecl:
    name: Ident
    guard: Expr | None
    items: tuple[EnvItem, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class NamedFormula:
    """`init`, `conserved`, `invariant` and `property` declarations.

    A property with `on` is a step property (`property p on liquidate: ...`, `on every step`,
    `on every action`); a `conserved` total may have a direction (`... never decreases`).
    """

    kind: str
    name: Ident | None
    expr: Expr
    span: Span = field(compare=False)
    on: StepRef | None = None
    direction: str = ""  # conserved only: "", "never decreases" or "never increases"


@dataclass(frozen=True, slots=True)
class StepRef:
    """What a step property is attached to: one step by name, or `every step` / `every action`."""

    step: Ident | None  # None for `every ...`
    every: str  # "" with a step, else "step" or "action"
    span: Span = field(compare=False)


Decl = (
    SpecDecl
    | UnitDecl
    | AssetsDecl
    | AccountsDecl
    | ParamDecl
    | AssumeDecl
    | VarDecl
    | LetDecl
    | TupleLetDecl
    | TableDecl
    | MarginBlock
    | ActionDecl
    | EnvDecl
    | NamedFormula
)


@dataclass(frozen=True, slots=True)
class Module:
    decls: tuple[Decl, ...]
    span: Span = field(compare=False)
