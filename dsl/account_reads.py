"""What an expression of a spec with `accounts` reads: the helpers of `dsl.accounts` on the AST.

Which names an expression reads for the current account, which account variables it uses,
which names the spec declares, and which arguments of an action name another account.
"""

from __future__ import annotations

from collections.abc import Iterable

from dsl import ast

SET = "accounts"  # the set a quantifier over accounts ranges over


def declared_names(module: ast.Module) -> set[str]:
    """Every value name the spec declares (parameters, states, inputs, lets, roles, tables)."""
    out: set[str] = set()
    for d in module.decls:
        match d:
            case ast.ParamDecl() | ast.VarDecl() | ast.LetDecl() | ast.TableDecl():
                out.add(d.name.name)
            case ast.TupleLetDecl():
                out.update(n.name for n in d.names)
            case ast.MarginBlock():
                out.update(r.role.name for r in d.roles)
    return out


def account_uses(e: ast.Expr) -> set[str]:
    """The account variables `e` reads: as an index (`x[i]`, `x'[i]`) or in a comparison (`i == w`)."""
    out: set[str] = set()
    stack: list[ast.Expr] = [e]
    while stack:
        x = stack.pop()
        match x:
            case ast.Ref(index=ast.Ident(name=i)):
                out.add(i)
            case ast.Ref(name=n, index=None):
                out.add(n.name)  # a bare variable: a comparison, or an error reported when it is walked
            case ast.Call(args=args):
                stack.extend(args)
            case ast.Quant(body=body):
                stack.append(body)
            case ast.Unary(operand=o):
                stack.append(o)
            case ast.Binary(left=a, right=b):
                stack.extend((a, b))
            case ast.Ite(cond=c, then=t, orelse=o):
                stack.extend((c, t, o))
    return out


def bare_reads(e: ast.Expr) -> set[str]:
    """Names `e` reads for the current account: without an index, or with an asset's (not an account's)."""
    out: set[str] = set()
    stack: list[tuple[ast.Expr, frozenset[str]]] = [(e, frozenset())]
    while stack:
        x, accts = stack.pop()
        match x:
            case ast.Ref(name=n, index=None):
                out.add(n.name)
            case ast.Ref(name=n, index=ast.Ident(name=i)) if i not in accts:
                out.add(n.name)
            case ast.Call(args=args):
                stack.extend((a, accts) for a in args)
            case ast.Quant(var=v, set=st, body=body):
                stack.append((body, accts | {v.name} if st.name == SET else accts))
            case ast.Unary(operand=o):
                stack.append((o, accts))
            case ast.Binary(left=a, right=b):
                stack.extend(((a, accts), (b, accts)))
            case ast.Ite(cond=c, then=t, orelse=o):
                stack.extend(((c, accts), (t, accts), (o, accts)))
    return out


def action_exprs(d: ast.ActionDecl) -> Iterable[ast.Expr]:
    if d.guard is not None:
        yield d.guard
    for p in d.params:
        if p.choice is not None:
            yield p.choice
    for s in d.body:
        yield s.expr


def is_account_param(p: ast.ActionParam) -> bool:
    """`w: account`: an action argument that names another account (auto-deleveraging's counterparty)."""
    return isinstance(p.unit, ast.UnitName) and p.unit.name.name == "account"
