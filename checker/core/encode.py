"""IR to Z3: exact real terms for one spec.

An `Encoder` owns the parameters (one Z3 real each, per asset where indexed)
and makes `Frame`s: one copy of the state and inputs, named with a tag, so
that a check can talk about a state and its successor. Every expression is
translated to a pair (term, defined): `defined` says when the runtime would
evaluate it without raising, following the Python back end exactly: `if`,
`and`, `or`, `implies`, `all` and `any` short-circuit, while a `let` is
evaluated eagerly, so using it requires it to be defined. Partial operations
(`Div`, `Round`, `TableCall`) are also recorded as `Obligation`s with the path
condition under which they run, for the `well-defined` check.

A frame made with `free=True` leaves the spec's definitions uninterpreted: each
let and role it reads is a fresh constant of the let's sort (one per name, asset
and frame), each table lookup a fresh real (one per table, column and
argument term) and each cell of a table row it names (`table[N].cell`) a
fresh real, all taken as defined. `vacuity` asks whether a property holds
whatever the spec defines by translating it in such a frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import z3

from checker.solve.decompose import Structure, SumUse, TableUse
from dsl import ir
from dsl.diagnostics import InternalError, Span
from dsl.units import is_numeric


def q(value: Fraction | int) -> z3.ArithRef:
    """An exact Z3 rational."""
    f = Fraction(value)
    return z3.RealVal(f"{f.numerator}/{f.denominator}") if f.denominator != 1 else z3.RealVal(f.numerator)


def conj(*parts: z3.BoolRef) -> z3.BoolRef:
    """`z3.And(*parts)`, the very same term, built without z3py's coercion of every argument.

    The encoder joins many definedness conditions (already Z3 Booleans), and `z3.And` checked the
    sort of each argument in Python: 9.5 s of a 174 s run of the bundled examples. The term must
    stay exactly what `z3.And` builds, `true`s and repeats included: dropping them changed how Z3
    searched the cross-margin example's induction queries (its invariants took 45 s instead of 11 s).
    """
    ctx = parts[0].ctx if parts else z3.main_ctx()
    args = (z3.Ast * len(parts))(*[p.as_ast() for p in parts])
    return z3.BoolRef(z3.Z3_mk_and(ctx.ref(), len(parts), args), ctx)


def literal(value: Fraction | bool) -> z3.ExprRef:
    """A Z3 constant for a state's or input's value: a Bool for a flag, else an exact rational."""
    return z3.BoolVal(value) if isinstance(value, bool) else q(value)


@dataclass(frozen=True)
class Obligation:
    """A partial operation at `span`: whenever `path` holds, `ok` must hold."""

    what: str
    span: Span
    path: z3.BoolRef
    ok: z3.BoolRef


Scope = Mapping[str, str]  # bound variable -> asset


class Frame:
    """One state and inputs: Z3 constants named `name@tag` and the lets over them."""

    def __init__(
        self,
        enc: Encoder,
        tag: str,
        overrides: Mapping[tuple[str, str | None], z3.ArithRef] | None = None,
        free: bool = False,
    ):
        self.enc = enc
        self.tag = tag
        self.free = free  # lets and table lookups left uninterpreted (see the module docstring)
        self.vars: dict[tuple[str, str | None], z3.ArithRef] = {}
        for sym in (*enc.program.states, *enc.program.inputs):
            for asset in enc.assets_of(sym):
                key = (sym.name, asset)
                if overrides is not None and key in overrides:
                    self.vars[key] = overrides[key]
                elif is_numeric(sym.ty):
                    self.vars[key] = z3.Real(enc.varname(sym.name, asset, tag))
                else:
                    self.vars[key] = z3.Bool(enc.varname(sym.name, asset, tag))
        self._lets: dict[tuple[str, str | None], tuple[z3.ExprRef, z3.BoolRef]] = {}
        self._lookups: dict[tuple[str, int, int], tuple[z3.ArithRef, z3.ArithRef]] = {}
        self.obligations: list[tuple[ir.Let, Obligation]] = []

    def var(self, sym: ir.Symbol, asset: str | None) -> z3.ArithRef:
        return self.vars[(sym.name, asset)]

    def let(self, name: str, asset: str | None = None) -> tuple[z3.ExprRef, z3.BoolRef]:
        """The let `name` (at `asset` if per-asset) in this frame, and when it is defined."""
        key = (name, asset)
        if key not in self._lets and self.free:
            sym = self.enc.lets[name].sym
            fresh = self.enc.varname(name, asset, self.tag) + "!free"
            self._lets[key] = (z3.Real(fresh) if is_numeric(sym.ty) else z3.Bool(fresh)), z3.BoolVal(True)
        if key not in self._lets:
            let = self.enc.lets[name]
            scope = {let.binder: asset} if let.binder is not None and asset is not None else {}
            tr = Translation(self.enc, self, {})
            term, path_ok = tr.expr(let.expr, scope, z3.BoolVal(True))
            self._lets[key] = (term, conj(path_ok, *tr.eager))
            self.obligations.extend((let, ob) for ob in tr.obligations)
        return self._lets[key]

    def lookup(self, table: str, column: int, arg: z3.ArithRef) -> z3.ArithRef:
        """In a free frame: column `column` of `table` at `arg`, a fresh constant per distinct argument term.

        Z3 shares structurally equal terms, so the same lookup written twice is one constant (no solver
        needs uninterpreted functions); lookups at different terms are independent even when the terms
        are equal in value, which can only make a property look less trivial, never more.
        """
        key = (table, column, arg.get_id())
        if key not in self._lookups:
            name = f"{table}#{column}({len(self._lookups)})@{self.tag}!free"
            self._lookups[key] = (z3.Real(name), arg)  # the term is kept so that its id stays taken
        return self._lookups[key][0]

    def cell(self, table: str, row: int, part: str, column: int) -> z3.ArithRef:
        """In a free frame: a cell of a table's row (`table[N].cell`), a fresh constant per cell and frame."""
        key = f"{table}[{row + 1}].{part if part != 'value' else column}@{self.tag}!free"
        return z3.Real(key)  # Z3 names are the identity: the same cell twice is one constant

    def role(self, name: str) -> tuple[z3.ExprRef, z3.BoolRef]:
        sym = self.enc.program.role(name)
        if sym is None:
            raise InternalError(f"role `{name}` requested but not declared")
        return self.let(sym.name)

    def where(self) -> z3.BoolRef:
        """Every `where` constraint of this frame, with their definedness."""
        parts = []
        for c in self.enc.program.wheres:
            term, ok = self.enc.formula(c.expr, self)
            parts += [ok, term]
        return conj(*parts) if parts else z3.BoolVal(True)


class Translation:
    """Translates expressions within one frame, collecting eager let uses and obligations."""

    def __init__(
        self, enc: Encoder, frame: Frame, locals_: Mapping[str, z3.ExprRef], post: Frame | None = None
    ) -> None:
        self.enc = enc
        self.frame = frame
        self.post = post  # the frame after the step, for a step property's `x'`
        self.locals = locals_
        self.eager: list[z3.BoolRef] = []
        self.obligations: list[Obligation] = []

    def expr(self, e: ir.Expr, scope: Scope, path: z3.BoolRef) -> tuple[z3.ExprRef, z3.BoolRef]:
        """(term, defined) for `e`, where `path` is the condition under which `e` runs."""
        true = z3.BoolVal(True)
        match e:
            case ir.Const(value=v):
                return q(v), true
            case ir.BoolConst(value=v):
                return z3.BoolVal(v), true
            case ir.Var(sym=sym, index=index):
                asset = self.asset(index, scope)
                if sym.kind is ir.Kind.PARAM:
                    return self.enc.param(sym.name, asset), true
                if sym.kind in (ir.Kind.STATE, ir.Kind.INPUT):
                    return self.frame.var(sym, asset), true
                if sym.kind is ir.Kind.LET:
                    term, ok = self.frame.let(sym.name, asset)
                    # The engine computes a per-asset let for every asset at once, so reading it at one
                    # asset needs it defined at all of them (found by the differential test).
                    others = [self.frame.let(sym.name, a)[1] for a in self.enc.assets_of(sym) if a != asset]
                    self.eager.extend([ok, *others])
                    return term, true
                if sym.name in self.locals:
                    return self.locals[sym.name], true
                raise InternalError(f"`{sym.name}` has no Z3 value in this context")
            case ir.Next(x=x):
                if self.post is None:
                    raise InternalError(f"`{x.sym.name}'` read outside a step property")
                before, self.frame = self.frame, self.post
                try:
                    return self.expr(x, scope, path)
                finally:
                    self.frame = before
            case ir.Neg(x=x):
                t, ok = self.expr(x, scope, path)
                return -t, ok
            case ir.Arith(op=op, left=a, right=b):
                ta, oka = self.expr(a, scope, path)
                tb, okb = self.expr(b, scope, path)
                term = ta + tb if op == "+" else ta - tb if op == "-" else ta * tb
                return term, conj(oka, okb)
            case ir.Div(left=a, right=b, span=span):
                ta, oka = self.expr(a, scope, path)
                tb, okb = self.expr(b, scope, path)
                nonzero = tb != 0
                self.obligations.append(Obligation("division by zero", span, conj(path, oka, okb), nonzero))
                return ta / tb, conj(oka, okb, nonzero)
            case ir.Abs(x=x):
                t, ok = self.expr(x, scope, path)
                return z3.If(t >= 0, t, -t), ok
            case ir.MinMax(op=op, args=args):
                pairs = [self.expr(a, scope, path) for a in args]
                acc = pairs[0][0]
                for t, _ in pairs[1:]:
                    acc = z3.If(t < acc, t, acc) if op == "min" else z3.If(t > acc, t, acc)
                return acc, conj(*[ok for _, ok in pairs])
            case ir.Round(direction=d, x=x, step=s, span=span):
                tx, okx = self.expr(x, scope, path)
                ts, ok_step = self.expr(s, scope, path)
                positive = ts > 0
                self.obligations.append(
                    Obligation(
                        f"round_{d} with a step that is not positive", span, conj(path, okx, ok_step), positive
                    )
                )
                ratio = tx / ts
                n = z3.ToInt(ratio) if d == "down" else -z3.ToInt(-ratio)
                return z3.ToReal(n) * ts, conj(okx, ok_step, positive)
            case ir.Ite(cond=c, then=t, orelse=o):
                tc, okc = self.expr(c, scope, path)
                tt, okt = self.expr(t, scope, conj(path, okc, tc))
                to, oko = self.expr(o, scope, conj(path, okc, z3.Not(tc)))
                return z3.If(tc, tt, to), conj(okc, z3.If(tc, okt, oko))
            case ir.Cmp(op=op, left=a, right=b):
                ta, oka = self.expr(a, scope, path)
                tb, okb = self.expr(b, scope, path)
                return _compare(op, ta, tb), conj(oka, okb)
            case ir.BoolOp(op=op, left=a, right=b):
                ta, oka = self.expr(a, scope, path)
                # The right operand runs only when the left does not decide the result.
                runs = z3.Not(ta) if op == "or" else ta
                tb, okb = self.expr(b, scope, conj(path, oka, runs))
                ok = conj(oka, z3.Implies(runs, okb))
                if op == "and":
                    return conj(ta, tb), ok
                if op == "or":
                    return z3.Or(ta, tb), ok
                return z3.Implies(ta, tb), ok
            case ir.Not(x=x):
                t, ok = self.expr(x, scope, path)
                return z3.Not(t), ok
            case ir.Sum(var=v, body=b):
                assets = self.enc.program.assets
                terms = [self.expr(b, {**scope, v: asset}, path) for asset in assets]
                total = z3.Sum([t for t, _ in terms]) if terms else q(0)
                if len(terms) > 1:
                    parts = tuple((a, t) for a, (t, _) in zip(assets, terms, strict=True))
                    self.enc.structure.sums[total.get_id()] = SumUse(total, parts, (e, _scoped(scope)))
                return total, conj(*[ok for _, ok in terms])
            case ir.Quant(kind=k, var=v, body=b):
                items: list[z3.BoolRef] = []
                item_oks: list[z3.BoolRef] = []
                so_far = z3.BoolVal(True)  # Python's all()/any() stop at the first decisive item
                for asset in self.enc.program.assets:
                    t, ok = self.expr(b, {**scope, v: asset}, conj(path, so_far))
                    item_oks.append(z3.Implies(so_far, ok))
                    items.append(t)
                    so_far = conj(so_far, t if k == "all" else z3.Not(t))
                return (conj(*items) if k == "all" else z3.Or(*items)), conj(*item_oks)
            case ir.RowCell(table=table, row=row, part=part, column=col):
                if self.frame.free:
                    return self.frame.cell(table.name, row, part, col), true
                return q(e.value), true
            case ir.TableCall(table=table, arg=a, column=col, span=span):
                ta, oka = self.expr(a, scope, path)
                if self.frame.free:
                    return self.frame.lookup(table.name, col, ta), oka
                conds = [_in_row(row, ta) for row in table.rows]
                looked_up = q(table.rows[-1].values[col])
                for row, cond in reversed(list(zip(table.rows, conds, strict=True))):
                    looked_up = z3.If(cond, q(row.values[col]), looked_up)
                covered = z3.Or(*conds)
                self.enc.structure.tables[looked_up.get_id()] = TableUse(
                    table.name,
                    tuple((r.lo, r.hi) for r in table.rows),
                    tuple(r.values[col] for r in table.rows),
                    table.rows[-1].values[col],
                    ta,
                    looked_up,
                    covered,
                    (a, _scoped(scope)),
                    self.enc.continuous(a),
                )
                self.obligations.append(
                    Obligation(f"table `{table.name}` has no bracket for the value", span, conj(path, oka), covered)
                )
                return looked_up, conj(oka, covered)
        raise InternalError(f"the Z3 back end has no case for {type(e).__name__}")

    def asset(self, index: ir.Index | None, scope: Scope) -> str | None:
        match index:
            case None:
                return None
            case ir.AssetName(name=a):
                return a
            case ir.BoundVar(name=v):
                return scope[v]
        raise InternalError(f"unknown index {index!r}")


def _scoped(scope: Scope) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(scope.items()))


def _in_row(row: ir.Row, x: z3.ArithRef) -> z3.BoolRef:
    parts = []
    if row.lo is not None:
        parts.append(x >= q(row.lo))
    if row.hi is not None:
        parts.append(x < q(row.hi))
    return conj(*parts) if parts else z3.BoolVal(True)


def _compare(op: str, a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    match op:
        case "<":
            return a < b
        case "<=":
            return a <= b
        case ">":
            return a > b
        case ">=":
            return a >= b
        case "==":
            return a == b
        case "!=":
            return a != b
    raise InternalError(f"unknown comparison {op}")


@dataclass
class Encoder:
    """The Z3 view of one program: parameters, frames and formulas."""

    program: ir.Program
    pins: Mapping[str, Fraction] = field(default_factory=dict)  # param (or `name[asset]`) -> value
    all_defaults: bool = False

    def __post_init__(self) -> None:
        self.lets = {let.sym.name: let for let in self.program.lets}
        # The table lookups and sums over assets the encoder builds, for structural decomposition.
        self.structure = Structure(tuple(self.program.assets))
        self._continuous: dict[str, bool] = {}
        self.params: dict[tuple[str, str | None], z3.ArithRef] = {}
        for p in self.program.params:
            for asset in self.assets_of(p.sym):
                self.params[(p.sym.name, asset)] = z3.Real(self.varname(p.sym.name, asset, ""))

    def assets_of(self, sym: ir.Symbol) -> list[str | None]:
        return list(self.program.assets) if sym.indexed else [None]

    @staticmethod
    def varname(name: str, asset: str | None, tag: str) -> str:
        base = f"{name}[{asset}]" if asset is not None else name
        return f"{base}@{tag}" if tag else base

    def param(self, name: str, asset: str | None) -> z3.ArithRef:
        return self.params[(name, asset)]

    def continuous(self, e: ir.Expr) -> bool:
        """Whether `e` is a continuous function of states, inputs and parameters (lets followed)."""
        for node in ir.walk(e):
            match node:
                case ir.Div() | ir.Round() | ir.Ite() | ir.TableCall():
                    return False
                case ir.Var(sym=sym) if sym.kind is ir.Kind.LET:
                    if sym.name not in self._continuous:
                        self._continuous[sym.name] = False  # a cycle cannot happen; be safe if it did
                        self._continuous[sym.name] = self.continuous(self.lets[sym.name].expr)
                    if not self._continuous[sym.name]:
                        return False
        return True

    def frame(
        self, tag: str = "", overrides: Mapping[tuple[str, str | None], z3.ArithRef] | None = None, free: bool = False
    ) -> Frame:
        return Frame(self, tag, overrides, free)

    def param_space(self) -> z3.BoolRef:
        """Ranges (or pins, or defaults) of every parameter; not the `assume`s."""
        parts = []
        for p in self.program.params:
            defaults = dict(p.default) if isinstance(p.default, tuple) else None
            for asset in self.assets_of(p.sym):
                v = self.param(p.sym.name, asset)
                default = defaults[asset] if defaults is not None and asset is not None else p.default
                assert isinstance(default, Fraction)
                key = p.sym.name if asset is None else f"{p.sym.name}[{asset}]"
                pinned = self.pins.get(key, self.pins.get(p.sym.name))
                if pinned is not None:
                    parts.append(v == q(pinned))
                elif p.pinned or self.all_defaults:
                    parts.append(v == q(default))
                else:
                    if p.lo is not None:
                        parts.append(v >= q(p.lo))
                    if p.hi is not None:
                        parts.append(v <= q(p.hi))
        return conj(*parts) if parts else z3.BoolVal(True)

    def assumptions(self) -> z3.BoolRef:
        """The `assume`s (over parameters only) with their definedness."""
        frame = self.frame("assume")
        parts = []
        for c in self.program.assumes:
            term, ok = self.formula(c.expr, frame)
            parts += [ok, term]
        return conj(*parts) if parts else z3.BoolVal(True)

    def formula(
        self,
        e: ir.Expr,
        frame: Frame,
        locals_: Mapping[str, z3.ExprRef] | None = None,
        scope: Scope | None = None,
        post: Frame | None = None,
    ) -> tuple[z3.BoolRef, z3.BoolRef]:
        """(term, defined) of an expression in `frame` (`x'` in `post`), eager lets included in `defined`."""
        tr = Translation(self, frame, locals_ or {}, post)
        term, ok = tr.expr(e, scope or {}, z3.BoolVal(True))
        return term, conj(ok, *tr.eager)

    def translation(self, frame: Frame, locals_: Mapping[str, z3.ExprRef] | None = None) -> Translation:
        return Translation(self, frame, locals_ if locals_ is not None else {})
