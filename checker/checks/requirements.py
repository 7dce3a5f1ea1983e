"""Checks on the margin requirements: `requirement-nonnegative`, `maintenance-le-initial`, `requirement-monotone`."""

from __future__ import annotations

from collections.abc import Iterator

import z3

from checker.core.context import Context, skip
from checker.core.replay import Scene
from checker.core.results import CheckResult
from checker.solve.decompose import Pair
from dsl import ir
from dsl.units import BOOL


def requirement_nonnegative(cx: Context) -> Iterator[CheckResult]:
    reqs = [r for r in ("initial", "maintenance") if cx.program.role(r) is not None]
    if not reqs:
        yield skip(
            "requirement-nonnegative",
            "requirement-nonnegative",
            "the margin block declares no `initial` or `maintenance` requirement",
        )
    for role in reqs:
        f = cx.enc.frame()
        term, ok = f.role(role)
        yield cx.ask(
            "requirement-nonnegative",
            f"requirement-nonnegative: {role}",
            [*cx.valid(f), ok, term < 0],
            Scene([("state", f, None)]),
            lambda v, r=role: v[0].let(r) < 0,
            f"the {role} requirement is negative here",
            at=cx.program.let(role).span,
        )


def maintenance_le_initial(cx: Context) -> Iterator[CheckResult]:
    missing = cx.has("initial", "maintenance")
    if missing:
        yield skip("maintenance-le-initial", "maintenance-le-initial", f"no `{missing[0]}` role in the margin block")
        return
    f = cx.enc.frame()
    m, okm = f.role("maintenance")
    i, oki = f.role("initial")
    yield cx.ask(
        "maintenance-le-initial",
        "maintenance-le-initial",
        [*cx.valid(f), okm, oki, m > i],
        Scene([("state", f, None)]),
        lambda v: v[0].let("maintenance") > v[0].let("initial"),
        "the maintenance requirement exceeds the initial one: an account can open a position that "
        "is liquidatable at once",
        at=cx.program.let("maintenance").span,
    )


def _depends_on(program: ir.Program, let_name: str) -> set[ir.Symbol]:
    lets = {let.sym.name: let for let in program.lets}
    seen: set[str] = set()
    out: set[ir.Symbol] = set()
    stack = [let_name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for e in ir.walk(lets[n].expr):
            if isinstance(e, ir.Var):
                if e.sym.kind is ir.Kind.LET:
                    stack.append(e.sym.name)
                elif e.sym.kind is ir.Kind.STATE:
                    out.add(e.sym)
    return out


def position_states(program: ir.Program, role: str) -> list[ir.Symbol]:
    """The states a requirement reads whose unit is not equity's: the position sizes (a flag is none)."""
    money = program.role("equity") or program.role(role)
    assert money is not None
    return sorted((s for s in _depends_on(program, role) if s.ty not in (money.ty, BOOL)), key=lambda s: s.name)


def requirement_monotone(cx: Context) -> Iterator[CheckResult]:
    p = cx.program
    reqs = [r for r in ("initial", "maintenance") if p.role(r) is not None]
    if not reqs:
        yield skip("requirement-monotone", "requirement-monotone", "no `initial` or `maintenance` role")
    for role in reqs:
        positions = position_states(p, role)
        name = f"requirement-monotone: {role}"
        if not positions:
            yield skip(
                "requirement-monotone",
                name,
                f"`{role}` reads no position state (a state whose unit differs from equity's)",
            )
            continue
        f1 = cx.enc.frame("small")
        moved = {k: v for k, v in f1.vars.items() if k[0] not in {s.name for s in positions}}
        f2 = cx.enc.frame("large", moved)
        grow = []
        for s in positions:
            for a in cx.enc.assets_of(s):
                v1, v2 = f1.var(s, a), f2.var(s, a)
                grow.append(z3.Or(z3.And(v1 >= 0, v2 >= v1), z3.And(v1 <= 0, v2 <= v1)))
        r1, ok1 = f1.role(role)
        r2, ok2 = f2.role(role)
        sizes = ", ".join(s.name for s in positions)
        premises = [*cx.valid(f1), f2.where(), *grow, ok1, ok2]
        pair = Pair("small", "large", tuple(premises)) if _along_a_path(p, role, positions) else None
        yield cx.ask(
            "requirement-monotone",
            name,
            [*premises, r2 < r1],
            Scene([("smaller position", f1, None), ("larger position", f2, None)]),
            lambda v, r=role: v[1].let(r) < v[0].let(r),
            f"the {role} requirement falls when the position ({sizes}) grows at the same price",
            at=cx.program.let(role).span,
            pair=pair,
        )


def _along_a_path(program: ir.Program, role: str, positions: list[ir.Symbol]) -> bool:
    """Whether every state between the smaller and the larger position is as good a witness as they are.

    On the segment between two positions of one sign, the magnitude grows; the other states are
    shared. If no `where` reads a position, every state on the segment is valid; if the requirement
    (with the lets it reads) divides and rounds nowhere and looks up one table at one argument, it is defined
    wherever that table is, which splitting checks (no gap inside the table). Then a violation
    between any two positions shows up between two neighbours on the segment whose table
    arguments lie in the same or in adjacent brackets (spec/checks.md, requirement-monotone).
    """
    names = {s.name for s in positions}
    for c in program.wheres:
        if any(isinstance(n, ir.Var) and n.sym.name in names for n in ir.walk(c.expr)):
            return False
    lets = {let.sym.name: let for let in program.lets}
    seen: set[str] = set()
    stack = [role]
    lookups: set[tuple[str, ir.Expr]] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for n in ir.walk(lets[name].expr):
            if isinstance(n, ir.Div | ir.Round):
                return False
            if isinstance(n, ir.TableCall):
                lookups.add((n.table.name, n.arg))
            if isinstance(n, ir.Var) and n.sym.kind is ir.Kind.LET:
                stack.append(n.sym.name)
    return len(lookups) == 1
