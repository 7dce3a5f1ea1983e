"""Bisection over the parameter box, each region proved by the check's own query restricted to it.

For each parameter with a declared range (a per-asset parameter counts once, its
assets bounded together), and each direction (`p <= t`, `p >= t`), the search
asks the check's query with the region added: unsat proves the check there, sat
shows a violation inside it, and anything else is UNKNOWN and proves nothing.
Because `p <= t` grows with `t`, "proved" is monotone in `t`, so bisection
between a proved bound and a refuted one converges on the boundary; each
midpoint is the shortest decimal near the middle, so that the bound reads as
a user would write it. Twice per parameter: the other parameters anywhere in
their ranges (and the `assume`s), then, if that proves nothing, at their defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import z3

from checker.core.context import Context
from checker.core.encode import q
from checker.core.results import Region, show_fraction
from checker.synth.render import bound, shortest_decimal, significant

STEPS = 16  # bisection steps per bound: the boundary to within about 0.6**16 (3e-4) of the range
FREE = "other parameters anywhere in their ranges"
DEFAULTS = "other parameters at their defaults"


@dataclass(frozen=True)
class Group:
    """One parameter to bound: its Z3 constants and display names (one per asset), its range."""

    name: str
    consts: tuple[z3.ArithRef, ...]
    names: tuple[str, ...]
    lo: Fraction
    hi: Fraction


def bounds(cx: Context, query: Sequence[z3.BoolRef]) -> tuple[list[Region], list[str], list[tuple[Group, str, str]]]:
    """The one-parameter regions of the violated check with query `query`, the notes, and what bounds it.

    The last part lists each parameter with a proved region: its direction and what the others were.
    """
    groups = searchable(cx)
    if not groups:
        return [], ["no parameter has a range to search (all pinned or at their defaults)"], []
    regions: list[Region] = []
    notes: list[str] = []
    bounded: list[tuple[Group, str, str]] = []
    for group in groups:
        for op in ("<=", ">="):
            found = bisect(cx, query, group, op, FREE, notes)
            if found is None:
                found = bisect(cx, query, group, op, DEFAULTS, notes)
            if found is not None:
                regions.append(found)
                bounded.append((group, op, found.others))
    if not regions:
        notes.append("no region bounded by one parameter was proved safe")
    return regions, notes, bounded


def searchable(cx: Context) -> list[Group]:
    """The parameters with a declared range that are neither pinned nor fixed at their defaults."""
    if cx.options.all_defaults:
        return []
    out = []
    for p in cx.program.params:
        name = p.sym.name
        if p.pinned or p.lo is None or p.hi is None or p.lo == p.hi:
            continue
        assets = cx.enc.assets_of(p.sym)
        names = tuple(cx.enc.varname(name, a, "") for a in assets)
        if name in cx.options.pins or any(n in cx.options.pins for n in names):
            continue
        out.append(Group(name, tuple(cx.enc.param(name, a) for a in assets), names, p.lo, p.hi))
    return out


def prove(
    cx: Context, query: Sequence[z3.BoolRef], region: z3.BoolRef, share: Fraction | None = None
) -> tuple[str, str]:
    """The check's query restricted to `region`, solved as the check solves it: (verdict, the solver's reason).

    "PROVED" only for unsat; "VIOLATED" for sat; "UNKNOWN" otherwise. `share`: a part of the
    budget, for questions that only guide a search (a region is reported only on a whole-budget proof).
    Without the cheap try (linearisation only): a check's query restricted to a region is a violation
    the cheap try could not settle, and it could not settle the restrictions either. Measured on
    examples/bad/aave_bonus_spiral.margin's synthesis: 505 of 541 cheap tries ended "incomplete", 7.9 s
    of its 29 s.
    """
    outcome = cx.solve([*query, region], share=share, split=True, cheap=False)
    verdict = {"unsat": "PROVED", "sat": "VIOLATED"}.get(outcome.status, "UNKNOWN")
    return verdict, outcome.reason


def check_region(
    cx: Context, query: Sequence[z3.BoolRef], region: z3.BoolRef, condition: str, others: str = FREE
) -> Region:
    """`condition` (Z3 form `region`) as a `Region`: proved only when the restricted query is unsat."""
    verdict, reason = prove(cx, query, region)
    why = "" if verdict == "PROVED" else f"{verdict}" + (f": {reason}" if reason else "")
    return Region(condition, verdict == "PROVED", others, why=why)


def bisect(
    cx: Context, query: Sequence[z3.BoolRef], group: Group, op: str, others: str, notes: list[str]
) -> Region | None:
    """The largest proved region `group op t` found by bisection, or None when there is none worth saying."""
    fixed = [] if others == FREE else defaults_except(cx, group)

    def region(t: Fraction) -> z3.BoolRef:
        return z3.And(*[(c <= q(t)) if op == "<=" else (c >= q(t)) for c in group.consts], *fixed)

    inner, outer = (group.lo, group.hi) if op == "<=" else (group.hi, group.lo)
    bad_verdict = "VIOLATED"
    if others == DEFAULTS:  # the whole range may hold with the others at their defaults: nothing to bound
        whole, _ = prove(cx, query, region(outer))
        if whole != "VIOLATED":
            return None
    start, reason = prove(cx, query, region(inner))
    if start != "PROVED":
        if start == "UNKNOWN":
            notes.append(f"{bound(group.names, '=', inner)} ({others}): UNKNOWN, not searched ({reason})")
        return None
    safe, bad = inner, outer
    for _ in range(STEPS):
        a, b = safe + (bad - safe) * Fraction(2, 5), safe + (bad - safe) * Fraction(3, 5)
        mid = shortest_decimal(min(a, b), max(a, b))
        verdict, reason = prove(cx, query, region(mid))
        if verdict == "PROVED":
            safe = mid
        else:
            bad, bad_verdict = mid, verdict
    if safe == inner:
        return None  # only the end point itself: not a region worth reporting
    strict = exact_strict_bound(cx, query, group, op, fixed, safe, bad, bad_verdict)
    if strict is not None:
        return strict
    beyond = beyond_text(group.names, op, safe, bad)
    # A bound of four significant digits reads better; inside the proved region, so proved again cheaply.
    short = significant(safe, 4, down=op == "<=")
    if short != safe and (short > inner if op == "<=" else short < inner):
        verdict, _ = prove(cx, query, region(short))
        safe = short if verdict == "PROVED" else safe
    if cx.solve([*cx.params, region(safe)]).status != "sat":
        return None  # proved only because no parameter value lies in it (the `assume`s exclude it)
    return Region(bound(group.names, op, safe), True, others, beyond, bad_verdict)


def exact_strict_bound(
    cx: Context,
    query: Sequence[z3.BoolRef],
    group: Group,
    op: str,
    fixed: list[z3.BoolRef],
    safe: Fraction,
    bad: Fraction,
    bad_verdict: str,
) -> Region | None:
    """`p < bad` (or `p > bad`) when it is proved: the boundary is then `bad` itself, and a strict bound says it.

    Tried only when `bad` is the shortest decimal between the two bounds (a boundary the spec's
    own numbers would put there, such as `liq_fee < 0.004`), and only when `bad` was a violation:
    then `p <= bad` is violated while `p < bad` is proved, so the violation is at `p = bad` exactly.
    """
    if bad_verdict != "VIOLATED" or shortest_decimal(min(safe, bad), max(safe, bad)) != bad:
        return None
    strict = "<" if op == "<=" else ">"
    region = z3.And(*[(c < q(bad)) if strict == "<" else (c > q(bad)) for c in group.consts], *fixed)
    verdict, _ = prove(cx, query, region)
    if verdict != "PROVED" or cx.solve([*cx.params, region]).status != "sat":
        return None
    at = (
        bound(group.names, "=", bad)
        if len(group.names) == 1
        else f"{', '.join(group.names)} {op} {show_fraction(bad)}, one of them = {show_fraction(bad)}"
    )
    others = FREE if not fixed else DEFAULTS
    return Region(bound(group.names, strict, bad), True, others, at, "VIOLATED")


def defaults_except(cx: Context, group: Group) -> list[z3.BoolRef]:
    """Every searchable parameter outside `group` at its default (pinned ones keep their pins)."""
    out = []
    for other in searchable(cx):
        if other.name != group.name:
            out += [c == q(cx.preferred[n]) for c, n in zip(other.consts, other.names, strict=True)]
    return out


def beyond_text(names: Sequence[str], op: str, safe: Fraction, bad: Fraction) -> str:
    """Where the search found the check failing (or unsettled) just past the proved bound `safe`."""
    s, b = show_fraction(safe), show_fraction(bad)
    if len(names) == 1:
        return f"{s} < {names[0]} <= {b}" if op == "<=" else f"{b} <= {names[0]} < {s}"
    listed = ", ".join(names)
    return f"{listed} <= {b}, one of them > {s}" if op == "<=" else f"{listed} >= {b}, one of them < {s}"
