"""One population through one scenario, exactly, on the vectorized back end (`dsl.vector`).

The accounts live in `Book`s: a book holds, for its accounts, one integer
column per per-account state over one scale per column. Accounts whose
numbers fit run in an `int64` book; when an evaluation would overflow (the
back end raises `Overflow` before any operation could wrap), the book is
split: the accounts small enough to evaluate in int64 (found by probing the
step's formulas with smaller bounds, on no data) stay, the others move to an
`object` book, whose numbers are Python integers. Every account gets the
answer the Python back end would give it; only the speed differs.

A step (`Stepper.step`): the inputs take the scenario's values; then, round
after round (at most `max_rounds`), each action that fires (`Rules.actions`,
in the spec's order) is taken on every account where its guard holds, in
account order. An action that updates or reads a shared state is taken one
account at a time, so each sees the shared values the previous one left
(sequential semantics); the others are taken on all their accounts at once.
An account for which a guard or an update is undefined (division by zero, a
table gap) is not changed by that action and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from checker.stress.books import (
    Book,
    Columns,
    OneAccount,
    negative_part,
    select,
    shared_value,
    undefined_mask,
    write,
)
from checker.stress.rules import Rules, reads
from dsl import ir
from dsl import vector as V
from dsl.symmetry import copy_name
from dsl.units import BOOL
from dsl.vector_compile import Compiled

LIMIT = V.LIMIT
# Where a book that would overflow is cut: the share of each column's magnitudes kept, largest first.
SPLIT_QUANTILES = (Fraction(9999, 10000), Fraction(999, 1000), Fraction(99, 100), Fraction(9, 10), Fraction(1, 2),
                   Fraction(0))


@dataclass(slots=True)
class StepTally:
    """What happened to one book in one step."""

    fired: int = 0
    bad_debt: Fraction = Fraction(0)
    undefined: list[tuple[int, str]] = field(default_factory=list)  # (population row, message)
    first_fired: list[Any] = field(default_factory=list)  # population rows an action fired on
    actors: list[int] = field(default_factory=list)  # a book's members (1-based) an action fired on


class Stepper:
    """The compiled rules of a run: evaluates and applies them to books."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.code = Compiled(rules.program)
        p = rules.program
        self.shared_names = {k for s in rules.shared for k in rules.state_key(s)}
        self.shared_flags = {k for s in rules.shared if s.ty == BOOL for k in rules.state_key(s)}
        self.keys = rules.columns()
        self.equity = self.code.let("equity") if p.role("equity") is not None else None
        self.guards = {a.name: self.code.expr(a.guard) if a.guard is not None else None for a in rules.actions}
        self.updates = {a.name: [kc for u in a.updates for kc in self._update(u)] for a in rules.actions}
        self.locals = {a.name: [(let.sym.name, self.code.expr(let.expr)) for let in a.locals] for a in rules.actions}
        self.choices = {
            a.name: [(sym.name, self.code.expr(c)) for sym, c in zip(a.args, a.choices, strict=False)]
            for a in rules.actions
        }
        self.sequential = {a.name: self._touches_shared(a) for a in rules.actions}
        self.guard_shared = {
            a.name: a.guard is not None and bool(reads(a.guard, p) & {s.name for s in rules.shared})
            for a in rules.actions
        }
        # A book of members (checker.stress.book): one row holds every member and the shared states,
        # so nothing is shared between rows; an action copy's bad debt is its actor's equity.
        self.actors: dict[str, tuple[int, ...]] = {}
        self.equity_for: dict[str, V.Code] = {}
        if rules.members:
            from checker.stress.book import actors, pair_actions

            pairs = pair_actions(rules)
            self.shared_names, self.shared_flags = set(), set()
            self.sequential = dict.fromkeys(self.sequential, False)
            self.guard_shared = dict.fromkeys(self.guard_shared, False)
            for a in rules.actions:
                self.actors[a.name] = actors(a.name, pairs)
                if p.role("equity") is not None:
                    self.equity_for[a.name] = self.code.let(copy_name("equity", self.actors[a.name][0]))

    def _update(self, u: ir.Update) -> list[tuple[str, V.Code]]:
        """The columns an update writes and their values' code: `x'`, `x'[BTC]`, or one per asset for
        `x'[a in assets] = e` (e with `a` bound to each asset)."""
        match u.index:
            case None:
                return [(u.sym.name, self.code.expr(u.expr))]
            case ir.AssetName(name=asset):
                return [(f"{u.sym.name}[{asset}]", self.code.expr(u.expr))]
            case ir.BoundVar(name=var):
                return [(f"{u.sym.name}[{a}]", self.code.expr(u.expr, {var: a})) for a in self.rules.program.assets]
        raise AssertionError(f"unknown index {u.index!r}")

    def _touches_shared(self, a: ir.Action) -> bool:
        shared = {s.name for s in self.rules.shared}
        if any(u.sym.name in shared for u in a.updates):
            return True
        exprs = [u.expr for u in a.updates] + [let.expr for let in a.locals]
        return any(reads(e, self.rules.program) & shared for e in exprs)

    # ---- frames --------------------------------------------------------------------------------------

    def frame(self, book: Book, scalars: dict[str, Fraction], mask: Any = None) -> V.Frame:
        """A frame of `book`'s accounts (those of `mask`), with the inputs, parameters and shared states."""
        size = len(book.rows) if mask is None else int(np.count_nonzero(mask)) if mask.dtype == bool else len(mask)
        values = Columns(book, mask)
        for name, value in scalars.items():
            values[name] = shared_value(value)
        return V.Frame(size, values, checked=book.checked)

    def probe(self, book: Book, scalars: dict[str, Fraction],
              caps: dict[str, tuple[int, int]] | None = None) -> bool:
        """Whether every formula of a step fits int64 for accounts within `caps`, a range per key
        (default: the book's ranges)."""
        values: dict[str, V.Value] = {}
        empty = np.zeros(0, dtype=np.int64)
        for key in book.ints:
            lo, hi = caps[key] if caps is not None else book.range(key)
            values[key] = V.Bool(np.zeros(0, dtype=bool)) if key in book.flags else V.Num(
                empty, book.scale[key], lo, hi, book.scale[key])
        for name, value in scalars.items():
            values[name] = shared_value(value)
        frame = V.Frame(0, values, checked=True)
        try:
            if self.equity is not None:
                self.equity(frame)
            for a in self.rules.actions:
                self._chosen(a, frame)
                guard = self.guards[a.name]
                if guard is not None:
                    guard(frame)
                self._updates(a, frame)
        except V.Overflow:
            return False
        return True

    def split(self, book: Book, scalars: dict[str, Fraction]) -> list[Book]:
        """`book` as books that each evaluate without overflow: int64 where the step fits, object elsewhere."""
        if not book.checked or self.probe(book, scalars):
            return [book]
        # Keep the accounts whose every column is within a quantile of that column's magnitudes, from the
        # largest quantile down, until the step's formulas fit int64 for the accounts kept: the probe runs
        # on no data, with each column's range over the kept accounts (bounds are monotone in the ranges,
        # and a range of the values actually kept stays tight: entry prices near the mark keep `mark -
        # entry` small). The rest are the large accounts, evaluated with Python integers.
        size = len(book.rows)
        magnitudes = {k: np.abs(v) for k, v in book.ints.items()}
        for q in SPLIT_QUANTILES:
            rank = int((size - 1) * q)
            small = np.ones(size, dtype=bool)
            for m in magnitudes.values():
                small &= m <= np.partition(m, rank)[rank]
            if not small.any():
                continue
            caps = {k: (int(np.min(v[small])), int(np.max(v[small]))) for k, v in book.ints.items()}
            if self.probe(book, scalars, caps):
                parts = [book.take(small), book.take(~small, checked=False)]
                return [b for b in parts if len(b.rows)]
        return [book.take(np.ones(size, dtype=bool), checked=False)]

    # ---- a step --------------------------------------------------------------------------------------

    def _chosen(self, a: ir.Action, frame: V.Frame) -> None:
        """A forced action's chosen arguments, into `frame` (its guard and updates read them)."""
        for name, code in self.choices[a.name]:
            if name not in frame.values:
                frame.values[name] = code(frame)

    def _updates(self, a: ir.Action, frame: V.Frame) -> list[tuple[str, V.Num]]:
        """The values of `a`'s updates (its chosen arguments and locals first), true/false as 0 and 1."""
        self._chosen(a, frame)
        for name, code in self.locals[a.name]:
            frame.values[name] = code(frame)
        out = []
        for key, code in self.updates[a.name]:
            value = code(frame)
            if isinstance(value, V.Bool):  # a true/false state: stored as 0 and 1
                flag = value.v if isinstance(value.v, bool) else np.asarray(value.v, dtype=np.int64)
                value = V.Num(int(flag) if isinstance(flag, bool) else flag, 1, 0, 1, 1, value.u)
            out.append((key, value))
        return out

    def fire(self, book: Book, scalars: dict[str, Fraction], shared: dict[str, Any],
             tally: StepTally, candidates: Any) -> Any:
        """Take every action once on the accounts of `candidates` where its guard holds: the accounts it fired on."""
        fired_any = np.zeros(len(book.rows), dtype=bool)
        for a in self.rules.actions:
            if self.sequential[a.name]:
                fired = self._fire_one_by_one(a, book, scalars, shared, tally, candidates)
            else:
                fired = self._fire_all(a, book, {**scalars, **shared}, tally, candidates)
            fired_any |= fired
        return fired_any

    def _guard(self, a: ir.Action, book: Book, scalars: dict[str, Fraction], mask: Any,
               tally: StepTally) -> Any:
        """The guard of `a` on the accounts of `mask` (a bool array over the book)."""
        guard = self.guards[a.name]
        if guard is None:
            return mask.copy()
        frame = self.frame(book, scalars, mask)
        self._chosen(a, frame)
        g = V._bool(guard(frame))
        g = V.Bool(g.v, _undefined_choices(self.choices[a.name], frame, g.u))
        holds = np.zeros(len(book.rows), dtype=bool)
        where = np.flatnonzero(mask)
        value = g.v if not isinstance(g.v, bool) else np.full(len(where), g.v)
        undefined = undefined_mask(g.u, len(where))
        holds[where] = value & ~undefined
        for i in where[undefined]:
            tally.undefined.append((int(book.rows[i]), f"the guard of `{a.name}` is undefined"))
        return holds

    def _fire_all(self, a: ir.Action, book: Book, scalars: dict[str, Fraction], tally: StepTally,
                  candidates: Any) -> Any:
        holds = self._guard(a, book, scalars, candidates, tally)
        if not holds.any():
            return holds
        frame = self.frame(book, scalars, holds)
        self._bad_debt(a, frame, tally)
        updates = self._updates(a, frame)
        where = np.flatnonzero(holds)
        bad = np.zeros(len(where), dtype=bool)
        for _, value in updates:
            bad |= undefined_mask(value.u, len(where))
        for i in where[bad]:
            tally.undefined.append((int(book.rows[i]), f"an update of `{a.name}` is undefined"))
        good = where[~bad]
        for key, value in updates:
            write(book, key, good, select(value, ~bad))
        tally.fired += len(good)
        tally.first_fired.append(book.rows[good])
        if len(good) and a.name in self.actors:
            tally.actors.extend(self.actors[a.name])
        out = np.zeros(len(book.rows), dtype=bool)
        out[good] = True
        return out

    def _fire_one_by_one(self, a: ir.Action, book: Book, scalars: dict[str, Fraction],
                         shared: dict[str, Any], tally: StepTally, candidates: Any) -> Any:
        """Take `a` account after account (it reads or writes a shared state). Each account is evaluated
        on a frame of Python integers: exact, no overflow, and without numpy's cost per call."""
        out = np.zeros(len(book.rows), dtype=bool)
        if not self.guard_shared[a.name]:
            order = np.flatnonzero(self._guard(a, book, {**scalars, **shared}, candidates, tally))
        else:
            order = np.flatnonzero(candidates)
        guard = self.guards[a.name]
        for i in order.tolist():
            frame = self._row_frame(book, i, {**scalars, **shared})
            if self.guard_shared[a.name] and guard is not None:
                self._chosen(a, frame)
                holds = V._bool(guard(frame))
                holds = V.Bool(holds.v, _undefined_choices(self.choices[a.name], frame, holds.u))
                if holds.u is not None and holds.u is not False:
                    tally.undefined.append((int(book.rows[i]), f"the guard of `{a.name}` is undefined"))
                    continue
                if not holds.v:
                    continue
            self._apply_one(a, book, frame, shared, i, tally)
            out[i] = True
        return out

    def _row_frame(self, book: Book, i: int, scalars: dict[str, Any]) -> V.Frame:
        """A frame of account i alone, every value a Python integer (unchecked: Python ints never overflow)."""
        values = OneAccount(book, i)
        for name, value in scalars.items():
            values[name] = shared_value(value)
        return V.Frame(1, values, checked=False)

    def _apply_one(self, a: ir.Action, book: Book, frame: V.Frame, shared: dict[str, Any], i: int,
                   tally: StepTally) -> None:
        updates = self._updates(a, frame)
        if any(undefined_mask(v.u, 1)[0] for _, v in updates):
            tally.undefined.append((int(book.rows[i]), f"an update of `{a.name}` is undefined"))
            return
        self._bad_debt(a, frame, tally)
        for key, value in updates:
            if key in self.shared_flags:
                shared[key] = bool(V.fraction_at(value, 0))  # a true/false state
            elif key in self.shared_names:
                shared[key] = V.fraction_at(value, 0)
            else:
                write(book, key, np.array([i]), value)
        tally.fired += 1
        tally.first_fired.append(book.rows[[i]])

    def _bad_debt(self, a: ir.Action, frame: V.Frame, tally: StepTally) -> None:
        equity_code = self.equity_for.get(a.name, self.equity)
        if equity_code is None or frame.size == 0:
            return
        equity = V._num(equity_code(frame))
        tally.bad_debt += negative_part(equity, frame.size)

    def equity_of(self, book: Book, scalars: dict[str, Fraction]) -> V.Num | None:
        """Every account's equity in `book` at `scalars` (None when the spec has no equity role)."""
        if self.equity is None:
            return None
        return V._num(self.equity(self.frame(book, scalars)))


def _undefined_choices(choices: list[tuple[str, Any]], frame: V.Frame, u: Any) -> Any:
    """Where the guard is undefined, or a chosen argument is: the forced action is not enabled there."""
    for name, _ in choices:
        value = frame.values[name]
        if value.u is not None and value.u is not False:
            u = value.u if u is None or u is False else u | value.u
    return u
