"""Name resolution, type and unit checking, and lowering from AST to IR.

Takes a parsed `ast.Module` and returns an `ir.Program`, or raises `SpecError`
carrying every error found (the pass collects and continues; an expression
that fails to check is replaced by a neutral placeholder so that one mistake
does not cascade). Guarantees on success: every name is resolved, every
expression is well typed and carries its unit, lets are in dependency order,
actions assign only states and each at most once, env moves only states and
inputs.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from dsl import ast, ir
from dsl.diagnostics import Diagnostic, Label, Severity, SourceFile, Span, SpecError, did_you_mean
from dsl.printer import number_to_source, unit_to_source
from dsl.units import BOOL, ERROR, POLY, RATE, Dim, ErrorType, PolyType, Ty, as_dim, unify

BUILTINS = ("abs", "min", "max", "round_down", "round_up")
_VALUE_KINDS = frozenset({ir.Kind.PARAM, ir.Kind.STATE, ir.Kind.INPUT, ir.Kind.LET})
_KIND_WORDS = {ir.Kind.PARAM: "parameter", ir.Kind.ARG: "argument", ir.Kind.LOCAL: "action-local let"}


@dataclass
class _Ctx:
    """What an expression may refer to, and how to describe the place in errors."""

    place: str
    allowed: frozenset[ir.Kind] = _VALUE_KINDS
    bound: dict[str, str] = field(default_factory=dict)  # bound variable -> set name
    scope: dict[str, ir.Symbol] = field(default_factory=dict)  # action args and locals
    primes: bool = False  # a step property: `x'` reads x after the step
    other_args: dict[str, str] = field(default_factory=dict)  # argument name -> an action it belongs to

    def bind(self, var: str, set_name: str) -> _Ctx:
        return dataclasses.replace(self, bound={**self.bound, var: set_name})


def elaborate(module: ast.Module, source: SourceFile) -> ir.Program:
    """Check `module` and lower it to IR; raise `SpecError` with all errors found."""
    return _Elaborator(module, source).run()


class _Elaborator:
    def __init__(self, module: ast.Module, source: SourceFile) -> None:
        self.module = module
        self.source = source
        self.diags: list[Diagnostic] = []
        self.units: dict[str, Span | None] = {"rate": None}
        self.assets: tuple[str, ...] = ()
        self.globals: dict[str, ast.Decl | ast.RoleDef | ast.Ident] = {}
        self.global_spans: dict[str, Span] = {}
        self.symbols: dict[str, ir.Symbol] = {}
        self.tables: dict[str, ir.Table] = {}
        self.table_columns: dict[str, tuple[ast.Ident | None, ...]] = {}  # the result columns' names, if any
        self.let_decls: dict[str, ast.LetDecl | ast.RoleDef | tuple[ast.TupleLetDecl, int]] = {}
        self.lets: dict[str, ir.Let] = {}
        self.let_order: list[ir.Let] = []
        self.busy: set[str] = set()

    # ---- diagnostics
    def error(
        self, code: str, message: str, span: Span | None, hint: str | None = None, labels: Iterable[Label] = ()
    ) -> None:
        self.diags.append(Diagnostic(Severity.ERROR, code, message, span, tuple(labels), hint))

    # ---- driver
    def run(self) -> ir.Program:
        decls = self.module.decls
        title = self._title(decls)
        for d in decls:
            if isinstance(d, ast.UnitDecl):
                for n in d.names:
                    self._declare_unit(n)
            elif isinstance(d, ast.AssetsDecl):
                self._declare_assets(d)
        self._collect_names(decls)
        params = [p for d in decls if isinstance(d, ast.ParamDecl) if (p := self._param(d))]
        states = [self._var(d) for d in decls if isinstance(d, ast.VarDecl) and d.kind == "state"]
        inputs = [self._var(d) for d in decls if isinstance(d, ast.VarDecl) and d.kind == "input"]
        for d in decls:
            if isinstance(d, ast.TableDecl):
                self._table(d)
        for name in self.let_decls:
            self._let(name)
        roles = self._roles(decls)
        assumes = [
            self._formula("assume", "assume", d.expr, d.span, frozenset({ir.Kind.PARAM}))
            for d in decls
            if isinstance(d, ast.AssumeDecl)
        ]
        wheres = [
            self._formula("where", d.name.name, d.where, d.where.span, _VALUE_KINDS)
            for d in decls
            if isinstance(d, ast.VarDecl) and d.where is not None
        ]
        actions = [self._action(d) for d in decls if isinstance(d, ast.ActionDecl)]
        envs = [self._env(d) for d in decls if isinstance(d, ast.EnvDecl)]
        formulas = [d for d in decls if isinstance(d, ast.NamedFormula)]
        self._check_formula_names(formulas)
        init: list[ir.Constraint] = []
        invariants: list[ir.Constraint] = []
        properties: list[ir.Constraint] = []
        conserved: list[ir.Conserved] = []
        step_properties: list[ir.StepProperty] = []
        for f in formulas:
            name = f.name.name if f.name else f.kind
            if f.kind == "conserved":
                total = self._numeric(f.expr, _Ctx("a `conserved` total"))
                conserved.append(ir.Conserved(name, total, f.span, f.direction or "equal"))
            elif f.on is not None:
                sp = self._step_property(name, f.on, f.expr, f.span, actions, envs)
                if sp is not None:
                    step_properties.append(sp)
            else:
                c = self._formula(f.kind, name, f.expr, f.span, _VALUE_KINDS)
                {"init": init, "invariant": invariants, "property": properties}[f.kind].append(c)
        self._check_actions_distinct(actions, envs)
        if any(d.severity is Severity.ERROR for d in self.diags):
            raise SpecError(sorted(self.diags, key=_order))
        return ir.Program(
            title=title,
            source=self.source,
            units=tuple(u for u in self.units if u != "rate"),
            assets=self.assets,
            params=tuple(params),
            assumes=tuple(assumes),
            states=tuple(states),
            inputs=tuple(inputs),
            wheres=tuple(wheres),
            tables=tuple(self.tables.values()),
            lets=tuple(self.let_order),
            roles=roles,
            actions=tuple(actions),
            envs=tuple(envs),
            init=tuple(init),
            conserved=tuple(conserved),
            invariants=tuple(invariants),
            properties=tuple(properties),
            step_properties=tuple(step_properties),
        )

    def _title(self, decls: tuple[ast.Decl, ...]) -> str:
        specs = [d for d in decls if isinstance(d, ast.SpecDecl)]
        for extra in specs[1:]:
            self.error(
                "duplicate",
                "a spec has one `spec` title",
                extra.span,
                labels=[Label(specs[0].span, "the title is given here")],
            )
        return specs[0].title if specs else self.source.path

    # ---- declarations
    def _reserved(self, n: ast.Ident) -> bool:
        """Report and return True when a declared name is a reserved word or built-in."""
        if n.name in ast.KEYWORDS or n.name in BUILTINS:
            kind = "a reserved word" if n.name in ast.KEYWORDS else "a built-in function"
            self.error("reserved", f"`{n.name}` is {kind}", n.span, "pick another name")
            return True
        return False

    def _declare_unit(self, n: ast.Ident) -> None:
        if self._reserved(n):
            return
        if n.name == "bool":
            self.error(
                "reserved",
                "`bool` is the built-in type of conditions, not a unit",
                n.span,
                "remove it from the `unit` line; declare a flag directly: `state paused: bool`",
            )
            return
        if n.name in self.units:
            first = self.units[n.name]
            if first is None:
                self.error(
                    "duplicate",
                    f"`{n.name}` is the built-in dimensionless unit",
                    n.span,
                    "remove it from the `unit` line",
                )
            else:
                self.error(
                    "duplicate",
                    f"unit `{n.name}` is declared twice",
                    n.span,
                    labels=[Label(first, "first declared here")],
                )
            return
        self.units[n.name] = n.span

    def _declare_assets(self, d: ast.AssetsDecl) -> None:
        if self.assets:
            self.error(
                "duplicate", "the `assets` set is declared twice", d.span, "list every asset on one `assets` line"
            )
            return
        seen: dict[str, Span] = {}
        for n in d.names:
            if self._reserved(n):
                continue
            if n.name in seen:
                self.error(
                    "duplicate",
                    f"asset `{n.name}` is listed twice",
                    n.span,
                    labels=[Label(seen[n.name], "first listed here")],
                )
            seen[n.name] = n.span
        self.assets = tuple(seen)

    def _claim(self, ident: ast.Ident, decl: ast.Decl | ast.RoleDef | ast.Ident) -> bool:
        name = ident.name
        if self._reserved(ident):
            return False
        if name in self.globals:
            self.error(
                "duplicate",
                f"`{name}` is declared twice",
                ident.span,
                labels=[Label(self.global_spans[name], "first declared here")],
            )
            return False
        self.globals[name] = decl
        self.global_spans[name] = ident.span
        return True

    def _collect_names(self, decls: tuple[ast.Decl, ...]) -> None:
        for d in decls:
            match d:
                case ast.ParamDecl() | ast.VarDecl() | ast.TableDecl():
                    self._claim(d.name, d)
                case ast.LetDecl():
                    if self._claim(d.name, d):
                        self.let_decls[d.name.name] = d
                case ast.TupleLetDecl():
                    for i, n in enumerate(d.names):
                        if self._claim(n, d):
                            self.let_decls[n.name] = (d, i)
                case ast.MarginBlock():
                    for role in d.roles:
                        if self._role_ok(role) and self._claim(role.role, role):
                            self.let_decls[role.role.name] = role

    def _role_ok(self, role: ast.RoleDef) -> bool:
        name = role.role.name
        if name not in ir.ROLES:
            self.error(
                "unknown-role",
                f"`{name}` is not a margin role",
                role.role.span,
                did_you_mean(name, ir.ROLES)
                or "the roles are equity, initial, maintenance, health and `liquidatable when ...`",
            )
            return False
        if name == "liquidatable" and not role.is_condition:
            self.error("role-form", "`liquidatable` is a condition", role.span, "write `liquidatable when <condition>`")
            return False
        if name == "health" and role.is_condition:
            self.error(
                "role-form",
                "`health` is a number where higher is healthier, not a condition",
                role.span,
                "write `health = <expression>`, e.g. `health = health_factor`; a condition belongs in"
                " `liquidatable when ...`",
            )
            return False
        if name != "liquidatable" and role.is_condition:
            self.error(
                "role-form", f"`{name}` is an amount, not a condition", role.span, f"write `{name} = <expression>`"
            )
            return False
        return True

    def _unit(self, u: ast.UnitExpr) -> Dim:
        match u:
            case ast.UnitName(name=n):
                return self._unit_name(n)
            case ast.UnitPow(name=n, power=p):
                return self._unit_name(n) ** p
            case ast.UnitBin(op="*", left=a, right=b):
                return self._unit(a) * self._unit(b)
            case ast.UnitBin(left=a, right=b):
                return self._unit(a) / self._unit(b)
        raise AssertionError(u)

    def _unit_name(self, n: ast.Ident) -> Dim:
        if n.name == "rate":
            return RATE
        if n.name == "bool":
            self.error(
                "not-a-unit",
                "`bool` is not a unit here",
                n.span,
                "only a whole state, input or let can be bool (`state paused: bool`); a parameter, an "
                "argument, a table column or a compound unit is a number",
            )
            return RATE
        if n.name not in self.units:
            self.error(
                "unknown-unit",
                f"unknown unit `{n.name}`",
                n.span,
                did_you_mean(n.name, self.units) or f"declare it: `unit {n.name}`",
            )
            return RATE
        return Dim.base(n.name)

    def _set(self, n: ast.Ident) -> bool:
        if n.name != "assets":
            self.error("unknown-set", f"unknown set `{n.name}`", n.span, "the finite set is called `assets`")
            return False
        if not self.assets:
            self.error(
                "unknown-set", "no `assets` set is declared", n.span, "declare the set first: `assets BTC, ETH, SOL`"
            )
            return False
        return True

    def _symbol(self, kind: ir.Kind, name: ast.Ident, ty: Ty, indexed: bool, scope: str = "") -> ir.Symbol:
        sym = ir.Symbol(kind, name.name, ty, indexed, name.span, scope)
        if kind not in (ir.Kind.ARG, ir.Kind.LOCAL):
            self.symbols[name.name] = sym
        return sym

    def _param(self, d: ast.ParamDecl) -> ir.Param | None:
        indexed = d.indexed is not None and self._set(d.indexed)
        sym = self._symbol(ir.Kind.PARAM, d.name, self._unit(d.unit), indexed)
        lo = hi = None
        if d.range is not None:
            lo_b, hi_b = d.range
            if (lo_b.value is None and not lo_b.negative) or (hi_b.value is None and hi_b.negative):
                self.error("bad-range", "a range goes from low to high", lo_b.span, "write `in [-inf, inf]` at most")
            lo, hi = lo_b.value, hi_b.value
            if lo is not None and hi is not None and lo > hi:
                self.error(
                    "bad-range",
                    f"the range of `{d.name.name}` is empty: {lo} > {hi}",
                    lo_b.span,
                    "write the lower bound first",
                )
        if d.default is None:
            self.error(
                "no-default",
                f"parameter `{d.name.name}` has no default value",
                d.name.span,
                "give one: `param name: unit = value in [lo, hi]`; the runtime uses it",
            )
            return None
        default: Fraction | tuple[tuple[str, Fraction], ...]
        if isinstance(d.default, ast.Num):
            default = d.default.value
            self._in_range(d.name.name, d.default, lo, hi)
            if indexed:
                default = tuple((a, d.default.value) for a in self.assets)
        else:
            if not indexed:
                self.error(
                    "bad-default",
                    f"`{d.name.name}` is not per-asset, so its default is one number",
                    d.name.span,
                    f"declare it per asset: `param {d.name.name}[assets]: ...`",
                )
                return None
            given: dict[str, Fraction] = {}
            for ident, num in d.default:
                if ident.name not in self.assets:
                    self.error(
                        "unknown-asset",
                        f"unknown asset `{ident.name}`",
                        ident.span,
                        did_you_mean(ident.name, self.assets),
                    )
                elif ident.name in given:
                    self.error("duplicate", f"asset `{ident.name}` is given twice", ident.span)
                given[ident.name] = num.value
                self._in_range(f"{d.name.name}[{ident.name}]", num, lo, hi)
            missing = [a for a in self.assets if a not in given]
            if missing:
                self.error(
                    "bad-default",
                    f"`{d.name.name}` has no default for {', '.join(missing)}",
                    d.span,
                    "give a value for every asset",
                )
            default = tuple((a, given.get(a, Fraction(0))) for a in self.assets)
        return ir.Param(sym, default, lo, hi, d.range is None)

    def _in_range(self, name: str, num: ast.Num, lo: Fraction | None, hi: Fraction | None) -> None:
        if (lo is not None and num.value < lo) or (hi is not None and num.value > hi):
            self.error(
                "bad-default",
                f"the default of `{name}` ({num.text}) is outside its range",
                num.span,
                "move the default into the range or widen the range",
            )

    def _var(self, d: ast.VarDecl) -> ir.Symbol:
        indexed = d.indexed is not None and self._set(d.indexed)
        kind = ir.Kind.STATE if d.kind == "state" else ir.Kind.INPUT
        is_bool = isinstance(d.unit, ast.UnitName) and d.unit.name.name == "bool"
        return self._symbol(kind, d.name, BOOL if is_bool else self._unit(d.unit), indexed)

    def _table(self, d: ast.TableDecl) -> None:
        arg_ty = self._unit(d.arg_unit)
        results = tuple(self._unit(u) for u in d.results)
        rows = []
        for r in d.rows:
            if len(r.values) != len(results):
                units = ", ".join(str(u) for u in results)
                self.error(
                    "table-arity",
                    f"this row has {len(r.values)} value{'s' * (len(r.values) != 1)} but table "
                    f"`{d.name.name}` returns {len(results)} ({units})",
                    r.span,
                    "give one value per result column",
                )
            lo = r.lo.value
            hi = r.hi.value
            if lo is not None and hi is not None and lo >= hi:
                self.error("bad-range", f"bracket [{lo}, {hi}) is empty", r.span, "write the lower bound first")
            rows.append(ir.Row(lo, hi, tuple(v.value for v in r.values), r.span))
        table = ir.Table(d.name.name, arg_ty, results, tuple(rows), d.span)
        self.tables[d.name.name] = table
        self.table_columns[d.name.name] = d.columns or (None,) * len(results)
        seen: dict[str, Span] = {}
        for col in d.columns:
            if col is None:
                continue
            if col.name in ("lower", "upper"):
                self.error(
                    "reserved",
                    f"`{col.name}` names a row's bound, not a result column",
                    col.span,
                    "pick another name for the column",
                )
            elif col.name in seen:
                self.error(
                    "duplicate",
                    f"table `{d.name.name}` has two columns named `{col.name}`",
                    col.span,
                    labels=[Label(seen[col.name], "first named here")],
                )
            seen[col.name] = col.span

    # ---- lets and roles
    def _let(self, name: str) -> ir.Let | None:
        if name in self.lets:
            return self.lets[name]
        decl = self.let_decls[name]
        span = self.global_spans[name]
        if name in self.busy:
            self.error(
                "cycle",
                f"`{name}` is defined in terms of itself",
                span,
                "break the cycle: a let may only use names that do not depend on it",
            )
            return None
        self.busy.add(name)
        ctx = _Ctx(f"`{name}`")
        binder: str | None = None
        match decl:
            case ast.LetDecl():
                if decl.binder is not None and self._set(decl.binder.set):
                    binder = decl.binder.var.name
                    ctx = ctx.bind(binder, decl.binder.set.name)
                expr = self._expr(decl.expr, ctx)
                ty = self._declared(name, decl.unit, expr, decl.expr.span)
                span = decl.span
            case ast.RoleDef():
                if decl.is_condition:
                    expr = self._cond(decl.expr, ctx)
                    ty = BOOL
                elif name == "health":
                    expr = self._health(decl.expr, ctx)
                    ty = _settle(expr.ty)
                else:
                    expr = self._numeric(decl.expr, ctx)
                    ty = _settle(expr.ty)
                    if isinstance(expr.ty, PolyType) and name != "equity" and "equity" in self.let_decls:
                        equity = self._let("equity")  # a bare-number requirement takes equity's unit
                        ty = equity.sym.ty if equity is not None else ty
                span = decl.span
            case (ast.TupleLetDecl() as tl, int() as column):
                expr, ty = self._tuple_column(tl, column, ctx)
                span = tl.span
        self.busy.discard(name)
        sym = self._symbol(ir.Kind.LET, ast.Ident(name, self.global_spans[name]), ty, binder is not None)
        let = ir.Let(sym, binder, _retype(expr, ty), span)
        self.lets[name] = let
        self.let_order.append(let)
        return let

    def _declared(self, name: str, unit: ast.UnitExpr | None, expr: ir.Expr, span: Span) -> Ty:
        if unit is None:
            return _settle(expr.ty)
        if isinstance(unit, ast.UnitName) and unit.name.name == "bool":
            if expr.ty != BOOL:
                self.error("unit-mismatch", f"`{name}` is declared bool but its value is {expr.ty}", span)
            return BOOL
        declared = self._unit(unit)
        if unify(declared, expr.ty) is None:
            self.error(
                "unit-mismatch",
                f"`{name}` is declared {declared} but its value is {_show(expr.ty)}",
                span,
                f"check the formula, or declare `{name}: {_show(expr.ty)}`",
            )
        return declared

    def _tuple_column(self, tl: ast.TupleLetDecl, column: int, ctx: _Ctx) -> tuple[ir.Expr, Ty]:
        e = tl.expr
        if not (isinstance(e, ast.Call) and e.func.name in self.tables):
            if column == 0:
                self.error(
                    "bad-destructure",
                    "only a table lookup returns several values",
                    e.span,
                    "write `let (a, b) = table_name(x)`",
                )
            return ir.Const(Fraction(0), ERROR), ERROR
        table = self.tables[e.func.name]
        if len(table.result_tys) != len(tl.names):
            if column == 0:
                self.error(
                    "table-arity",
                    f"table `{table.name}` returns {len(table.result_tys)} values but {len(tl.names)} names are given",
                    tl.span,
                    "name one variable per result column",
                )
            if column >= len(table.result_tys):
                return ir.Const(Fraction(0), ERROR), ERROR
        arg = self._table_arg(table, e, ctx if column == 0 else dataclasses.replace(ctx), report=column == 0)
        ty = table.result_tys[column]
        return ir.TableCall(table, arg, column, ty, e.span), ty

    def _roles(self, decls: tuple[ast.Decl, ...]) -> tuple[tuple[str, ir.Symbol], ...]:
        blocks = [d for d in decls if isinstance(d, ast.MarginBlock)]
        for extra in blocks[1:]:
            self.error(
                "duplicate",
                "a spec has one `margin:` block",
                extra.span,
                labels=[Label(blocks[0].span, "the margin block is here")],
            )
        roles = [
            (r, self.lets[r]) for r in ir.ROLES if r in self.lets and isinstance(self.let_decls.get(r), ast.RoleDef)
        ]
        amounts = [(r, let) for r, let in roles if r in ir.AMOUNT_ROLES]
        for (r1, l1), (r2, l2) in itertools.pairwise(amounts):
            if unify(l1.sym.ty, l2.sym.ty) is None:
                self.error(
                    "unit-mismatch",
                    f"`{r2}` is {_show(l2.sym.ty)} but `{r1}` is {_show(l1.sym.ty)}",
                    l2.span,
                    "equity and the requirements are compared, so they need one unit",
                    [Label(l1.span, f"`{r1}` is defined here")],
                )
        return tuple((r, let.sym) for r, let in roles)

    # ---- formulas, actions, env moves
    def _formula(self, kind: str, name: str, e: ast.Expr, span: Span, allowed: frozenset[ir.Kind]) -> ir.Constraint:
        place = {
            "assume": "an `assume`",
            "where": "a `where` clause",
            "init": "`init`",
            "invariant": "an invariant",
            "property": "a property",
        }[kind]
        return ir.Constraint(kind, name, self._cond(e, _Ctx(place, allowed)), span)

    def _step_property(
        self, name: str, on: ast.StepRef, e: ast.Expr, span: Span, actions: list[ir.Action], envs: list[ir.Env]
    ) -> ir.StepProperty | None:
        """A step property: its steps resolved, its arguments in scope where it names one action."""
        other_args = {arg.name: a.name for a in actions for arg in a.args}
        steps: list[ir.Action | ir.Env] = [*actions, *envs]
        scope: dict[str, ir.Symbol] = {}
        if on.step is None:
            label = f"every {on.every}"
            chosen: list[ir.Action | ir.Env] = [*actions, *(envs if on.every == "step" else [])]
        else:
            label = on.step.name
            found = [s for s in steps if s.name == on.step.name]
            if not found:
                self.error(
                    "unknown-step",
                    f"`{on.step.name}` is not an action or env move",
                    on.step.span,
                    did_you_mean(on.step.name, [s.name for s in steps])
                    or "a step property is attached to an action, an env move, `every step` or `every action`",
                )
                return None
            chosen = found[:1]
            if isinstance(found[0], ir.Action):
                scope = {arg.name: arg for arg in found[0].args}
        ctx = _Ctx(
            f"step property `{name}` (on {label})",
            _VALUE_KINDS | {ir.Kind.ARG},
            {},
            scope,
            primes=True,
            other_args={k: v for k, v in other_args.items() if k not in scope},
        )
        return ir.StepProperty(name, label, tuple(s.name for s in chosen), self._cond(e, ctx), span)

    def _check_formula_names(self, formulas: list[ast.NamedFormula]) -> None:
        seen: dict[str, Span] = {}
        for f in formulas:
            if f.name is None or self._reserved(f.name):
                continue
            if f.name.name in seen:
                self.error(
                    "duplicate",
                    f"`{f.name.name}` names two checks",
                    f.name.span,
                    labels=[Label(seen[f.name.name], "first used here")],
                )
            seen[f.name.name] = f.name.span

    def _check_actions_distinct(self, actions: list[ir.Action], envs: list[ir.Env]) -> None:
        for d in self.module.decls:
            if isinstance(d, ast.ActionDecl | ast.EnvDecl):
                self._reserved(d.name)
        seen: dict[str, Span] = {}
        steps: list[ir.Action | ir.Env] = [*actions, *envs]
        for item in steps:
            if item.name in seen:
                self.error(
                    "duplicate",
                    f"step `{item.name}` is declared twice",
                    item.span,
                    labels=[Label(seen[item.name], "first declared here")],
                )
            seen[item.name] = item.span

    def _action(self, d: ast.ActionDecl) -> ir.Action:
        if d.forced and d.guard is None:
            self.error(
                "forced-action",
                f"forced action `{d.name.name}` needs a guard",
                d.name.span,
                "a forced action runs as soon as its guard holds, so the guard must say when",
            )
        scope: dict[str, ir.Symbol] = {}
        args = []
        for p in d.params:
            if self._local_name_ok(p.name, scope):
                sym = self._symbol(ir.Kind.ARG, p.name, self._unit(p.unit), False, d.name.name)
                scope[p.name.name] = sym
                args.append(sym)
        choices = self._choices(d, scope) if d.forced else ()
        for p in d.params:
            if p.choice is not None and not d.forced:
                self.error(
                    "forced-action",
                    f"argument `{p.name.name}` of action `{d.name.name}` has a chosen value, "
                    "but the action is not forced",
                    p.choice.span,
                    "whoever takes an ordinary action chooses its arguments; "
                    "write `forced action` to take it with these values whenever its guard holds at them",
                )
        ctx = _Ctx(f"action `{d.name.name}`", _VALUE_KINDS | {ir.Kind.ARG, ir.Kind.LOCAL}, {}, scope)
        guard = self._cond(d.guard, ctx) if d.guard is not None else None
        lets: list[ir.Let] = []
        updates: list[ir.Update] = []
        assigned: list[tuple[ir.Symbol, ir.Index | None, Span]] = []
        for stmt in d.body:
            if isinstance(stmt, ast.LetDecl):
                if stmt.binder is not None:
                    self.error(
                        "unsupported",
                        "a `let` inside an action cannot be per-asset",
                        stmt.binder.span,
                        "declare it at the top level",
                    )
                if not self._local_name_ok(stmt.name, scope):
                    continue
                expr = self._expr(stmt.expr, ctx)
                ty = self._declared(stmt.name.name, stmt.unit, expr, stmt.expr.span)
                sym = self._symbol(ir.Kind.LOCAL, stmt.name, ty, False, d.name.name)
                scope[stmt.name.name] = sym
                lets.append(ir.Let(sym, None, _retype(expr, ty), stmt.span))
            else:
                upd = self._assignment(stmt, ctx, assigned, d.name.name)
                if upd is not None:
                    updates.append(upd)
        if not updates and not any(isinstance(s, ast.Assign) for s in d.body):
            self.error(
                "no-effect",
                f"action `{d.name.name}` assigns nothing",
                d.name.span,
                "an action changes the state: assign at least one `x' = ...`",
            )
        parts = _parts(d.guard, guard) if d.guard is not None and guard is not None else ()
        return ir.Action(d.name.name, d.forced, tuple(args), guard, tuple(lets), tuple(updates), d.span, choices, parts)

    def _choices(self, d: ast.ActionDecl, scope: dict[str, ir.Symbol]) -> tuple[ir.Expr, ...]:
        """The chosen argument values of a forced action: one pre-state expression per argument.

        Both back ends take the forced step with exactly these values (language.md §6.3), so a
        choice may read parameters, states, inputs and lets, but not the arguments themselves.
        """
        out: list[ir.Expr] = []
        for p in d.params:
            sym = scope.get(p.name.name)
            if p.choice is None:
                self.error(
                    "forced-action",
                    f"argument `{p.name.name}` of forced action `{d.name.name}` needs a chosen value",
                    p.span,
                    f"the forced step takes its arguments from the state: write e.g. "
                    f"`{p.name.name}: {unit_to_source(p.unit)} = <expression over the state>`",
                )
                continue
            place = f"the choice of argument `{p.name.name}`"
            expr = self._numeric(p.choice, _Ctx(place, _VALUE_KINDS, {}, dict(scope)))
            if sym is not None:
                if expr.ty != ERROR and unify(sym.ty, expr.ty) is None:
                    self.error(
                        "unit-mismatch",
                        f"the chosen value of `{p.name.name}` is {_show(expr.ty)}, "
                        f"but `{p.name.name}` is {_show(sym.ty)}",
                        p.choice.span,
                        "the chosen value must have the argument's unit",
                    )
                out.append(_retype(expr, sym.ty))
        return tuple(out) if len(out) == len(d.params) else ()

    def _local_name_ok(self, ident: ast.Ident, scope: dict[str, ir.Symbol]) -> bool:
        name = ident.name
        if self._reserved(ident):
            return False
        if name in scope or name in self.globals:
            first = scope[name].span if name in scope else self.global_spans[name]
            self.error(
                "duplicate",
                f"`{name}` is already declared",
                ident.span,
                "pick another name",
                [Label(first, "declared here")],
            )
            return False
        return True

    def _target(
        self, t: ast.Target, kinds: tuple[ir.Kind, ...], what: str, ctx: _Ctx
    ) -> tuple[ir.Symbol, ir.Index | None, _Ctx] | None:
        name = t.name.name
        sym = self.symbols.get(name)
        if sym is None or sym.kind not in kinds:
            if sym is None and name not in self.globals:
                self.error(
                    "undefined",
                    f"undefined name `{name}`",
                    t.name.span,
                    did_you_mean(name, [s.name for s in self.symbols.values() if s.kind in kinds]),
                )
            else:
                kind = sym.kind.value if sym else "table"
                hint = {
                    "input": "inputs change only through `env` moves",
                    "param": "parameters are fixed; they are not part of the state",
                    "let": f"`{name}` is computed; assign the state it is computed from",
                    "state": "states change only through actions",
                }.get(kind)
                self.error(
                    "bad-assignment",
                    f"`{name}` is {'an' if kind[0] in 'aeiou' else 'a'} {kind}: {what} cannot assign it",
                    t.name.span,
                    hint,
                )
            return None
        index: ir.Index | None = None
        match t.index:
            case None:
                if sym.indexed:
                    self.error(
                        "needs-index",
                        f"`{name}` is per-asset: assign `{name}'[a in assets]` or "
                        f"`{name}'[{self.assets[0] if self.assets else 'BTC'}]`",
                        t.span,
                    )
                    return None
            case ast.Binder(var=v, set=s):
                if not sym.indexed:
                    self.error("not-indexed", f"`{name}` is not per-asset", t.span, f"write `{name}'`")
                    return None
                if self._set(s):
                    index = ir.BoundVar(v.name)
                    ctx = ctx.bind(v.name, s.name)
            case ast.Ident(name=a, span=span):
                if not sym.indexed:
                    self.error("not-indexed", f"`{name}` is not per-asset", t.span, f"write `{name}'`")
                    return None
                if a not in self.assets:
                    self.error("unknown-asset", f"unknown asset `{a}`", span, did_you_mean(a, self.assets))
                    return None
                index = ir.AssetName(a)
        return sym, index, ctx

    def _assignment(
        self, stmt: ast.Assign, ctx: _Ctx, assigned: list[tuple[ir.Symbol, ir.Index | None, Span]], action: str
    ) -> ir.Update | None:
        resolved = self._target(stmt.target, (ir.Kind.STATE,), "an action", ctx)
        if resolved is None:
            self._expr(stmt.expr, ctx)
            return None
        sym, index, rhs_ctx = resolved
        self._once(sym, index, stmt.target.span, assigned, f"action `{action}`")
        if sym.ty == BOOL:
            flag = self._expr(stmt.expr, rhs_ctx)
            if flag.ty not in (BOOL, ERROR):
                self.error(
                    "unit-mismatch",
                    f"`{sym.name}` is bool but the value assigned is a quantity ({_show(flag.ty)})",
                    stmt.expr.span,
                    f"assign a condition: `true`, `false`, `not {sym.name}` or a comparison such as `equity < 0`",
                )
                flag = ir.BoolConst(False)
            return ir.Update(sym, index, flag, stmt.span)
        expr = self._numeric(stmt.expr, rhs_ctx)
        if unify(sym.ty, expr.ty) is None:
            self.error(
                "unit-mismatch", f"`{sym.name}` is {sym.ty} but the value assigned is {_show(expr.ty)}", stmt.expr.span
            )
        return ir.Update(sym, index, _retype(expr, sym.ty), stmt.span)

    def _once(
        self,
        sym: ir.Symbol,
        index: ir.Index | None,
        span: Span,
        assigned: list[tuple[ir.Symbol, ir.Index | None, Span]],
        where: str,
    ) -> None:
        for other, other_index, other_span in assigned:
            if other == sym and (
                index is None
                or other_index is None
                or isinstance(index, ir.BoundVar)
                or isinstance(other_index, ir.BoundVar)
                or index == other_index
            ):
                self.error(
                    "assigned-twice",
                    f"`{sym.name}` is assigned twice in {where}",
                    span,
                    "assign each variable at most once per step",
                    [Label(other_span, "first assigned here")],
                )
                return
        assigned.append((sym, index, span))

    def _env(self, d: ast.EnvDecl) -> ir.Env:
        ctx = _Ctx(f"env move `{d.name.name}`")
        guard = self._cond(d.guard, ctx) if d.guard is not None else None
        updates = []
        assigned: list[tuple[ir.Symbol, ir.Index | None, Span]] = []
        for item in d.items:
            resolved = self._target(item.target, (ir.Kind.STATE, ir.Kind.INPUT), "an env move", ctx)
            if resolved is None:
                continue
            sym, index, item_ctx = resolved
            if sym.ty == BOOL:
                self.error(
                    "bad-assignment",
                    f"`{sym.name}` is bool: an env move chooses a number in a range",
                    item.target.span,
                    f"change `{sym.name}` in an action (`{sym.name}' = not {sym.name}`)",
                )
                continue
            self._once(sym, index, item.target.span, assigned, f"env move `{d.name.name}`")
            lo = self._numeric(item.lo, item_ctx)
            hi = self._numeric(item.hi, item_ctx)
            for e, src in ((lo, item.lo), (hi, item.hi)):
                if unify(sym.ty, e.ty) is None:
                    self.error("unit-mismatch", f"`{sym.name}` is {sym.ty} but this bound is {_show(e.ty)}", src.span)
            if isinstance(item.lo, ast.Num) and isinstance(item.hi, ast.Num) and item.lo.value > item.hi.value:
                self.error(
                    "empty-range", f"the range of `{sym.name}'` is empty", item.span, "write the lower bound first"
                )
            updates.append(ir.EnvUpdate(sym, index, _retype(lo, sym.ty), _retype(hi, sym.ty), item.span))
        parts = _parts(d.guard, guard) if d.guard is not None and guard is not None else ()
        return ir.Env(d.name.name, guard, tuple(updates), d.span, parts)

    # ---- expressions
    def _cond(self, e: ast.Expr, ctx: _Ctx) -> ir.Expr:
        out = self._expr(e, ctx)
        if out.ty != BOOL:
            if out.ty != ERROR:
                self.error(
                    "not-a-condition",
                    f"{ctx.place} needs a condition here, but this is a quantity ({_show(out.ty)})",
                    e.span,
                    "compare it: e.g. `x >= 0`",
                )
            return ir.BoolConst(True)
        return out

    def _health(self, e: ast.Expr, ctx: _Ctx) -> ir.Expr:
        """The `health` role: a number (any unit), higher is healthier; never a condition."""
        out = self._expr(e, ctx)
        if out.ty == BOOL:
            self.error(
                "not-a-quantity",
                "the health measure must be a number, but this is a condition",
                e.span,
                "`health` is a number where higher is healthier, e.g. `health = weighted_collateral / debt`;"
                " a condition belongs in `liquidatable when ...`",
            )
            return ir.Const(Fraction(0), ERROR)
        return out

    def _numeric(self, e: ast.Expr, ctx: _Ctx) -> ir.Expr:
        out = self._expr(e, ctx)
        if out.ty == BOOL:
            named = out.x if isinstance(out, ir.Next) else out
            what = f"`{named.sym.name}` is a flag (bool)" if isinstance(named, ir.Var) else "this is a condition"
            self.error(
                "not-a-quantity",
                f"a quantity is needed here, but {what}",
                e.span,
                "use `if <condition> then <a> else <b>` to choose between amounts",
            )
            return ir.Const(Fraction(0), ERROR)
        return out

    def _expr(self, e: ast.Expr, ctx: _Ctx) -> ir.Expr:
        match e:
            case ast.Num(value=v):
                return ir.Const(v, POLY)
            case ast.BoolLit(value=v):
                return ir.BoolConst(v)
            case ast.Ref():
                return self._ref(e, ctx)
            case ast.Call():
                return self._call(e, ctx)
            case ast.RowRef():
                return self._row_cell(e, ctx)
            case ast.Quant(kind=kind, var=var, set=s, body=body):
                if self._reserved(var):
                    pass
                elif var.name in self.globals or var.name in ctx.scope or var.name in ctx.bound:
                    self.error("duplicate", f"`{var.name}` is already a name here", var.span, "pick another letter")
                if not self._set(s):
                    return ir.Const(Fraction(0), ERROR) if kind == "sum" else ir.BoolConst(True)
                inner = ctx.bind(var.name, s.name)
                if kind == "sum":
                    b = self._numeric(body, inner)
                    return ir.Sum(var.name, b, b.ty)
                return ir.Quant(kind, var.name, self._cond(body, inner))
            case ast.Unary(op="not", operand=x):
                return ir.Not(self._cond(x, ctx))
            case ast.Unary(operand=x):
                inner_x = self._numeric(x, ctx)
                if isinstance(inner_x, ir.Const):
                    return ir.Const(-inner_x.value, inner_x.ty)
                return ir.Neg(inner_x, inner_x.ty)
            case ast.Binary(op="and" | "or" | "implies" as op, left=a, right=b):
                return ir.BoolOp(op, self._cond(a, ctx), self._cond(b, ctx))
            case ast.Binary(op="<" | "<=" | ">" | ">=" | "==" | "!=" as op, left=a, right=b):
                la, lb = self._expr(a, ctx), self._expr(b, ctx)
                if op in ("<", "<=", ">", ">=") and (la.ty == BOOL or lb.ty == BOOL):
                    self.error("not-a-quantity", f"`{op}` compares quantities, not conditions", e.span)
                elif (la.ty == BOOL) != (lb.ty == BOOL) and ERROR not in (la.ty, lb.ty):
                    flag, (other, other_ir) = (a, (b, lb)) if la.ty == BOOL else (b, (a, la))
                    self.error(
                        "unit-mismatch",
                        f"cannot compare a condition with a quantity ({_show(other_ir.ty)})",
                        e.span,
                        "a condition is `true` or `false`: use it as it is (`paused`, `not paused`), "
                        "or compare it with another condition",
                        [
                            Label(flag.span, "this is a condition (bool)"),
                            Label(other.span, f"this is {_show(other_ir.ty)}"),
                        ],
                    )
                elif unify(la.ty, lb.ty) is None:
                    self._mismatch("cannot compare", la, a, lb, b, e.span, "with")
                return ir.Cmp(op, la, lb)
            case ast.Binary(op="+" | "-" as op, left=a, right=b):
                la, lb = self._numeric(a, ctx), self._numeric(b, ctx)
                ty = unify(la.ty, lb.ty)
                if ty is None:
                    if op == "+":
                        self._mismatch("cannot add", la, a, lb, b, e.span, "and")
                    else:
                        self._mismatch("cannot subtract", lb, b, la, a, e.span, "from")
                    ty = la.ty
                return ir.Arith(op, la, lb, ty)
            case ast.Binary(op="*" | "/" as op, left=a, right=b):
                la, lb = self._numeric(a, ctx), self._numeric(b, ctx)
                product: Ty
                if ERROR in (la.ty, lb.ty):
                    product = ERROR  # one side already failed: do not invent a unit
                elif isinstance(la.ty, PolyType) and isinstance(lb.ty, PolyType):
                    product = POLY
                else:
                    product = as_dim(la.ty) * as_dim(lb.ty) if op == "*" else as_dim(la.ty) / as_dim(lb.ty)
                if op == "*":
                    return ir.Arith("*", la, lb, product)
                return ir.Div(la, lb, product, e.span)
            case ast.Ite(cond=c, then=t, orelse=o):
                cc, tt, oo = self._cond(c, ctx), self._expr(t, ctx), self._expr(o, ctx)
                ty2 = unify(tt.ty, oo.ty)
                if ty2 is None:
                    self._mismatch("the branches of `if` differ:", tt, t, oo, o, e.span, "vs")
                    ty2 = tt.ty
                return ir.Ite(cc, tt, oo, ty2)
        raise AssertionError(f"unhandled AST node {e!r}")

    def _mismatch(self, verb: str, x: ir.Expr, xa: ast.Expr, y: ir.Expr, ya: ast.Expr, span: Span, joiner: str) -> None:
        self.error(
            "unit-mismatch",
            f"{verb} {_show(x.ty)} {joiner} {_show(y.ty)}",
            span,
            "both sides need the same unit; check the formula, or convert with a price or rate",
            [Label(xa.span, f"this is {_show(x.ty)}"), Label(ya.span, f"this is {_show(y.ty)}")],
        )

    def _ref(self, e: ast.Ref, ctx: _Ctx) -> ir.Expr:
        name = e.name.name
        fallback = ir.Const(Fraction(0), ERROR)
        if e.primed and ctx.primes:
            return self._primed(e, ctx, fallback)
        if e.primed:
            self.error(
                "primed-outside-update",
                f"`{name}'` is a next-state value; {ctx.place} reads the current state only",
                e.span,
                "primed names are assigned on the left of an action update or an env move, "
                "and read only in a step property (`property NAME on STEP: ...`)",
            )
            return fallback
        if name in ctx.bound:
            self.error(
                "bound-as-value",
                f"`{name}` ranges over {ctx.bound[name]}; it is an index, not a value",
                e.span,
                f"use it to index a per-asset name, e.g. `price[{name}]`",
            )
            return fallback
        sym = ctx.scope.get(name) or self.symbols.get(name)
        if sym is None and name in self.let_decls:
            let = self._let(name)
            sym = let.sym if let else None
            if sym is None:
                return fallback
        if sym is None:
            return self._not_a_value(e, ctx, fallback)
        if sym.kind not in ctx.allowed:
            hint = (
                "an `assume` constrains parameters; put conditions on states and inputs in their `where`"
                if ctx.place == "an `assume`"
                else "a chosen value reads only the state before the step: "
                "write it without the other arguments (a `let` can hold a shared part)"
                if ctx.place.startswith("the choice of argument")
                else None
            )
            self.error("not-allowed-here", f"{ctx.place} cannot mention the {sym.kind.value} `{name}`", e.span, hint)
            return fallback
        index: ir.Index | None = None
        if e.index is not None:
            if not sym.indexed:
                self.error("not-indexed", f"`{name}` is not per-asset", e.span, f"write `{name}` without `[...]`")
                return fallback
            i = e.index.name
            if i in ctx.bound:
                index = ir.BoundVar(i)
            elif i in self.assets:
                index = ir.AssetName(i)
            else:
                self.error(
                    "unknown-asset",
                    f"`{i}` is neither an asset nor a bound variable",
                    e.index.span,
                    did_you_mean(i, [*self.assets, *ctx.bound]),
                )
                return fallback
        elif sym.indexed:
            example = next(iter(ctx.bound), self.assets[0] if self.assets else "a")
            self.error(
                "needs-index",
                f"`{name}` is per-asset; say which asset",
                e.span,
                f"write `{name}[{example}]`, or sum it: `sum(a in assets: {name}[a])`",
            )
            return fallback
        return ir.Var(sym, index, sym.ty)

    def _primed(self, e: ast.Ref, ctx: _Ctx, fallback: ir.Expr) -> ir.Expr:
        """`x'` in a step property: x (a state, input or let) after the step."""
        x = self._ref(dataclasses.replace(e, primed=False), ctx)
        if not isinstance(x, ir.Var):
            return x  # already reported
        if x.sym.kind not in (ir.Kind.STATE, ir.Kind.INPUT, ir.Kind.LET):
            self.error(
                "not-allowed-here",
                f"`{e.name.name}'`: the {_KIND_WORDS.get(x.sym.kind, x.sym.kind.value)} `{e.name.name}` "
                "has no value after the step",
                e.span,
                "only states, inputs and lets are primed; write the name without `'`",
            )
            return fallback
        return ir.Next(x, x.ty)

    def _not_a_value(self, e: ast.Ref, ctx: _Ctx, fallback: ir.Expr) -> ir.Expr:
        name = e.name.name
        if name in ctx.other_args:
            self.error(
                "not-allowed-here",
                f"`{name}` is an argument of action `{ctx.other_args[name]}`; {ctx.place} cannot read it",
                e.span,
                f"attach the property to that action: `property ... on {ctx.other_args[name]}: ...`",
            )
        elif name in self.tables:
            self.error("not-a-value", f"`{name}` is a table", e.span, f"look it up: `{name}(x)`")
        elif name in self.assets:
            self.error(
                "not-a-value", f"`{name}` is an asset, not a value", e.span, f"use it as an index, e.g. `price[{name}]`"
            )
        elif name in self.units:
            self.error(
                "not-a-value",
                f"`{name}` is a unit, not a value",
                e.span,
                "units go after `:` in declarations; a bare number takes the unit it needs",
            )
        elif name in BUILTINS:
            self.error("not-a-value", f"`{name}` is a function", e.span, f"call it: `{name}(...)`")
        else:
            names = [*self.symbols, *self.let_decls, *ctx.scope]
            self.error("undefined", f"undefined name `{name}`", e.span, did_you_mean(name, names))
        return fallback

    def _call(self, e: ast.Call, ctx: _Ctx) -> ir.Expr:
        f = e.func.name
        if f in self.tables:
            table = self.tables[f]
            if len(table.result_tys) != 1:
                self.error(
                    "table-arity",
                    f"table `{f}` returns {len(table.result_tys)} values",
                    e.span,
                    f"destructure it: `let ({', '.join(f'v{i}' for i in range(len(table.result_tys)))}) = {f}(...)`",
                )
                return ir.Const(Fraction(0), ERROR)
            arg = self._table_arg(table, e, ctx, report=True)
            return ir.TableCall(table, arg, 0, table.result_tys[0], e.span)
        if f not in BUILTINS:
            self.error(
                "undefined",
                f"unknown function `{f}`",
                e.func.span,
                did_you_mean(f, [*BUILTINS, *self.tables]) or "the functions are " + ", ".join(BUILTINS),
            )
            return ir.Const(Fraction(0), ERROR)
        args = [self._numeric(a, ctx) for a in e.args]
        arity = {"abs": (1, 1), "round_down": (2, 2), "round_up": (2, 2)}.get(f, (2, 99))
        if not arity[0] <= len(args) <= arity[1]:
            want = f"{arity[0]}" if arity[0] == arity[1] else f"at least {arity[0]}"
            self.error("arity", f"`{f}` takes {want} argument{'s' * (arity[0] != 1)}, not {len(args)}", e.span)
            return ir.Const(Fraction(0), ERROR)
        if f == "abs":
            return ir.Abs(args[0], args[0].ty)
        if f in ("round_down", "round_up"):
            x, step = args
            if unify(x.ty, step.ty) is None:
                self.error(
                    "unit-mismatch",
                    f"the step of `{f}` is {_show(step.ty)} but the value is {_show(x.ty)}",
                    e.args[1].span,
                    "round to a step in the value's own unit, e.g. 0.01 USD",
                    [Label(e.args[0].span, f"this is {_show(x.ty)}")],
                )
            return ir.Round(
                f.removeprefix("round_"), x, step, x.ty if not isinstance(x.ty, PolyType) else step.ty, e.span
            )
        ty: Ty | None = args[0].ty
        for a, src in zip(args[1:], e.args[1:], strict=True):
            joined = unify(ty or POLY, a.ty)
            if joined is None:
                self._mismatch(f"`{f}` of", args[0], e.args[0], a, src, e.span, "and")
            else:
                ty = joined
        return ir.MinMax(f, tuple(args), ty or POLY)

    def _row_cell(self, e: ast.RowRef, ctx: _Ctx) -> ir.Expr:
        """`table[N].cell`: a bound or result of row N (from 1), with the unit it has in the table."""
        fallback = ir.Const(Fraction(0), ERROR)
        name = e.table.name
        table = self.tables.get(name)
        if table is None:
            if name in self.globals or name in ctx.scope or name in self.units or name in self.assets:
                self.error(
                    "not-a-table",
                    f"`{name}` is not a table: `{name}[{number_to_source(e.row)}].{e.cell.name}` names a cell of "
                    "a table's row",
                    e.table.span,
                )
            else:
                self.error(
                    "undefined", f"undefined table `{name}`", e.table.span, did_you_mean(name, list(self.tables))
                )
            return fallback
        n = len(table.rows)
        if e.row.denominator != 1 or not 1 <= e.row <= n:
            self.error(
                "unknown-row",
                f"table `{name}` has {n} row{'s' * (n != 1)}; there is no row {number_to_source(e.row)}",
                e.span,
                f"rows are numbered from 1 in the order they are written: `{name}[1]` to `{name}[{n}]`",
                [Label(table.span, "the table is declared here")],
            )
            return fallback
        row = int(e.row) - 1
        cell = e.cell.name
        if cell in ("lower", "upper"):
            bound = table.rows[row].lo if cell == "lower" else table.rows[row].hi
            if bound is None:
                written = "-inf" if cell == "lower" else "inf"
                self.error(
                    "infinite-bound",
                    f"the {cell} bound of row {row + 1} of table `{name}` is `{written}`, not a number",
                    e.span,
                    "only a finite bound can be used as a number",
                    [Label(table.rows[row].span, f"row {row + 1}")],
                )
                return fallback
            return ir.RowCell(table, row, cell, -1, table.arg_ty, e.span)
        columns = self.table_columns[name]
        names = [c.name for c in columns if c is not None]
        if cell in names:
            column = [c.name if c is not None else None for c in columns].index(cell)
        elif cell == "value" and columns == (None,):
            column = 0  # a single unnamed result column is the row's `value`
        else:
            if names:
                hint = did_you_mean(cell, [*names, "lower", "upper"]) or (
                    f"its cells are `lower`, `upper` and the named columns {', '.join(f'`{c}`' for c in names)}"
                )
            elif len(columns) == 1:
                hint = did_you_mean(cell, ["value", "lower", "upper"]) or "its cells are `lower`, `upper` and `value`"
            else:
                hint = (
                    "its result columns have no names: name them in the table's header, e.g. `-> ("
                    + ", ".join(f"c{i + 1}: {ty}" for i, ty in enumerate(table.result_tys))
                    + ")`"
                )
            self.error("unknown-column", f"table `{name}` has no column `{cell}`", e.cell.span, hint)
            return fallback
        if column >= len(table.rows[row].values):
            return fallback  # the row has too few values: reported as `table-arity`
        return ir.RowCell(table, row, "value", column, table.result_tys[column], e.span)

    def _table_arg(self, table: ir.Table, e: ast.Call, ctx: _Ctx, report: bool) -> ir.Expr:
        if len(e.args) != 1:
            if report:
                self.error("arity", f"table `{table.name}` takes one argument, not {len(e.args)}", e.span)
            return ir.Const(Fraction(0), ERROR)
        arg = self._numeric(e.args[0], ctx) if report else self._quiet(e.args[0], ctx)
        if report and unify(arg.ty, table.arg_ty) is None:
            self.error(
                "unit-mismatch",
                f"table `{table.name}` is keyed by {table.arg_ty} but this is {_show(arg.ty)}",
                e.args[0].span,
                labels=[Label(table.span, "the table is declared here")],
            )
        return _retype(arg, table.arg_ty)

    def _quiet(self, e: ast.Expr, ctx: _Ctx) -> ir.Expr:
        mark = len(self.diags)
        out = self._expr(e, ctx)
        del self.diags[mark:]
        return out


def _show(ty: Ty) -> str:
    return "a bare number" if isinstance(ty, PolyType | ErrorType) else str(ty)


def _settle(ty: Ty) -> Ty:
    """The type a let gets when its value is only bare numbers: dimensionless."""
    return RATE if isinstance(ty, PolyType) else ty


def _retype(e: ir.Expr, ty: Ty) -> ir.Expr:
    """Give a bare-number expression the unit its context fixed."""
    if isinstance(e, ir.Const) and isinstance(e.ty, PolyType) and isinstance(ty, Dim):
        return ir.Const(e.value, ty)
    return e


def _order(d: Diagnostic) -> tuple[int, int]:
    return (d.span.line, d.span.col) if d.span else (0, 0)


def _parts(source: ast.Expr, guard: ir.Expr) -> tuple[ir.Conjunct, ...]:
    """The guard's top-level conjuncts, each with the span of the source it was lowered from.

    The AST and the IR are walked together: `a and b` lowers to `BoolOp("and")` of the lowered
    operands, so the two trees agree down every `and`; where they do not (a guard replaced after an
    error), the rest is one conjunct spanning its source.
    """
    out: list[ir.Conjunct] = []
    stack = [(source, guard)]
    while stack:
        a, e = stack.pop()
        if isinstance(a, ast.Binary) and a.op == "and" and isinstance(e, ir.BoolOp) and e.op == "and":
            stack += [(a.right, e.right), (a.left, e.left)]
        else:
            out.append(ir.Conjunct(e, a.span))
    return tuple(out)
