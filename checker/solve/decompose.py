"""Structural decomposition: one hard query becomes many small ones, by table bracket or by asset.

The encoder records the structure it builds (`Structure`): every table
lookup (an if-then-else chain over the brackets of one argument) and every
sum over assets. A query that the first, cheap try could not answer is split
along that structure, each piece asked on its own (`solve` is the caller's:
the in-process try and the portfolio), and the answers combined:

- **By bracket.** The lookups of one table at one argument term split
  together into one piece per interval of the argument (each bracket, and
  the gaps between and around them, so that the pieces cover every value):
  in piece j the argument lies in interval j and every lookup is replaced by
  that interval's constant. The query is satisfiable exactly when one piece
  is. Where a check compares two states along a path on which the argument
  grows continuously (`Pair`), only pieces for the same or adjacent
  intervals are needed (2n - 1 instead of n²); spec/checks.md says why.
- **By asset.** Every sum over assets is replaced by a sum of fresh reals,
  one per asset (the abstract final step). Lemmas relating one asset's
  summands (`±t1 ± t2 ± ... >= 0`) are proved per asset from the query's
  constraints on that asset alone, and added to the final step. If it is
  unsatisfiable, so is the query. If it is satisfiable and no lemma excludes
  its model, each asset's part is realised on its own and the parts are
  joined into a model of the whole query, checked before it is returned.

Nothing is trusted: a piece's model is checked against the whole query. A
split that does not settle the query says why, and the caller reports
UNKNOWN rather than guess.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import z3

from checker.solve.z3engine import Outcome, free_constants

Solve = Callable[[list[z3.BoolRef]], Outcome]

# A query is split before it is asked whole when its structure is this large: below, the whole query is
# usually the quickest (measured on the bundled examples: 10-bracket tables and 3-asset accounts were
# answered whole in milliseconds, and splitting every model-checking query made a run 6 times slower).
SPLIT_FIRST_INTERVALS = 16
SPLIT_FIRST_ASSETS = 4
_MAX_PIECES = 4000  # beyond this many pieces a split is not tried (it would cost more than it saves)
_MAX_TEMPLATE_SUMS = 4  # per-asset lemma templates combine at most this many sums
_MAX_ROUNDS = 8  # abstract final steps per asset split


def _rv(f: Fraction) -> z3.ArithRef:
    return z3.RealVal(f"{f.numerator}/{f.denominator}")


@dataclass(frozen=True)
class TableUse:
    """One column of a table looked up at one argument term, as the encoder built it."""

    table: str
    rows: tuple[tuple[Fraction | None, Fraction | None], ...]  # [lo, hi) per row, declaration order
    values: tuple[Fraction, ...]  # this column's value per row
    fallback: Fraction  # the term's value when no row holds (then the lookup is undefined)
    arg: z3.ArithRef
    term: z3.ExprRef
    covered: z3.BoolRef  # "some bracket holds the argument": true in a bracket's piece, false in a gap's
    origin: object  # the argument as written: equal for the same lookup in two frames
    continuous: bool  # the argument is a continuous function of the state and parameters


@dataclass(frozen=True)
class SumUse:
    """One sum over assets, as the encoder built it: the whole term and one summand per asset."""

    term: z3.ArithRef
    parts: tuple[tuple[str, z3.ArithRef], ...]
    origin: object  # the sum as written: equal for the same sum in two frames


@dataclass
class Structure:
    """What the encoder recorded, by Z3 term id, and which asset owns a constant."""

    assets: tuple[str, ...] = ()
    tables: dict[int, TableUse] = field(default_factory=dict)
    sums: dict[int, SumUse] = field(default_factory=dict)

    def owner(self, const: z3.ExprRef) -> str | None:
        """The asset a constant belongs to (`pos[BTC]@before` -> BTC), or None when it is shared."""
        name = const.decl().name()  # the symbol itself: `str` would run Z3's pretty printer
        for part in re.findall(r"\[([^\]]+)\]", name):
            if part in self.assets:
                return str(part)
        return None


@dataclass(frozen=True)
class Pair:
    """Two frames of one query related by a path along which every table argument grows continuously.

    A check states this only when it holds (`requirement-monotone`: the states differ only in
    positions, which grow in magnitude; every `where` and the requirement's definedness hold along the
    segment between them). The decomposition still proves, per table, that the argument grows.
    """

    first: str  # frame tags
    second: str
    premises: tuple[z3.BoolRef, ...]  # the query without its goal, for the growth side query


@dataclass(frozen=True)
class Split:
    """What a decomposition concluded: an outcome, and how it was obtained (for the proof's text)."""

    outcome: Outcome
    how: str


def _subterm_ids(assertions: Sequence[z3.ExprRef]) -> set[int]:
    seen: set[int] = set()
    stack = list(assertions)
    while stack:
        e = stack.pop()
        i = e.get_id()
        if i in seen:
            continue
        seen.add(i)
        stack.extend(e.children())
    return seen


def _satisfies(model: z3.ModelRef, assertions: Sequence[z3.BoolRef]) -> bool:
    return all(z3.is_true(model.eval(a, model_completion=True)) for a in assertions)


# ---- by bracket -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """The lookups of one table at one argument term: split together."""

    table: str
    arg: z3.ArithRef
    origin: object
    continuous: bool
    intervals: tuple[tuple[Fraction | None, Fraction | None, int | None], ...]  # ordered; row index or gap
    uses: tuple[TableUse, ...]

    def value(self, use: TableUse, piece: int) -> Fraction:
        row = self.intervals[piece][2]
        return use.fallback if row is None else use.values[row]

    def inside(self, piece: int) -> z3.BoolRef:
        lo, hi, _ = self.intervals[piece]
        parts = [*([self.arg >= _rv(lo)] if lo is not None else []), *([self.arg < _rv(hi)] if hi is not None else [])]
        return z3.And(*parts) if parts else z3.BoolVal(True)

    def substitution(self, piece: int) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        covered = z3.BoolVal(self.intervals[piece][2] is not None)
        out: list[tuple[z3.ExprRef, z3.ExprRef]] = [(self.uses[0].covered, covered)]
        return out + [(u.term, _rv(self.value(u, piece))) for u in self.uses]


def _intervals(
    rows: tuple[tuple[Fraction | None, Fraction | None], ...],
) -> tuple[tuple[Fraction | None, Fraction | None, int | None], ...] | None:
    """The real line cut into the rows' intervals and the gaps around them, in order; None if rows overlap."""
    live = [(lo, hi, i) for i, (lo, hi) in enumerate(rows) if lo is None or hi is None or lo < hi]
    live.sort(key=lambda r: (r[0] is not None, r[0] if r[0] is not None else Fraction(0)))
    out: list[tuple[Fraction | None, Fraction | None, int | None]] = []
    for lo, hi, i in live:
        if out:
            end = out[-1][1]
            if end is None or lo is None or lo < end:
                return None  # overlaps the bracket before (well-defined reports it)
            if lo > end:
                out.append((end, lo, None))  # a gap between two brackets
        elif lo is not None:
            out.append((None, lo, None))  # the values below the first bracket
        out.append((lo, hi, i))
    if not out:
        return None
    if out[-1][1] is not None:
        out.append((out[-1][1], None, None))  # the values above the last bracket
    return tuple(out)


def table_groups(structure: Structure, assertions: Sequence[z3.BoolRef]) -> list[_Group]:
    """The table lookups occurring in `assertions`, grouped by table and argument term, in a fixed order."""
    present = _subterm_ids(assertions)
    groups: dict[tuple[str, int], list[TableUse]] = {}
    for i, use in structure.tables.items():
        if i in present:
            groups.setdefault((use.table, use.arg.get_id()), []).append(use)
    out = []
    for (_, _), uses in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[1][0].arg))):
        intervals = _intervals(uses[0].rows)
        if intervals is None or len(intervals) < 2:
            continue
        u = uses[0]
        out.append(_Group(u.table, u.arg, u.origin, u.continuous, intervals, tuple(uses)))
    return out


def large_structure(assertions: Sequence[z3.BoolRef], structure: Structure) -> bool:
    """Whether `assertions` look up a table of many brackets, or sum over many assets."""
    tables = [i for i, u in structure.tables.items() if len(u.rows) + 1 >= SPLIT_FIRST_INTERVALS]
    sums = [i for i, s in structure.sums.items() if len(s.parts) >= SPLIT_FIRST_ASSETS]
    if not tables and not sums:
        return False  # nothing large anywhere in the spec: no need to walk the terms (measured: 7 s of the bundle)
    present = _subterm_ids(assertions)
    return any(i in present for i in tables) or any(i in present for i in sums)


def _apply(assertions: Sequence[z3.BoolRef], pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> list[z3.BoolRef]:
    return [z3.substitute(a, *pairs) if pairs else a for a in assertions]


def _contiguous(g: _Group) -> bool:
    """No bracket-less interval between two brackets (gaps only below the first or above the last)."""
    rows = [iv[2] is not None for iv in g.intervals]
    first, last = rows.index(True), len(rows) - 1 - rows[::-1].index(True)
    return all(rows[first : last + 1])


def _tags(g: _Group) -> set[str]:
    """The frame tags of the constants in the group's argument (`size@small` -> small)."""
    return {str(c).rpartition("@")[2] for c in free_constants([g.arg]) if "@" in str(c)}


def _bracket_pieces(
    assertions: list[z3.BoolRef], groups: list[_Group], pair: Pair | None, solve: Solve
) -> tuple[Iterator[list[z3.BoolRef]], int, str]:
    """The pieces to ask, their number, and how to describe them."""
    if pair is not None:
        for g1 in groups:
            for g2 in groups:
                if (
                    g1.table == g2.table
                    and g1.origin == g2.origin
                    and g1.continuous
                    and _contiguous(g1)
                    and pair.first in _tags(g1)
                    and pair.second not in _tags(g1)
                    and pair.second in _tags(g2)
                    and _grows(pair, g1, g2, solve)
                ):
                    n = len(g1.intervals)

                    def adjacent(g1: _Group = g1, g2: _Group = g2, n: int = n) -> Iterator[list[z3.BoolRef]]:
                        for i in range(n):
                            for j in (i, i + 1):
                                if j < n:
                                    subst = g1.substitution(i) + g2.substitution(j)
                                    yield [*_apply(assertions, subst), g1.inside(i), g2.inside(j)]

                    return adjacent(), 2 * n - 1, f"by bracket of `{g1.table}`, same and adjacent brackets"
    g = max(groups, key=lambda g: len(g.intervals))
    n = len(g.intervals)

    def each() -> Iterator[list[z3.BoolRef]]:
        for i in range(n):
            yield [*_apply(assertions, g.substitution(i)), g.inside(i)]

    return each(), n, f"by bracket of `{g.table}`"


def _grows(pair: Pair, g1: _Group, g2: _Group, solve: Solve) -> bool:
    """Whether the argument never falls from the first state to the second (a side query, proved or not)."""
    return solve([*pair.premises, g2.arg < g1.arg]).status == "unsat"


def _read_off(groups: list[_Group]) -> tuple[list[_Group], list[tuple[z3.ExprRef, z3.ExprRef]]]:
    """The groups whose argument is not a number, and the substitution that reads the others off their bracket.

    A lookup at a constant argument (the requirement of a closed position: `abs(0) * mark`, which
    Z3 keeps as a term) lies in one interval whatever the state: every other piece of a split on it
    would be unsatisfiable, and in that interval's piece every lookup of the group is that
    interval's constant. So the lookups are replaced by it before the split, which then goes by a
    lookup that varies; left as they were, every piece carried the group's if-then-else chain (at
    500 brackets a piece's text was 54 KB, and printing and parsing it cost ten times the solving).
    """
    varying, subst = [], []
    for g in groups:
        value = z3.simplify(g.arg)
        if not z3.is_rational_value(value):
            varying.append(g)
            continue
        number = Fraction(value.numerator_as_long(), value.denominator_as_long())
        subst += g.substitution(next(k for k, (lo, hi, _) in enumerate(g.intervals) if _holds(lo, number, hi)))
    return varying, subst


def _holds(lo: Fraction | None, x: Fraction, hi: Fraction | None) -> bool:
    """Whether `x` lies in the interval [lo, hi) (None: unbounded on that side)."""
    return (lo is None or x >= lo) and (hi is None or x < hi)


def by_bracket(
    assertions: list[z3.BoolRef], structure: Structure, solve: Solve, pair: Pair | None = None
) -> Split | None:
    """Split on the largest table lookup in `assertions`; None when there is none to split on.

    Lookups at a constant argument are read off their bracket first (`_read_off`), unless no other
    lookup is left to split on.
    """
    whole = assertions
    groups = table_groups(structure, assertions)
    if not groups:
        return None
    varying, read_off = _read_off(groups)
    if varying and read_off:
        groups, assertions = varying, _apply(assertions, read_off)
    pieces, count, how = _bracket_pieces(assertions, groups, pair, solve)
    if count > _MAX_PIECES:
        return None
    unknown: tuple[int, Outcome] | None = None
    for k, piece in enumerate(pieces):
        outcome = solve(piece)
        if outcome.status == "sat" and outcome.model is not None:
            if not _satisfies(outcome.model, whole):
                continue  # cannot happen for a correct split; the caller asks the whole query instead
            return Split(outcome, f"{how}, piece {k + 1} of {count}")
        if outcome.status == "unknown" and unknown is None:
            unknown = (k, outcome)
    if unknown is not None:
        k, outcome = unknown
        reason = f"{how}: piece {k + 1} of {count} is open ({outcome.reason})"
        return Split(Outcome("unknown", None, reason, outcome.engine, outcome.safety_net), f"{how}, {count} pieces")
    return Split(Outcome("unsat", None, "", "z3"), f"{how}, {count} pieces")


# ---- by asset ---------------------------------------------------------------------------------


def _conjuncts(assertions: Sequence[z3.BoolRef]) -> list[z3.BoolRef]:
    """The assertions with every `And` flattened and `true` and repeats dropped, in order.

    Repeats are many: the encoder conjoins a definedness condition at every use of a `let`, and the
    same condition (the same Z3 term) comes back for every use.
    """
    out: list[z3.BoolRef] = []
    seen: set[int] = set()
    stack = list(reversed(assertions))
    while stack:
        a = stack.pop()
        i = a.get_id()
        if i in seen:
            continue
        seen.add(i)
        kind = _kind(a)
        if kind == z3.Z3_OP_AND:
            stack.extend(reversed(a.children()))
        elif kind != z3.Z3_OP_TRUE:
            out.append(a)
    return out


def _kind(e: z3.ExprRef) -> int:
    """The operator of `e` (`Z3_OP_AND`, ...; -1 for a quantifier), through Z3's C API: z3py's `is_and`
    and `is_true` each build wrapper objects, which cost a second per query at 50 assets."""
    ref, ast = e.ctx.ref(), e.as_ast()
    if z3.Z3_get_ast_kind(ref, ast) != z3.Z3_APP_AST:
        return -1
    return int(z3.Z3_get_decl_kind(ref, z3.Z3_get_app_decl(ref, ast)))


class _Scan:
    """Per term: the assets whose constants it mentions, and whether it contains one of `sum_ids`.

    Each distinct subterm is visited once for all the conjuncts scanned (they share most of their
    subterms); walking every conjunct afresh cost seconds of Python at 50 assets, more than the solver.
    """

    def __init__(self, structure: Structure, sum_ids: set[int]) -> None:
        self.structure = structure
        self.sum_ids = sum_ids
        self.memo: dict[int, tuple[frozenset[str], bool]] = {}

    def __call__(self, root: z3.ExprRef) -> tuple[frozenset[str], bool]:
        memo = self.memo
        kids: dict[int, list[z3.ExprRef]] = {}
        stack = [root]
        while stack:
            e = stack[-1]
            i = e.get_id()
            if i in memo:
                stack.pop()
                continue
            if i not in kids:
                kids[i] = e.children()
                stack.extend(k for k in kids[i] if k.get_id() not in memo)
                continue
            stack.pop()
            if z3.is_const(e) and e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
                asset = self.structure.owner(e)
                memo[i] = (frozenset() if asset is None else frozenset((asset,)), i in self.sum_ids)
                continue
            owners: frozenset[str] = frozenset()
            has_sum = i in self.sum_ids
            for k in kids[i]:
                o, h = memo[k.get_id()]
                owners, has_sum = owners | o, has_sum or h
            memo[i] = (owners, has_sum)
        return memo[root.get_id()]


def by_asset(assertions: list[z3.BoolRef], structure: Structure, solve: Solve) -> Split | None:
    """Per-asset lemmas and an abstract final step; None when the query has no sum over several assets."""
    present = _subterm_ids(assertions)
    sums = [s for i, s in sorted(structure.sums.items()) if i in present and len(s.parts) > 1]
    if not sums or len(structure.assets) < 2:
        return None
    assets = structure.assets
    # t[k][a]: the abstract value of asset a's summand of sum k
    t = [{a: z3.Real(f"sum{k}.{a}") for a, _ in s.parts} for k, s in enumerate(sums)]
    subst = [(s.term, z3.Sum([t[k][a] for a, _ in s.parts])) for k, s in enumerate(sums)]
    sum_ids = {s.term.get_id() for s in sums}
    local: dict[str, list[z3.BoolRef]] = {a: [] for a in assets}
    shared: list[z3.BoolRef] = []
    final: list[z3.BoolRef] = []
    scan = _Scan(structure, sum_ids)
    for c in _conjuncts(assertions):
        named, has_sum = scan(c)
        if has_sum:
            final.append(z3.substitute(c, *subst))
            continue
        if not named:
            shared.append(c)
            final.append(c)
        elif len(named) == 1:
            local[next(iter(named))].append(c)
        else:
            final.append(z3.substitute(c, *subst))  # about several assets: kept, abstracted
    summand = [dict(s.parts) for s in sums]
    lemmas: list[z3.BoolRef] = []
    tried: set[tuple[int, ...]] = set()
    for _ in range(_MAX_ROUNDS):
        outcome = solve([*final, *lemmas])
        if outcome.status == "unsat":
            return Split(outcome, f"per asset, {len(lemmas)} lemmas over {len(assets)} assets")
        if outcome.status != "sat" or outcome.model is None:
            return Split(outcome, "per asset: the final step is open")
        model = outcome.model
        values = [{a: model.eval(t[k][a], model_completion=True) for a in assets} for k in range(len(sums))]
        added = False
        for coeffs in _templates(len(sums)):
            if coeffs in tried:
                continue
            broken = [a for a in assets if _violates(coeffs, [values[k][a] for k in range(len(sums))])]
            if not broken:
                continue
            tried.add(coeffs)
            # The assets whose part of the model this lemma would exclude first: if it holds for none
            # of them it does not help now, and the others are not asked.
            order = [*broken, *(a for a in assets if a not in broken)]
            for a in order:
                if not added and a not in broken:
                    break
                body = z3.Sum([c * summand[k][a] for k, c in enumerate(coeffs) if c])
                if solve([*shared, *local[a], body < 0]).status == "unsat":
                    lemmas.append(z3.Sum([c * t[k][a] for k, c in enumerate(coeffs) if c]) >= 0)
                    added = True
            if added:
                break
        if not added:
            joined = _realise(assertions, structure, model, sums, t, shared, local, solve)
            if joined is not None:
                return Split(Outcome("sat", joined, "", "z3"), f"per asset, {len(assets)} assets realised")
            culprit = _one_culprit(assertions, structure, sums, local, solve)
            if culprit is not None:
                asset, found = culprit
                return Split(Outcome("sat", found, "", "z3"), f"per asset, with every asset but {asset} idle")
            return Split(
                Outcome("unknown", None, "per asset: no lemma excludes the final step's model", "z3"),
                "per asset",
            )
    return Split(Outcome("unknown", None, "per asset: too many rounds of lemmas", "z3"), "per asset")


def _one_culprit(
    assertions: list[z3.BoolRef],
    structure: Structure,
    sums: list[SumUse],
    local: dict[str, list[z3.BoolRef]],
    solve: Solve,
) -> tuple[str, z3.ModelRef] | None:
    """A violation that one asset causes alone: every other asset idle (its summands all zero).

    Each asset's idle state is found from its own constraints; then, asset by asset in order, the
    whole query is asked with every other asset's constants fixed to their idle values (a query
    about one asset and the shared constants). The first model found is checked as a whole.
    """
    idle: dict[str, list[z3.BoolRef]] = {}
    for a in local:
        zero = [term == 0 for s in sums for b, term in s.parts if b == a]
        answer = solve([*local[a], *zero])
        if answer.status != "sat" or answer.model is None:
            return None
        m = answer.model
        idle[a] = [
            c == m.eval(c, model_completion=True) for c in free_constants([*local[a], *zero]) if structure.owner(c) == a
        ]
    for a in local:
        pins = [p for b, ps in idle.items() if b != a for p in ps]
        answer = solve([*assertions, *pins])
        if answer.status == "sat" and answer.model is not None and _satisfies(answer.model, assertions):
            return a, answer.model
    return None


def _templates(n: int) -> Iterator[tuple[int, ...]]:
    """Coefficient vectors in {-1, 0, 1}^n with at most `_MAX_TEMPLATE_SUMS` non-zeros, fewest first."""
    width = min(n, _MAX_TEMPLATE_SUMS)
    for size in range(1, width + 1):
        for chosen in itertools.combinations(range(n), size):
            for signs in itertools.product((1, -1), repeat=size):
                coeffs = [0] * n
                for i, s in zip(chosen, signs, strict=True):
                    coeffs[i] = s
                yield tuple(coeffs)


def _violates(coeffs: tuple[int, ...], values: list[z3.ExprRef]) -> bool:
    total = Fraction(0)
    for c, v in zip(coeffs, values, strict=True):
        if not c:
            continue
        if not z3.is_rational_value(v):
            return False
        total += c * Fraction(v.numerator_as_long(), v.denominator_as_long())
    return total < 0


def _realise(
    assertions: list[z3.BoolRef],
    structure: Structure,
    model: z3.ModelRef,
    sums: list[SumUse],
    t: list[dict[str, z3.ArithRef]],
    shared: list[z3.BoolRef],
    local: dict[str, list[z3.BoolRef]],
    solve: Solve,
) -> z3.ModelRef | None:
    """Each asset's part of the final step's model realised on its own, joined, and checked as a whole.

    The shared constants keep the final step's values; asset a's constants are chosen so that its
    summands take the values the final step gave them. Assets do not constrain each other except
    through the sums and the shared constants, so the parts join into a model of the whole query
    (checked, not assumed: a conjunct about several assets may still refuse it).
    """
    consts = free_constants(assertions)
    pins = [c == model.eval(c, model_completion=True) for c in consts if structure.owner(c) is None]
    parts: dict[str, z3.ModelRef] = {}
    for a in local:
        goal = [
            term == model.eval(t[k][a], model_completion=True)
            for k, s in enumerate(sums)
            for b, term in s.parts
            if b == a
        ]
        answer = solve([*shared, *pins, *local[a], *goal])
        if answer.status != "sat" or answer.model is None:
            return None
        parts[a] = answer.model
    fixed = []
    for c in consts:
        owner = structure.owner(c)
        source = model if owner is None else parts.get(owner, model)
        fixed.append(c == source.eval(c, model_completion=True))
    joined = solve([*assertions, *fixed])
    if joined.status == "sat" and joined.model is not None and _satisfies(joined.model, assertions):
        return joined.model
    return None
