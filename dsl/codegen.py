"""The Python back end: `ir.Program` to the source of a standalone module.

The module needs only the standard library. It defines frozen dataclasses
`Params` (defaults from the spec), `State` and `Inputs`; one function per
`let` and margin role; one per action (checks the guard, returns the next
`State`, raises `GuardError` otherwise) and one per env move. Arithmetic is
exact (`fractions.Fraction`); values given as int, str or Decimal are
converted exactly and floats are refused.

Safety: spec identifiers are only emitted after `Names` has mapped them to
identifiers that cannot be Python keywords, dunders or the engine's own names,
and every string or number from the spec is emitted with `repr` of a str or
int. Nothing from the spec is pasted into code as written.
"""

from __future__ import annotations

import heapq
import keyword
from collections.abc import Iterable
from fractions import Fraction

from dsl import ir
from dsl.diagnostics import InternalError, Span
from dsl.runtime import RUNTIME, runtime_names
from dsl.units import BOOL, RATE

# Names the generated module defines or uses itself; spec names never take them.
_ENGINE_NAMES = frozenset(
    [
        "params",
        "state",
        "inputs",
        "args",
        "next_state",
        "next_inputs",
        "Params",
        "State",
        "Inputs",
        "Fraction",
        "Decimal",
        "Mapping",
        "Iterator",
        "Any",
        "GuardError",
        "UndefinedError",
        "ASSETS",
        "SPEC_TITLE",
        "SPEC_PATH",
        "NAMES",
        "FIELDS",
        "STEPS",
        "FORMULAS",
        "ARGS",
        "math",
        "dataclass",
        "field",
        "replace",
        "abs",
        "min",
        "max",
        "sum",
        "all",
        "any",
        "isinstance",
        "float",
        "bool",
        "int",
        "str",
        "dict",
        "tuple",
        "object",
        "len",
        "TypeError",
        "ValueError",
        "ArithmeticError",
        "Exception",
        "print",
        "annotations",
        "assumptions_hold",
        "where_holds",
        "failing_where",
        "HEALTH",
        "health_measure",
        "ENGINE_REF",
        "PARAMS",
        "STATES",
        "INPUTS",
    ]
)


class Names:
    """An injective map from spec names to safe Python identifiers."""

    def __init__(self) -> None:
        self.taken: set[str] = set(_RESERVED)
        self.map: dict[tuple[str, str], str] = {}

    def get(self, space: str, name: str) -> str:
        """The Python name of spec name `name` in namespace `space` (allocated once)."""
        key = (space, name)
        if key in self.map:
            return self.map[key]
        base = (
            name
            if name.isidentifier() and name.isascii()
            else "v_" + "".join(c if c.isalnum() and c.isascii() else "_" for c in name)
        )
        if base.startswith("_"):
            base = "u" + base
        if keyword.iskeyword(base) or keyword.issoftkeyword(base) or base in self.taken:
            base += "_"
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}{n}"
        self.taken.add(candidate)
        self.map[key] = candidate
        return candidate


def _lit(value: Fraction) -> str:
    if value.denominator == 1:
        return repr(int(value.numerator))
    return f"Fraction({int(value.numerator)!r}, {int(value.denominator)!r})"


_INLINE = 32  # a let function inlines at most this many of the lets it depends on

# Python's operator precedences, loosest first, for minimal parenthesisation.
_IF, _OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _ATOM = range(1, 10)


def _flit(value: Fraction) -> str:
    """A literal that is a Fraction even when the value is whole (for typed containers)."""
    return (
        f"Fraction({int(value.numerator)!r}, {int(value.denominator)!r})"
        if value.denominator != 1
        else f"Fraction({int(value.numerator)!r})"
    )


def _let_deps(expr: ir.Expr) -> set[str]:
    return {e.sym.name for e in ir.walk(expr) if isinstance(e, ir.Var) and e.sym.kind is ir.Kind.LET}


def _split_deps(expr: ir.Expr) -> tuple[set[str], set[str]]:
    """The lets a step property reads before the step, and those it reads after it (primed)."""
    before: set[str] = set()
    after: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Next):
            if node.x.sym.kind is ir.Kind.LET:
                after.add(node.x.sym.name)
            continue
        if isinstance(node, ir.Var) and node.sym.kind is ir.Kind.LET:
            before.add(node.sym.name)
        stack.extend(ir.children(node))
    return before, after


class _Gen:
    def __init__(self, program: ir.Program) -> None:
        self.p = program
        self.names = Names()
        self.fields = Names()  # dataclass fields live in their own namespace
        self.lets = {let.sym.name: let for let in program.lets}
        self.order = {let.sym.name: i for i, let in enumerate(program.lets)}  # program order is dependency order
        # Each let's direct dependencies, found once: closures are taken for every let and formula.
        self.deps = {let.sym.name: frozenset(_let_deps(let.expr)) for let in program.lets}
        self.consts: dict[Fraction, str] = {}
        self.lines: list[str] = []
        self.formulas: dict[str, str] = {}
        self.args: dict[str, dict[str, str]] = {}  # action -> argument -> Python parameter
        # Module-level names first, so that they stay as close to the spec as possible.
        for let in program.lets:
            self.names.get("g", let.sym.name)
        steps: list[ir.Action | ir.Env] = [*program.actions, *program.envs]
        for step in steps:
            self.names.get("step", step.name)

    # ---- helpers
    def const(self, value: Fraction) -> str:
        """A module-level Fraction constant for `value` (so every value in the engine is a Fraction)."""
        if value not in self.consts:
            if value.denominator == 1:
                self.consts[value] = f"_{value.numerator}" if value >= 0 else f"_m{-value.numerator}"
            else:
                self.consts[value] = f"_K{len(self.consts)}"
        return self.consts[value]

    def where(self, span_line: int) -> str:
        return f"{self.p.source.path}:{span_line}"

    def closure(self, roots: Iterable[str]) -> list[ir.Let]:
        """The lets that `roots` need, in dependency order (program order is one)."""
        need: set[str] = set()
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name in need:
                continue
            need.add(name)
            stack.extend(self.deps[name])
        return [self.lets[name] for name in sorted(need, key=self.order.__getitem__)]

    def nearest(self, let: ir.Let, limit: int) -> tuple[list[ir.Let], bool]:
        """The last `limit` lets (in program order) that `let` needs, and whether it needs more.

        The same as the tail of `closure([let])` without building the whole closure, which
        for a chain of n lets made code generation take n^2 steps: the lets are taken from
        the highest position down, and every let's dependencies sit below it in program order.
        """
        found: list[str] = []
        heap = [-self.order[d] for d in self.deps[let.sym.name]]
        heapq.heapify(heap)
        seen = set(heap)
        while heap and len(found) < limit:
            name = self.p.lets[-heapq.heappop(heap)].sym.name
            found.append(name)
            for dep in self.deps[name]:
                if -self.order[dep] not in seen:
                    seen.add(-self.order[dep])
                    heapq.heappush(heap, -self.order[dep])
        return [self.lets[name] for name in reversed(found)], bool(heap)

    def local(self, name: str) -> str:
        return self.names.get("g", name)

    # ---- expressions
    def expr(self, e: ir.Expr, scope: dict[str, str]) -> str:
        """Python for `e`, safe to embed anywhere (one outer pair of parentheses at most)."""
        code, prec = self.code(e, scope)
        return code if prec >= _ATOM else f"({code})"

    def code(self, e: ir.Expr, scope: dict[str, str]) -> tuple[str, int]:
        """Python for `e` and its precedence; operands are parenthesised only where Python needs it,
        so long chains such as `a + b + c + ...` do not nest (CPython caps nesting at 200)."""
        sub = self.expr  # arguments of calls need no precedence care

        def operand(x: ir.Expr, least: int) -> str:
            text, prec = self.code(x, scope)
            return text if prec >= least else f"({text})"

        match e:
            case ir.Const(value=v):
                return self.const(v), _ATOM
            case ir.BoolConst(value=v):
                return ("True" if v else "False"), _ATOM
            case ir.Var(sym=sym, index=index):
                base = self.var(sym, scope)
                return (base + self.index(index, scope) if index is not None else base), _ATOM
            case ir.Neg(x=x):
                return f"-{operand(x, _UNARY)}", _UNARY
            case ir.Arith(op=op, left=a, right=b):
                prec = _MUL if op == "*" else _ADD
                return f"{operand(a, prec)} {op} {operand(b, prec + 1)}", prec
            case ir.Div(left=a, right=b, span=span):
                return f"_div({sub(a, scope)}, {sub(b, scope)}, {self.where(span.line)!r})", _ATOM
            case ir.Abs(x=x):
                return f"abs({sub(x, scope)})", _ATOM
            case ir.MinMax(op=op, args=args):
                return f"{op}({', '.join([sub(a, scope) for a in args])})", _ATOM
            case ir.Round(direction=d, x=x, step=st, span=span):
                return f"_round_{d}({sub(x, scope)}, {sub(st, scope)}, {self.where(span.line)!r})", _ATOM
            case ir.Ite(cond=c, then=t, orelse=o):
                return f"{operand(t, _IF + 1)} if {operand(c, _IF + 1)} else {operand(o, _IF)}", _IF
            case ir.Cmp(op=op, left=a, right=b):
                return f"{operand(a, _CMP + 1)} {op} {operand(b, _CMP + 1)}", _CMP
            case ir.BoolOp(op="implies", left=a, right=b):
                return f"not {operand(a, _NOT)} or {operand(b, _OR + 1)}", _OR
            case ir.BoolOp(op=op, left=a, right=b):
                prec = _AND if op == "and" else _OR
                return f"{operand(a, prec)} {op} {operand(b, prec + 1)}", prec
            case ir.Not(x=x):
                return f"not {operand(x, _NOT)}", _NOT
            case ir.Sum(var=v, body=b):
                py = self.bound(v)
                return f"sum(({sub(b, {**scope, v: py})} for {py} in ASSETS), Fraction(0))", _ATOM
            case ir.Quant(kind=k, var=v, body=b):
                py = self.bound(v)
                return f"{k}({sub(b, {**scope, v: py})} for {py} in ASSETS)", _ATOM
            case ir.RowCell():
                return self.const(e.value), _ATOM  # a cell written in the table (its origin is in the IR)
            case ir.TableCall(table=t, arg=a, column=c):
                return f"_lookup_{self.local(t.name)}({sub(a, scope)})[{c}]", _ATOM
            case ir.Next(x=ir.Var(sym=sym, index=index)):
                # A step property's `x'`: its lets after the step are computed up front, as `'name`.
                if sym.kind is ir.Kind.LET:
                    base = scope["'" + sym.name]
                else:
                    frame = "next_state" if sym.kind is ir.Kind.STATE else "next_inputs"
                    base = f"{frame}.{self.fields.get('f', sym.name)}"
                return (base + self.index(index, scope) if index is not None else base), _ATOM
        raise InternalError(f"the Python back end has no case for {type(e).__name__}")

    def bound(self, var: str) -> str:
        return "_i_" + self.names.get("bound", var)

    def var(self, sym: ir.Symbol, scope: dict[str, str]) -> str:
        match sym.kind:
            case ir.Kind.PARAM:
                return f"params.{self.fields.get('f', sym.name)}"
            case ir.Kind.STATE:
                return f"state.{self.fields.get('f', sym.name)}"
            case ir.Kind.INPUT:
                return f"inputs.{self.fields.get('f', sym.name)}"
            case ir.Kind.LET | ir.Kind.ARG | ir.Kind.LOCAL:
                if sym.name not in scope:
                    raise InternalError(f"`{sym.name}` used before it was computed in the Python back end")
                return scope[sym.name]
        raise InternalError(f"unknown symbol kind {sym.kind}")

    def index(self, index: ir.Index, scope: dict[str, str]) -> str:
        match index:
            case ir.AssetName(name=a):
                return f"[{a!r}]"
            case ir.BoundVar(name=v):
                return f"[{scope[v]}]"
        raise InternalError(f"unknown index {index!r}")

    def let_lines(self, lets: list[ir.Let], scope: dict[str, str], indent: str) -> list[str]:
        out = []
        lookups: dict[tuple[str, str], str] = {}  # one table lookup per (table, argument), shared by tuple lets
        for let in lets:
            name = "_l_" + self.local(let.sym.name)
            if let.binder is None and isinstance(let.expr, ir.TableCall):
                call = let.expr
                arg = self.expr(call.arg, scope)
                key = (call.table.name, arg)
                if key not in lookups:
                    lookups[key] = f"_row{len(lookups)}_{name}"
                    out.append(f"{indent}{lookups[key]} = _lookup_{self.local(call.table.name)}({arg})")
                out.append(f"{indent}{name} = {lookups[key]}[{call.column}]")
            elif let.binder is None:
                out.append(f"{indent}{name} = {self.expr(let.expr, scope)}")
            else:
                py = self.bound(let.binder)
                body = self.expr(let.expr, {**scope, let.binder: py})
                out.append(f"{indent}{name} = {{{py}: {body} for {py} in ASSETS}}")
            scope[let.sym.name] = name
        return out

    # ---- module
    def module(self) -> str:
        body: list[str] = []
        body += self.declarations()
        body += self.dataclasses()
        body += self.tables()
        body += self.let_functions()
        body += self.health_measure()
        body += self.checks()
        body += self.step_properties()
        body += self.actions()
        body += self.env_moves()
        head = self.header()
        return "\n".join(head + body).rstrip() + "\n"

    def header(self) -> list[str]:
        p = self.p
        names = {let.sym.name: self.local(let.sym.name) for let in p.lets}
        all_steps: list[ir.Action | ir.Env] = [*p.actions, *p.envs]
        steps = {a.name: self.names.get("step", a.name) for a in all_steps}
        formulas = self.formulas
        fields = {s.name: self.fields.get("f", s.name) for s in (*(q.sym for q in p.params), *p.states, *p.inputs)}
        consts = [f"{name} = {_flit(value)}" for value, name in self.consts.items()]
        return [
            _doc(
                f"Margin engine compiled by solvent from {p.source.path}. Do not edit; recompile.\n\nSpec: {p.title}\n",
                "",
            ),
            "",
            "from __future__ import annotations",
            "",
            "import math",
            "from collections.abc import Iterator, Mapping",
            "from dataclasses import dataclass, field, replace",
            "from decimal import Decimal",
            "from fractions import Fraction",
            "from typing import Any",
            "",
            f"SPEC_TITLE = {p.title!r}",
            f"SPEC_PATH = {p.source.path!r}",
            f"ASSETS: tuple[str, ...] = {tuple(p.assets)!r}",
            f"NAMES: dict[str, str] = {names!r}  # let and role -> function",
            f"STEPS: dict[str, str] = {steps!r}  # action and env move -> function",
            f"FORMULAS: dict[str, str] = {formulas!r}  # 'property:name', 'invariant:name', ... -> function",
            f"ARGS: dict[str, dict[str, str]] = {self.args!r}  # action -> argument -> Python parameter",
            f"FIELDS: dict[str, str] = {fields!r}  # param, state, input -> dataclass field",
            f"HEALTH: str = {self.health_name()!r}  # what health_measure computes ('' if it is not defined)",
            "# Set by dsl when it builds this engine in-process (a dsl.api.EngineRef: values pickle through it);",
            "# None in a compiled file, whose values pickle by the module's own name.",
            "ENGINE_REF: Any = None",
            *consts,
            "",
            "",
            RUNTIME,
        ]

    def declarations(self) -> list[str]:
        """PARAMS, STATES and INPUTS: each declaration's unit, range or `where`, and where it is written.

        Every string is a `repr` and every number a `Fraction` literal, as everywhere else in the engine.
        """
        p = self.p
        out = ["PARAMS: dict[str, ParamInfo] = {"]
        for prm in p.params:
            if isinstance(prm.default, tuple):
                default = "AssetMap({" + ", ".join(f"{a!r}: {_flit(v)}" for a, v in prm.default) + "})"
            else:
                default = _flit(prm.default)
            lo = "None" if prm.lo is None or prm.pinned else _flit(prm.lo)
            hi = "None" if prm.hi is None or prm.pinned else _flit(prm.hi)
            out += [
                f"    {prm.sym.name!r}: ParamInfo(",
                f"        name={prm.sym.name!r}, field_name={self.fields.get('f', prm.sym.name)!r}, "
                f"unit={str(prm.sym.ty)!r}, per_asset={prm.sym.indexed!r},",
                f"        default={default},",
                f"        lower={lo}, upper={hi}, lower_closed={lo != 'None'!r}, "
                f"upper_closed={hi != 'None'!r}, pinned={prm.pinned!r},",
                f"        location={self.where(prm.sym.span.line)!r},",
                "    ),",
            ]
        out += ["}", ""]
        wheres = {c.name: c for c in p.wheres}
        for title, kind, syms in (("STATES", "state", p.states), ("INPUTS", "input", p.inputs)):
            out.append(f"{title}: dict[str, VarInfo] = {{")
            for sym in syms:
                c = wheres.get(sym.name)
                text = None if c is None else _written(c.span)
                at = None if c is None else c.span.where
                out += [
                    f"    {sym.name!r}: VarInfo(",
                    f"        name={sym.name!r}, field_name={self.fields.get('f', sym.name)!r}, kind={kind!r}, "
                    f"unit={str(sym.ty)!r}, per_asset={sym.indexed!r},",
                    f"        where={text!r}, where_location={at!r}, location={self.where(sym.span.line)!r},",
                    "    ),",
                ]
            out += ["}", ""]
        return [*out, ""]

    def dataclasses(self) -> list[str]:
        p = self.p
        out = [
            "@dataclass(frozen=True, slots=True)",
            "class Params:",
            _doc(f"The spec's parameters; defaults from {p.source.path}."),
            "",
        ]
        for prm in p.params:
            f = self.fields.get("f", prm.sym.name)
            if isinstance(prm.default, tuple):
                items = ", ".join(f"{a!r}: {_lit(v)}" for a, v in prm.default)
                out.append(f"    {f}: Mapping[str, Fraction] = field(default_factory=lambda: {{{items}}})")
            else:
                out.append(f"    {f}: Fraction = {_lit(prm.default)}")
        out += ["", "    def __post_init__(self) -> None:"]
        checks = []
        for prm in p.params:
            f = self.fields.get("f", prm.sym.name)
            conv = "_qmap" if prm.sym.indexed else "_q"
            value = f"{conv}(self.{f}, {prm.sym.name!r}{_rate(prm.sym)})"
            checks.append(f"        object.__setattr__(self, {f!r}, {value})")
            if not prm.pinned:
                lo = "None" if prm.lo is None else _lit(prm.lo)
                hi = "None" if prm.hi is None else _lit(prm.hi)
                checks.append(f"        _in_range(self.{f}, {lo}, {hi}, {prm.sym.name!r})")
        out += checks or ["        pass"]
        out += _reduce([self.fields.get("f", prm.sym.name) for prm in p.params])
        for cls, syms, doc in (("State", p.states, "account state"), ("Inputs", p.inputs, "market inputs")):
            out += ["", "", "@dataclass(frozen=True, slots=True)", f"class {cls}:", _doc(f"The spec's {doc}."), ""]
            for sym in syms:
                f = self.fields.get("f", sym.name)
                kind = "bool" if sym.ty == BOOL else "Fraction"
                out.append(f"    {f}: Mapping[str, {kind}]" if sym.indexed else f"    {f}: {kind}")
            out += ["", "    def __post_init__(self) -> None:"]
            convs = [
                f"        object.__setattr__(self, {self.fields.get('f', s.name)!r}, "
                f"{_converter(s)}(self.{self.fields.get('f', s.name)}, {s.name!r}{_rate(s)}))"
                for s in syms
            ]
            out += convs or ["        pass"]
            out += _reduce([self.fields.get("f", s.name) for s in syms])
        return [*out, "", ""]

    def tables(self) -> list[str]:
        out = []
        for t in self.p.tables:
            name = self.local(t.name)
            rows = ", ".join(
                f"({'None' if r.lo is None else _lit(r.lo)}, {'None' if r.hi is None else _lit(r.hi)}, "
                f"({''.join(_flit(v) + ', ' for v in r.values)}))"
                for r in t.rows
            )
            out += [
                f"_TABLE_{name}: tuple[tuple[Fraction | int | None, Fraction | int | None, tuple[Fraction, ...]], ...]"
                f" = ({rows},)",
                "",
                "",
                f"def _lookup_{name}(x: Fraction) -> tuple[Fraction, ...]:",
                _doc(f"Table `{t.name}` ({self.where(t.span.line)}): the first bracket [lo, hi) holding x."),
                f"    for lo, hi, row in _TABLE_{name}:",
                "        if (lo is None or x >= lo) and (hi is None or x < hi):",
                "            return row",
                f"    raise UndefinedError({f'table {t.name} has no bracket for '!r} + str(x) + "
                f"{f' ({self.where(t.span.line)})'!r})",
                "",
                "",
            ]
        return out

    def let_functions(self) -> list[str]:
        out = []
        for let in self.p.lets:
            name = self.local(let.sym.name)
            scope: dict[str, str] = {}
            deps, more = self.nearest(let, _INLINE)
            pre: list[str] = []
            if more:
                # Inline only the nearest lets and call the functions of those they need: the module
                # stays linear in size for long chains of lets, and the call depth stays shallow.
                inlined = {d.sym.name for d in deps}
                frontier = {n for d in [*deps, let] for n in self.deps[d.sym.name] if n not in inlined}
                for dep in sorted(frontier, key=self.order.__getitem__):
                    scope[dep] = "_l_" + self.local(dep)
                    pre.append(f"    {scope[dep]} = {self.local(dep)}(params, state, inputs)")
            pre += self.let_lines(deps, scope, "    ")
            if let.sym.ty == BOOL:
                ret = "bool"
            elif let.sym.indexed:
                ret = "dict[str, Fraction]"
            else:
                ret = "Fraction"
            out += [
                f"def {name}(params: Params, state: State, inputs: Inputs) -> {ret}:",
                _doc(f"`{let.sym.name}`: {let.sym.ty} ({self.where(let.span.line)})."),
                *pre,
            ]
            if let.binder is not None:
                py = self.bound(let.binder)
                out.append(
                    f"    return {{{py}: Fraction({self.expr(let.expr, {**scope, let.binder: py})}) "
                    f"for {py} in ASSETS}}"
                )
            elif let.sym.ty == BOOL:
                out.append(f"    return bool({self.expr(let.expr, scope)})")
            else:
                out.append(f"    return Fraction({self.expr(let.expr, scope)})")
            out += ["", ""]
        return out

    def health_name(self) -> str:
        roles = dict(self.p.roles)
        if "health" in roles:
            return "health"
        return "equity - maintenance" if "equity" in roles and "maintenance" in roles else ""

    def health_measure(self) -> list[str]:
        """`health_measure`: what `liquidation-improves-health` compares (spec/checks.md, Notation)."""
        roles = dict(self.p.roles)
        if "health" in roles:
            body, what = f"{self.local('health')}(params, state, inputs)", "the `health` role"
        elif "equity" in roles and "maintenance" in roles:
            equity, maintenance = self.local("equity"), self.local("maintenance")
            body = f"{equity}(params, state, inputs) - {maintenance}(params, state, inputs)"
            what = "equity - maintenance (no `health` role declared)"
        else:
            return []
        return [
            "def health_measure(params: Params, state: State, inputs: Inputs) -> Fraction:",
            _doc(f"The account's health, higher is healthier: {what}."),
            f"    return Fraction({body})",
            "",
            "",
        ]

    def predicate(self, fname: str, doc: str, constraints: tuple[ir.Constraint, ...], sig: str) -> list[str]:
        scope: dict[str, str] = {}
        roots = set().union(*(_let_deps(c.expr) for c in constraints)) if constraints else set()
        out = [f"def {fname}({sig}) -> bool:", _doc(doc)]
        out += self.let_lines(self.closure(roots), scope, "    ")
        for c in constraints:
            out.append(f"    if not {self.expr(c.expr, scope)}:  # {_comment(self.where(c.span.line))}")
            out.append("        return False")
        return [*out, "    return True", "", ""]

    def failing_where(self) -> list[str]:
        """`failing_where`: the first `where` that does not hold, named, so a report can say which."""
        sig = "params: Params, state: State, inputs: Inputs"
        scope: dict[str, str] = {}
        roots = set().union(*(_let_deps(c.expr) for c in self.p.wheres)) if self.p.wheres else set()
        doc = "The first `where` (declaration order, as in where_holds) that does not hold, named; None if all hold."
        out = [f"def failing_where({sig}) -> str | None:", _doc(doc)]
        out += self.let_lines(self.closure(roots), scope, "    ")
        for c in self.p.wheres:
            label = f"the `where` of `{c.name}` ({self.where(c.span.line)})"
            out += [f"    if not {self.expr(c.expr, scope)}:", f"        return {label!r}"]
        return [*out, "    return None", "", ""]

    def checks(self) -> list[str]:
        out = self.predicate(
            "assumptions_hold", "True when the parameters satisfy every `assume`.", self.p.assumes, "params: Params"
        )
        out += self.predicate(
            "where_holds",
            "True when every `where` constraint holds.",
            self.p.wheres,
            "params: Params, state: State, inputs: Inputs",
        )
        out += self.failing_where()
        formulas = [("init", str(i), c.expr, c.span) for i, c in enumerate(self.p.init)]
        formulas += [("property", c.name, c.expr, c.span) for c in self.p.properties]
        formulas += [("invariant", c.name, c.expr, c.span) for c in self.p.invariants]
        formulas += [("conserved", c.name, c.expr, c.span) for c in self.p.conserved]
        for kind, name, expr, span in formulas:
            fname = self.formula_name(kind, name)
            scope: dict[str, str] = {}
            ret = "bool" if expr.ty == BOOL else "Fraction"
            out += [
                f"def {fname}(params: Params, state: State, inputs: Inputs) -> {ret}:",
                _doc(f"{kind} `{name}` ({self.where(span.line)})."),
                *self.let_lines(self.closure(_let_deps(expr)), scope, "    "),
                f"    return {ret}({self.expr(expr, scope)})",
                "",
                "",
            ]
        return out

    def step_properties(self) -> list[str]:
        """One function per step property: (params, state, inputs, args, next_state, next_inputs) -> bool.

        `args` maps the action's argument names to values (ignored by a property that reads none).
        Every let the property reads is computed first, before the step and after it (the lets after
        it by their own functions), as the Z3 back end requires them defined.
        """
        out: list[str] = []
        for sp in self.p.step_properties:
            fname = self.formula_name("step", sp.name)
            scope: dict[str, str] = {}
            before, after = _split_deps(sp.expr)
            lines = self.let_lines(self.closure(before), scope, "    ")
            for name in sorted(after, key=self.order.__getitem__):
                py = "_n_" + self.local(name)
                lines.append(f"    {py} = {self.local(name)}(params, next_state, next_inputs)")
                scope["'" + name] = py
            arg_syms = {
                e.sym.name: e.sym for e in ir.walk(sp.expr) if isinstance(e, ir.Var) and e.sym.kind is ir.Kind.ARG
            }
            args = sorted(arg_syms)
            for i, arg in enumerate(args):
                lines.append(f"    _a{i} = _q(args[{arg!r}], {arg!r}{_rate(arg_syms[arg])})")
                scope[arg] = f"_a{i}"
            out += [
                f"def {fname}(params: Params, state: State, inputs: Inputs, args: Mapping[str, Fraction], "
                "next_state: State, next_inputs: Inputs) -> bool:",
                _doc(f"step property `{sp.name}` on {sp.on} ({self.where(sp.span.line)})."),
                *lines,
                f"    return bool({self.expr(sp.expr, scope)})",
                "",
                "",
            ]
        return out

    def formula_name(self, kind: str, name: str) -> str:
        """The function for `kind` `name` (init clauses are numbered), recorded in FORMULAS."""
        py = self.names.get("formula", f"{kind}_{name}")
        self.formulas[f"{kind}:{name}"] = py
        return py

    def actions(self) -> list[str]:
        out = []
        for a in self.p.actions:
            name = self.names.get("step", a.name)
            scope: dict[str, str] = {}
            sig = ["params: Params", "state: State", "inputs: Inputs"]
            conv = []
            arg_names = Names()  # arguments keep their spec names where safe, so callers may pass keywords
            chosen = a.forced and bool(a.args)  # omitted arguments take the spec's chosen values
            if chosen:
                conv += self.chosen(a, scope, "    ")
            for j, arg in enumerate(a.args):
                py = arg_names.get("arg", arg.name)
                self.args.setdefault(a.name, {})[arg.name] = py
                scope[arg.name] = py
                if chosen:
                    sig.append(f"{py}: Fraction | int | str | Decimal | None = None")
                    given = f"_q({py}, {arg.name!r}{_rate(arg)})"
                    conv.append(f"    {py} = {self.choice_name(a, j)} if {py} is None else {given}")
                else:
                    sig.append(f"{py}: Fraction | int | str | Decimal")
                    conv.append(f"    {py} = _q({py}, {arg.name!r}{_rate(arg)})")
            where = self.where(a.span.line)
            out += [
                f"def {name}({', '.join(sig)}) -> State:",
                _doc(f"Action `{a.name}` ({where}): the next state, or GuardError."),
                *conv,
            ]
            guard_roots = _let_deps(a.guard) if a.guard is not None else set()
            out += self.let_lines([d for d in self.closure(guard_roots) if d.sym.name not in scope], scope, "    ")
            if a.guard is not None:
                out += self.guard("action", a.name, where, a.guard, a.parts, scope)
            if chosen and a.guard is not None:
                # Enabled at its chosen arguments: taken with exactly those. Otherwise an ordinary
                # action, refused while another forced action is enabled (language.md §6.3).
                at_choice = {**scope, **{arg.name: self.choice_name(a, j) for j, arg in enumerate(a.args)}}
                given = ", ".join(scope[arg.name] for arg in a.args)
                picked = ", ".join(self.choice_name(a, j) for j in range(len(a.args)))
                message = f"forced action {a.name!r} ({where}) is enabled and is taken with its chosen arguments"
                # A copy of the scope: lets computed in the `else` branch are not there in the other.
                others = self.forced_first(f"action {a.name!r}", dict(scope), (a.name, where), skip=a)
                values = "{" + ", ".join(f"{arg.name!r}: {scope[arg.name]}" for arg in a.args) + "}"
                out += [
                    f"    if {self.expr(a.guard, at_choice)}:",
                    f"        if ({given},) != ({picked},):",
                    f"            raise GuardError({message!r} + ': ' + {_chosen_text(a, self)}, {a.name!r}, None, "
                    f"{where!r}, {values})",
                    *(["    else:", *["    " + line for line in others]] if others else []),
                ]
            elif not a.forced:
                out += self.forced_first(f"action {a.name!r}", scope, (a.name, where))
            roots: set[str] = set()
            for local in a.locals:
                roots |= _let_deps(local.expr)
            for u in a.updates:
                roots |= _let_deps(u.expr)
            out += self.let_lines([d for d in self.closure(roots) if d.sym.name not in scope], scope, "    ")
            for local in a.locals:
                py = "_v_" + self.names.get("local:" + a.name, local.sym.name)
                out.append(f"    {py} = {self.expr(local.expr, scope)}")
                scope[local.sym.name] = py
            out.append(f"    return replace(state{self.updates(a.updates, scope)})")
            out += ["", ""]
        return out

    def guard(
        self, step: str, name: str, where: str, guard: ir.Expr, parts: tuple[ir.Conjunct, ...], scope: dict[str, str]
    ) -> list[str]:
        """Lines testing a guard conjunct by conjunct, in order, raising GuardError at the first false one.

        Python's `and` would evaluate them in the same order and stop at the same place, so a partial
        operation in a later conjunct is evaluated exactly when it was before. The error carries the
        conjunct's source text (a `repr`, never pasted as code) and the values it reads. An IR built
        without the conjuncts' spans (not by `elaborate`) gets one test naming no conjunct.
        """
        if not parts:
            message = f"{step} {name!r} ({where}): its guard does not hold"
            return [
                f"    if not {self.expr(guard, scope)}:",
                f"        raise GuardError({message!r}, {name!r}, None, {where!r})",
            ]
        out: list[str] = []
        for part in parts:
            text = _written(part.span)
            values = "{" + ", ".join(f"{k!r}: {v}" for k, v in self.reads(part.expr, scope).items()) + "}"
            out += [
                f"    if not {self.expr(part.expr, scope)}:",
                f"        raise _guard_failed({step!r}, {name!r}, {where!r}, {text!r}, {part.span.where!r}, {values})",
            ]
        return out

    def reads(self, e: ir.Expr, scope: dict[str, str]) -> dict[str, str]:
        """The parameters, states, inputs, lets and arguments `e` reads (spec name -> Python), in order.

        A per-asset variable is read whole (its mapping), whatever asset `e` indexes it with.
        """
        found: dict[str, str] = {}
        for node in ir.walk(e):
            if isinstance(node, ir.Var) and node.sym.name not in found:
                found[node.sym.name] = self.var(node.sym, scope)
        return found

    def forced_first(
        self, what: str, scope: dict[str, str], step: tuple[str, str], skip: ir.Action | None = None
    ) -> list[str]:
        """Lines that refuse a step while a `forced` action is enabled (it must be taken first).

        A forced action with arguments is enabled when its guard holds at its chosen arguments,
        evaluated here first, exactly as the checker's `forced_clear` does.
        """
        out: list[str] = []
        for f in self.p.actions:
            if not f.forced or f.guard is None or f is skip:
                continue
            out += self.chosen(f, scope, "    ")
            out += self.let_lines(
                [d for d in self.closure(_let_deps(f.guard)) if d.sym.name not in scope], scope, "    "
            )
            inner = {**scope, **{arg.name: self.choice_name(f, j) for j, arg in enumerate(f.args)}}
            message = f"{what}: forced action {f.name!r} is enabled and must be taken first"
            name, where = step
            out += [
                f"    if {self.expr(f.guard, inner)}:",
                f"        raise GuardError({message!r}, {name!r}, None, {where!r})",
            ]
        return out

    def choice_name(self, a: ir.Action, j: int) -> str:
        """The Python variable holding forced action `a`'s chosen value of its j-th argument."""
        return f"_fc{self.p.actions.index(a)}_{j}"

    def chosen(self, a: ir.Action, scope: dict[str, str], indent: str) -> list[str]:
        """Lines computing forced action `a`'s chosen arguments (and the lets they need) from the pre-state."""
        roots: set[str] = set()
        for c in a.choices:
            roots |= _let_deps(c)
        out = self.let_lines([d for d in self.closure(roots) if d.sym.name not in scope], scope, indent)
        for j, c in enumerate(a.choices):
            out.append(f"{indent}{self.choice_name(a, j)} = Fraction({self.expr(c, scope)})")
        return out

    def updates(self, updates: tuple[ir.Update, ...], scope: dict[str, str]) -> str:
        """`, field=value, ...` for `replace`, merging per-asset updates of one field."""
        grouped: dict[ir.Symbol, list[str]] = {}
        per_asset: set[ir.Symbol] = set()
        for u in updates:
            if u.index is not None:
                per_asset.add(u.sym)
            value = self.expr(u.expr, scope) if not isinstance(u.index, ir.BoundVar) else ""
            f = self.fields.get("f", u.sym.name)
            parts = grouped.setdefault(u.sym, [])
            match u.index:
                case None:
                    parts.append(f"bool({value})" if u.sym.ty == BOOL else f"Fraction({value})")
                case ir.AssetName(name=asset):
                    if not parts:
                        parts.append(f"**{'state' if u.sym.kind is ir.Kind.STATE else 'inputs'}.{f}")
                    parts.append(f"{asset!r}: {value}")
                case ir.BoundVar(name=v):
                    py = self.bound(v)
                    parts.append(f"{py}: {self.expr(u.expr, {**scope, v: py})} for {py} in ASSETS")
        out = ""
        for sym, parts in grouped.items():
            f = self.fields.get("f", sym.name)
            value = "{" + ", ".join(parts) + "}" if sym in per_asset else parts[0]
            out += f", {f}={value}"
        return out

    def env_moves(self) -> list[str]:
        out = []
        for env in self.p.envs:
            name = self.names.get("step", env.name)
            where = self.where(env.span.line)
            scope: dict[str, str] = {}
            # Like an action: the guard and the lets it needs first, then the forced-action test, and
            # only then the lets the bounds need (the Z3 encoding evaluates the bounds only where the
            # guard holds; computing them first raised where the move is simply not enabled).
            pre: list[str] = []
            if env.guard is not None:
                pre += self.let_lines(self.closure(_let_deps(env.guard)), scope, "    ")
                pre += self.guard("env move", env.name, where, env.guard, env.parts, scope)
            pre += self.forced_first(f"env move {env.name!r}", scope, (env.name, where))
            roots: set[str] = set()
            for u in env.updates:
                roots |= _let_deps(u.lo) | _let_deps(u.hi)
            pre += self.let_lines([d for d in self.closure(roots) if d.sym.name not in scope], scope, "    ")
            # One choice per variable and asset: `mark`, `price[BTC]`, ...
            items: list[tuple[ir.Symbol, str | None, str, str, str]] = []
            sources: list[ir.EnvUpdate] = []  # the update each item comes from, for GuardError
            for u in env.updates:
                sources += [u] * (len(self.p.assets) if isinstance(u.index, ir.BoundVar) else 1)
                match u.index:
                    case None:
                        items.append((u.sym, None, u.sym.name, self.expr(u.lo, scope), self.expr(u.hi, scope)))
                    case ir.AssetName(name=a):
                        items.append((u.sym, a, f"{u.sym.name}[{a}]", self.expr(u.lo, scope), self.expr(u.hi, scope)))
                    case ir.BoundVar(name=v):
                        for a in self.p.assets:
                            inner = {**scope, v: repr(a)}
                            items.append(
                                (u.sym, a, f"{u.sym.name}[{a}]", self.expr(u.lo, inner), self.expr(u.hi, inner))
                            )
            keys = [key for _, _, key, _, _ in items]
            out += [
                f"def {name}(params: Params, state: State, inputs: Inputs, "
                "choice: Mapping[str, Fraction | int | str | Decimal]) -> tuple[State, Inputs]:",
                _doc(f"Env move `{env.name}` ({where}): apply `choice` (keys {keys}), checking its ranges."),
                *pre,
            ]
            fields: dict[str, dict[ir.Symbol, list[str]]] = {"state": {}, "inputs": {}}
            for i, (sym, asset, key, lo, hi) in enumerate(items):
                py = f"_c{i}"
                out.append(f"    {py} = _q(choice[{key!r}], {key!r}{_rate(sym)})")
                written, at = _written(sources[i].span), sources[i].span.where
                out.append(f"    _check_choice({py}, {lo}, {hi}, {key!r}, {env.name!r}, {written!r}, {at!r})")
                owner = "state" if sym.kind is ir.Kind.STATE else "inputs"
                parts = fields[owner].setdefault(sym, [])
                f = self.fields.get("f", sym.name)
                if asset is None:
                    parts.append(py)
                else:
                    if not parts:
                        parts.append(f"**{owner}.{f}")
                    parts.append(f"{asset!r}: {py}")
            kwargs = {
                owner: "".join(
                    f", {self.fields.get('f', sym.name)}=" + ("{" + ", ".join(parts) + "}" if sym.indexed else parts[0])
                    for sym, parts in groups.items()
                )
                for owner, groups in fields.items()
            }
            out.append(f"    return (replace(state{kwargs['state']}), replace(inputs{kwargs['inputs']}))")
            out += ["", ""]
        return out


def _reduce(fields: list[str]) -> list[str]:
    """`__reduce__` for a value class with these fields, in order: its constructor's arguments, passed to
    the runtime's `_pickled` (by class in a compiled engine, through ENGINE_REF in-process)."""
    values = "".join(f"self.{f}, " for f in fields)
    return ["", "    def __reduce__(self) -> tuple[Any, ...]:", f"        return _pickled(self, ({values.rstrip()}))"]


def _converter(sym: ir.Symbol) -> str:
    """The runtime function that checks and converts a value given for state or input `sym`."""
    if sym.ty == BOOL:
        return "_bmap" if sym.indexed else "_b"
    return "_qmap" if sym.indexed else "_q"


def _rate(sym: ir.Symbol) -> str:
    """`, True` when `sym` is a rate (no unit): the engine then reads `'0.5%'` from a string."""
    return ", True" if sym.ty == RATE else ""


def _chosen_text(a: ir.Action, gen: _Gen) -> str:
    """A Python expression spelling forced action `a`'s chosen arguments, `'q = 3/2'`."""
    parts = [f"{(arg.name + ' = ')!r} + str({gen.choice_name(a, j)})" for j, arg in enumerate(a.args)]
    return " + ', ' + ".join(parts)


def _written(span: Span) -> str:
    """The source text `span` covers, on one line: comments dropped (an expression has no strings, so
    `#` always starts one) and runs of spaces and line breaks made one space."""
    lines = [line.partition("#")[0] for line in span.text().split("\n")]
    return " ".join(" ".join(lines).split())


def _doc(text: str, indent: str = "    ") -> str:
    """A docstring line: a `repr` literal, so nothing in `text` can end the string."""
    return f"{indent}{text!r}"


def _comment(text: str) -> str:
    """Comment text with line breaks and other control characters escaped."""
    return text.encode("unicode_escape").decode("ascii")


def _index_key(index: ir.Index) -> str:
    return index.name


_RESERVED = _ENGINE_NAMES | runtime_names()


def generate(program: ir.Program) -> str:
    """The Python source of the engine for `program`."""
    gen = _Gen(program)
    body = gen.module()
    return body
