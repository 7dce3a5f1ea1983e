"""A small reference interpreter for `dsl.ir` expressions, over exact Fractions.

Written independently of dsl/codegen.py, straight from the IR's documented
meaning, so that the generated engine can be tested against it:

- `Div` is exact division, undefined when the divisor is zero;
- `Round` is `step * floor(x / step)` (down) or `step * ceil(x / step)` (up),
  undefined unless step > 0;
- `TableCall` takes column `column` of the first row [lo, hi) holding the
  argument (None bounds are infinite), undefined when no row holds it;
- `Sum`, `Quant` range over the program's assets in order;
- `Ite` evaluates only the branch it takes; `and`/`or`/`implies` evaluate both
  sides (the IR has no short-circuit meaning of its own).

Undefined operations raise `Undefined`.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from dsl import ir

Value = Fraction | bool | dict[str, Fraction]
Scalar = Fraction | bool


class Undefined(ArithmeticError):
    """A partial IR operation applied outside its domain."""


def _floor(q: Fraction) -> int:
    return q.numerator // q.denominator


def _ceil(q: Fraction) -> int:
    return -((-q.numerator) // q.denominator)


_CMP = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class Reference:
    """Evaluates the lets and expressions of `program` at one point."""

    def __init__(
        self,
        program: ir.Program,
        params: Mapping[str, Fraction | Mapping[str, Fraction]],
        state: Mapping[str, Fraction | Mapping[str, Fraction]],
        inputs: Mapping[str, Fraction | Mapping[str, Fraction]],
        args: Mapping[str, Fraction] | None = None,
    ) -> None:
        self.program = program
        self.values: dict[tuple[ir.Kind, str], object] = {}
        for kind, given in ((ir.Kind.PARAM, params), (ir.Kind.STATE, state), (ir.Kind.INPUT, inputs)):
            for name, v in given.items():
                self.values[(kind, name)] = dict(v) if isinstance(v, Mapping) else Fraction(v)
        for name, v in (args or {}).items():
            self.values[(ir.Kind.ARG, name)] = Fraction(v)
        self.lets = {let.sym.name: let for let in program.lets}
        self.let_values: dict[str, Value] = {}

    def let(self, name: str) -> Value:
        """The value of top-level let (or margin role) `name`."""
        if name not in self.let_values:
            let = self.lets[name]
            if let.binder is None:
                self.let_values[name] = self.eval(let.expr, {})
            else:
                out: dict[str, Fraction] = {}
                for asset in self.program.assets:
                    v = self.eval(let.expr, {let.binder: asset})
                    assert isinstance(v, Fraction)
                    out[asset] = v
                self.let_values[name] = out
        return self.let_values[name]

    def _var(self, e: ir.Var, bound: Mapping[str, str]) -> Scalar:
        sym = e.sym
        raw: object
        if sym.kind is ir.Kind.LET:
            raw = self.let(sym.name)
        elif (sym.kind, sym.name) in self.values:
            raw = self.values[(sym.kind, sym.name)]
        else:
            raise KeyError(f"no value given for {sym.kind.value} {sym.name}")
        match e.index:
            case None:
                assert not isinstance(raw, dict), f"{sym.name} is per-asset but read without an index"
                assert isinstance(raw, Fraction | bool)
                return raw
            case ir.AssetName(name=asset):
                assert isinstance(raw, dict)
                return Fraction(raw[asset])
            case ir.BoundVar(name=var):
                assert isinstance(raw, dict)
                return Fraction(raw[bound[var]])
        raise AssertionError(f"unknown index {e.index!r}")

    def num(self, e: ir.Expr, bound: Mapping[str, str]) -> Fraction:
        v = self.eval(e, bound)
        assert isinstance(v, Fraction) and not isinstance(v, bool), f"expected a number from {e!r}"
        return v

    def cond(self, e: ir.Expr, bound: Mapping[str, str]) -> bool:
        v = self.eval(e, bound)
        assert isinstance(v, bool), f"expected a condition from {e!r}"
        return v

    def eval(self, e: ir.Expr, bound: Mapping[str, str]) -> Scalar:
        """The value of `e`, with bound variables mapped to asset names by `bound`."""
        match e:
            case ir.Const(value=v):
                return Fraction(v)
            case ir.BoolConst(value=b):
                return b
            case ir.Var():
                return self._var(e, bound)
            case ir.Neg(x=x):
                return -self.num(x, bound)
            case ir.Arith(op=op, left=a, right=b):
                x, y = self.num(a, bound), self.num(b, bound)
                return {"+": x + y, "-": x - y, "*": x * y}[op]
            case ir.Div(left=a, right=b):
                x, y = self.num(a, bound), self.num(b, bound)
                if y == 0:
                    raise Undefined("division by zero")
                return x / y
            case ir.Abs(x=x):
                v = self.num(x, bound)
                return v if v >= 0 else -v
            case ir.MinMax(op=op, args=args):
                vals = [self.num(a, bound) for a in args]
                return min(vals) if op == "min" else max(vals)
            case ir.Round(direction=d, x=x, step=s):
                v, step = self.num(x, bound), self.num(s, bound)
                if step <= 0:
                    raise Undefined(f"round_{d} with step {step}")
                q = v / step
                return step * (_floor(q) if d == "down" else _ceil(q))
            case ir.Ite(cond=c, then=t, orelse=o):
                return self.eval(t, bound) if self.cond(c, bound) else self.eval(o, bound)
            case ir.Cmp(op=op, left=a, right=b):
                return bool(_CMP[op](self.eval(a, bound), self.eval(b, bound)))
            case ir.BoolOp(op=op, left=a, right=b):
                p, q = self.cond(a, bound), self.cond(b, bound)
                return {"and": p and q, "or": p or q, "implies": (not p) or q}[op]
            case ir.Not(x=x):
                return not self.cond(x, bound)
            case ir.Sum(var=var, body=body):
                total = Fraction(0)
                for asset in self.program.assets:
                    total += self.num(body, {**bound, var: asset})
                return total
            case ir.Quant(kind=kind, var=var, body=body):
                results = [self.cond(body, {**bound, var: asset}) for asset in self.program.assets]
                return all(results) if kind == "all" else any(results)
            case ir.RowCell():
                return e.value
            case ir.TableCall(table=table, arg=a, column=col):
                x = self.num(a, bound)
                for row in table.rows:
                    if (row.lo is None or row.lo <= x) and (row.hi is None or x < row.hi):
                        return Fraction(row.values[col])
                raise Undefined(f"table {table.name} has no row for {x}")
        raise AssertionError(f"unhandled IR node {e!r}")
