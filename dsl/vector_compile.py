"""The vectorized back end's compiler: IR expressions as functions of a `dsl.vector.Frame`.

`Compiled(program)` turns each expression, once, into a tree of closures over the operations of
`dsl.vector` (one per IR node, dispatched exhaustively); lets are computed once per frame and table
lookups share one bracket search per table and argument (`dsl.vector_tables`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsl import ir
from dsl.diagnostics import InternalError
from dsl.vector import (
    Bool,
    Code,
    Frame,
    Value,
    _bool,
    _not,
    _num,
    absolute,
    add,
    boolean,
    compare,
    const,
    div,
    ite,
    minmax,
    mul,
    neg,
    round_to,
)
from dsl.vector_tables import _prepare, bracket, lookup


class Compiled:
    """A program's expressions as functions of a `Frame` (compiled once, evaluated per batch)."""

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.tables = {t.name: _prepare(t) for t in program.tables}
        self.lets = {let.sym.name: let for let in program.lets}
        self.let_code: dict[str, Code] = {}
        self.slots: dict[tuple[Any, ...], int] = {}  # (table, argument, binding) -> its bracket's slot

    def expr(self, e: ir.Expr, binding: Mapping[str, str] | None = None) -> Code:
        """`e` as a function of a frame; `binding`: asset names of the bound variables in scope."""
        return self._code(e, dict(binding or {}))

    def let(self, name: str, asset: str | None = None) -> Code:
        """The value of let `name` (for per-asset lets, at `asset`), computed once per frame."""
        key = name if asset is None else f"{name}[{asset}]"
        if key not in self.let_code:
            let = self.lets[name]
            body = self._code(let.expr, {let.binder: asset} if let.binder is not None and asset else {})

            def value(frame: Frame, key: str = key, body: Code = body) -> Value:
                if key not in frame.lets:
                    frame.lets[key] = body(frame)
                return frame.lets[key]

            self.let_code[key] = value
        return self.let_code[key]

    def _code(self, e: ir.Expr, binding: dict[str, str]) -> Code:
        match e:
            case ir.Const(value=v) | ir.RowCell(value=v):
                number = const(v)
                return lambda frame: number
            case ir.BoolConst(value=flag):
                truth = Bool(flag)
                return lambda frame: truth
            case ir.Var(sym=sym, index=index):
                key = sym.name if index is None else f"{sym.name}[{self._asset(index, binding)}]"
                if sym.kind is ir.Kind.LET:
                    return self.let(sym.name, None if index is None else self._asset(index, binding))
                return lambda frame: frame.values[key]
            case ir.Neg(x=x):
                fx = self._code(x, binding)
                return lambda frame: neg(_num(fx(frame)))
            case ir.Abs(x=x):
                fx = self._code(x, binding)
                return lambda frame: absolute(_num(fx(frame)))
            case ir.Arith(op=op, left=a, right=b):
                fa, fb = self._code(a, binding), self._code(b, binding)
                if op == "*":
                    return lambda frame: mul(frame, _num(fa(frame)), _num(fb(frame)))
                sign = 1 if op == "+" else -1
                return lambda frame: add(frame, _num(fa(frame)), _num(fb(frame)), sign)
            case ir.Div(left=a, right=b):
                fa, fb = self._code(a, binding), self._code(b, binding)
                return lambda frame: div(frame, _num(fa(frame)), _num(fb(frame)))
            case ir.MinMax(op=op, args=args):
                fargs = [self._code(x, binding) for x in args]
                return lambda frame: minmax(frame, op, [_num(f(frame)) for f in fargs])
            case ir.Round(direction=direction, x=x, step=step):
                fx, fs = self._code(x, binding), self._code(step, binding)
                return lambda frame: round_to(frame, direction, _num(fx(frame)), _num(fs(frame)))
            case ir.Ite(cond=c, then=t, orelse=o):
                fc, ft, fo = self._code(c, binding), self._code(t, binding), self._code(o, binding)
                return lambda frame: ite(frame, _bool(fc(frame)), ft(frame), fo(frame))
            case ir.Cmp(op=op, left=a, right=b):
                fa, fb = self._code(a, binding), self._code(b, binding)
                return lambda frame: compare(frame, op, _num(fa(frame)), _num(fb(frame)))
            case ir.BoolOp(op=op, left=a, right=b):
                fa, fb = self._code(a, binding), self._code(b, binding)
                return lambda frame: boolean(op, _bool(fa(frame)), _bool(fb(frame)))
            case ir.Not(x=x):
                fx = self._code(x, binding)

                def negate(frame: Frame) -> Value:
                    v = _bool(fx(frame))
                    return Bool(_not(v.v), v.u)

                return negate
            case ir.Sum(var=var, body=body):
                parts = [self._code(body, {**binding, var: a}) for a in self.program.assets]

                def total(frame: Frame) -> Value:
                    out = const(0)
                    for part in parts:
                        out = add(frame, out, _num(part(frame)))
                    return out

                return total
            case ir.Quant(kind=kind, var=var, body=body):
                parts = [self._code(body, {**binding, var: a}) for a in self.program.assets]
                op = "and" if kind == "all" else "or"

                def quant(frame: Frame) -> Value:
                    out = Bool(kind == "all")
                    for part in parts:
                        out = boolean(op, out, _bool(part(frame)))
                    return out

                return quant
            case ir.TableCall(table=t, arg=a, column=col):
                fa = self._code(a, binding)
                prepared = self.tables[t.name]
                # Every column of one table at one argument shares one bracket search per frame.
                slot = self.slots.setdefault((t.name, a, tuple(sorted(binding.items()))), len(self.slots))

                def cell(frame: Frame) -> Value:
                    if slot not in frame.brackets:
                        frame.brackets[slot] = bracket(frame, prepared, _num(fa(frame)))
                    row, u = frame.brackets[slot]
                    return lookup(frame, prepared, row, u, col)

                return cell
            case ir.Next():
                raise InternalError("a step property's `x'` has no batch evaluation")
        raise InternalError(f"the batch back end has no case for {type(e).__name__}")

    @staticmethod
    def _asset(index: ir.Index, binding: Mapping[str, str]) -> str:
        match index:
            case ir.AssetName(name=a):
                return a
            case ir.BoundVar(name=v):
                return binding[v]
        raise InternalError(f"unknown index {index!r}")
