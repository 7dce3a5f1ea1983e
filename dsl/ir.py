"""The intermediate representation that both back ends consume.

Produced by `dsl.elaborate` from the AST. Every name is resolved to a
`Symbol`, every expression node carries its type (a `Dim`, `BOOL`, or `POLY`
for bare numbers), and every semantic choice that a back end could get wrong
lives in one node: `Div` (partial: the divisor must not be zero), `Round`
(floor or ceiling to a step, which must be positive) and `TableCall` (partial:
the argument must fall in a bracket). Tables and sums stay structured; the Z3
back end unrolls them and the Python back end loops over them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

from dsl.diagnostics import SourceFile, Span
from dsl.units import BOOL, Dim, Ty


class Kind(Enum):
    PARAM = "param"
    STATE = "state"
    INPUT = "input"
    LET = "let"
    ARG = "arg"  # an action's argument
    LOCAL = "local"  # a `let` inside an action body


@dataclass(frozen=True, slots=True)
class Symbol:
    kind: Kind
    name: str
    ty: Ty
    indexed: bool
    span: Span = field(compare=False, repr=False)
    scope: str = ""  # the action that owns an ARG or LOCAL


# ---- expressions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssetName:
    """A literal member of the `assets` set, as in `price[BTC]`."""

    name: str


@dataclass(frozen=True, slots=True)
class BoundVar:
    """The variable bound by `sum(a in assets: ...)` or `let v[a in assets]`."""

    name: str


Index = AssetName | BoundVar


@dataclass(frozen=True, slots=True)
class Const:
    value: Fraction
    ty: Ty


@dataclass(frozen=True, slots=True)
class BoolConst:
    value: bool
    ty: Ty = BOOL


@dataclass(frozen=True, slots=True)
class Var:
    sym: Symbol
    index: Index | None
    ty: Ty


@dataclass(frozen=True, slots=True)
class Neg:
    x: Expr
    ty: Ty


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # "+", "-", "*"
    left: Expr
    right: Expr
    ty: Ty


@dataclass(frozen=True, slots=True)
class Div:
    """Exact division; undefined (reported by the `well-defined` check) when right == 0."""

    left: Expr
    right: Expr
    ty: Ty
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Abs:
    x: Expr
    ty: Ty


@dataclass(frozen=True, slots=True)
class MinMax:
    op: str  # "min" or "max"
    args: tuple[Expr, ...]
    ty: Ty


@dataclass(frozen=True, slots=True)
class Round:
    """`step * floor(x / step)` (down) or `step * ceil(x / step)` (up); step must be > 0."""

    direction: str  # "down" or "up"
    x: Expr
    step: Expr
    ty: Ty
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Ite:
    cond: Expr
    then: Expr
    orelse: Expr
    ty: Ty


@dataclass(frozen=True, slots=True)
class Cmp:
    op: str  # < <= > >= == !=
    left: Expr
    right: Expr
    ty: Ty = BOOL


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and", "or", "implies"
    left: Expr
    right: Expr
    ty: Ty = BOOL


@dataclass(frozen=True, slots=True)
class Not:
    x: Expr
    ty: Ty = BOOL


@dataclass(frozen=True, slots=True)
class Sum:
    var: str
    body: Expr
    ty: Ty


@dataclass(frozen=True, slots=True)
class Quant:
    kind: str  # "all" or "any"
    var: str
    body: Expr
    ty: Ty = BOOL


@dataclass(frozen=True, slots=True)
class TableCall:
    """Column `column` of the bracket of `table` that contains `arg`."""

    table: Table
    arg: Expr
    column: int
    ty: Ty
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RowCell:
    """`table[N].cell`: a number written in row `row` (from 0) of `table`, with its origin.

    `part` is "lower" or "upper" (the row's bracket bound, in the table's argument unit; never an
    infinite one, the front end makes sure) or "value" (result column `column`, in its unit). Both
    back ends translate it to the constant `value`, except that the Z3 back end's free frames (the
    vacuity check) leave it uninterpreted like any other definition of the spec.
    """

    table: Table
    row: int
    part: str  # "lower", "upper" or "value"
    column: int  # the result column when part == "value", else -1
    ty: Ty
    span: Span = field(compare=False, repr=False)

    @property
    def value(self) -> Fraction:
        r = self.table.rows[self.row]
        cell = r.lo if self.part == "lower" else r.hi if self.part == "upper" else r.values[self.column]
        if cell is None:
            raise ValueError(f"row {self.row + 1} of table `{self.table.name}` has an infinite {self.part} bound")
        return cell


@dataclass(frozen=True, slots=True)
class Next:
    """`x'` in a step property: state, input or let `x` (a `Var`) evaluated in the frame after the step."""

    x: Var
    ty: Ty


Expr = (
    Const
    | BoolConst
    | Var
    | Neg
    | Arith
    | Div
    | Abs
    | MinMax
    | Round
    | Ite
    | Cmp
    | BoolOp
    | Not
    | Sum
    | Quant
    | TableCall
    | RowCell
    | Next
)


def children(e: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of `e` (tables' rows are constants, not children)."""
    match e:
        case Const() | BoolConst() | Var() | RowCell():
            return ()
        case Neg(x=x) | Abs(x=x) | Not(x=x):
            return (x,)
        case Next(x=x):
            return (x,)
        case Arith(left=a, right=b) | Div(left=a, right=b) | Cmp(left=a, right=b) | BoolOp(left=a, right=b):
            return (a, b)
        case MinMax(args=args):
            return args
        case Round(x=x, step=s):
            return (x, s)
        case Ite(cond=c, then=t, orelse=o):
            return (c, t, o)
        case Sum(body=b) | Quant(body=b):
            return (b,)
        case TableCall(arg=a):
            return (a,)
    raise AssertionError(f"unhandled IR node {e!r}")


def walk(e: Expr) -> Iterator[Expr]:
    """`e` and all its sub-expressions, parents first."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


# ---- declarations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    sym: Symbol
    default: Fraction | tuple[tuple[str, Fraction], ...]
    lo: Fraction | None  # None: unbounded below (or pinned, see `pinned`)
    hi: Fraction | None
    pinned: bool  # no `in [lo, hi]`: the parameter is a constant


@dataclass(frozen=True, slots=True)
class Row:
    lo: Fraction | None  # None: -inf
    hi: Fraction | None  # None: +inf
    values: tuple[Fraction, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    arg_ty: Dim
    result_tys: tuple[Dim, ...]
    rows: tuple[Row, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Let:
    sym: Symbol
    binder: str | None  # `let v[a in assets]` binds `a` in expr
    expr: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Constraint:
    """An `assume`, a `where`, an `init`, an `invariant`, a `property` or a guard."""

    kind: str
    name: str
    expr: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Update:
    """`x' = e`, `x'[BTC] = e` or `x'[a in assets] = e` (index a BoundVar)."""

    sym: Symbol
    index: Index | None
    expr: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Conjunct:
    """One top-level `and` operand of a guard with its source span: the engine's `GuardError` names the
    first that is false. The guard itself stays the one expression both back ends translate."""

    expr: Expr
    span: Span = field(compare=False, repr=False)


def conjuncts(e: Expr) -> tuple[Expr, ...]:
    """The top-level `and` operands of `e`, left to right (`e` itself when it is not an `and`)."""
    out: list[Expr] = []
    stack = [e]  # a loop, not recursion: a guard may chain thousands of `and`s
    while stack:
        node = stack.pop()
        if isinstance(node, BoolOp) and node.op == "and":
            stack += [node.right, node.left]
        else:
            out.append(node)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    forced: bool
    args: tuple[Symbol, ...]
    guard: Expr | None
    locals: tuple[Let, ...]
    updates: tuple[Update, ...]
    span: Span = field(compare=False, repr=False)
    # A forced action's chosen arguments, one per arg (language.md §6.3): the forced step is taken
    # with exactly these values, evaluated on the pre-state; () for an action without arguments
    # or not forced.
    choices: tuple[Expr, ...] = ()
    # The guard's top-level conjuncts with their spans (`conjuncts(guard)`); () when there is no guard.
    parts: tuple[Conjunct, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EnvUpdate:
    """`x' in [lo, hi]`: the next value of x is any value in the closed range."""

    sym: Symbol
    index: Index | None
    lo: Expr
    hi: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Env:
    name: str
    guard: Expr | None
    updates: tuple[EnvUpdate, ...]
    span: Span = field(compare=False, repr=False)
    parts: tuple[Conjunct, ...] = field(default=(), compare=False, repr=False)  # as for Action


@dataclass(frozen=True, slots=True)
class Conserved:
    name: str
    expr: Expr
    span: Span = field(compare=False, repr=False)
    direction: str = "equal"  # "equal", "never decreases" or "never increases"


@dataclass(frozen=True, slots=True)
class StepProperty:
    """`property NAME on STEP: c`: c over the frame before (`x`), the arguments and the frame after (`x'`).

    `steps` are the actions and env moves it is checked on (one for `on STEP`, every action and env
    move for `on every step`, every action for `on every action`); `on` is the text after `on`.
    Arguments (`Var`s of kind ARG) appear only when `steps` is the one action that declares them.
    """

    name: str
    on: str
    steps: tuple[str, ...]
    expr: Expr
    span: Span = field(compare=False, repr=False)


ROLES = ("equity", "initial", "maintenance", "liquidatable", "health")
# The amount roles compared with one another, so they share one unit. `health` is not among
# them: it is the spec's own health measure (a ratio, a difference, any unit), higher is healthier.
AMOUNT_ROLES = ("equity", "initial", "maintenance")


@dataclass(frozen=True, slots=True)
class Program:
    """One checked spec: everything a back end needs, nothing it must re-derive."""

    title: str
    source: SourceFile = field(repr=False, compare=False)
    units: tuple[str, ...]
    assets: tuple[str, ...]
    params: tuple[Param, ...]
    assumes: tuple[Constraint, ...]
    states: tuple[Symbol, ...]
    inputs: tuple[Symbol, ...]
    wheres: tuple[Constraint, ...]  # `where` clauses of states and inputs
    tables: tuple[Table, ...]
    lets: tuple[Let, ...]  # in dependency order; roles included
    roles: tuple[tuple[str, Symbol], ...]  # margin role -> its LET symbol
    actions: tuple[Action, ...]
    envs: tuple[Env, ...]
    init: tuple[Constraint, ...]
    conserved: tuple[Conserved, ...]
    invariants: tuple[Constraint, ...]
    properties: tuple[Constraint, ...]
    step_properties: tuple[StepProperty, ...] = ()
    accounts: int = 0  # `accounts N`: the count the spec was expanded to (dsl.accounts); 0 for one account
    accounts_local: bool = False  # with accounts: no rule reads or writes another account (dsl.accounts)

    def role(self, name: str) -> Symbol | None:
        """The LET symbol playing margin role `name`, if the spec declares it."""
        return dict(self.roles).get(name)

    def let(self, name: str) -> Let:
        for let in self.lets:
            if let.sym.name == name:
                return let
        raise KeyError(name)

    def action(self, name: str) -> Action:
        for action in self.actions:
            if action.name == name:
                return action
        raise KeyError(name)
