"""A stress run: a population through scenarios, in shards, merged into one exact report.

`plan` cuts the work into `Shard`s (picklable: the spec travels as text, so a
Dask worker needs solvent, not the files); `run_shard` runs one (pure: the
same shard gives the same result anywhere); `merge` puts the shards' results
together in shard order. `stress` does all three in this process.

Shards split the scenarios, and the population too when the accounts are
independent (a one-account spec, or an accounts spec whose firing actions
touch no shared state). When they share a state (an insurance fund drawn
account after account), a scenario runs over the whole population in one
shard: splitting it would change the order the fund is drawn in.

Per scenario the report has one row per step: step 0 is the starting point
(the forced actions already enabled there fire), each later step one move of
the inputs. An account's loss is its equity at the start minus its equity at
the end (the `equity` role, at each point's inputs).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from checker.stress import book as members
from checker.stress import exact
from checker.stress.books import Book, exact_sum
from checker.stress.engine import Stepper, StepTally
from checker.stress.exact import Exact
from checker.stress.merge import MAX_UNDEFINED, Part, ShardResult, report
from checker.stress.model import (
    Population,
    Scenario,
    StressOptions,
    StressReport,
    Undefined,
    number_text,
)
from checker.stress.rules import ReadsOtherAccounts, Rules, StressError, reads
from dsl import vector as V
from dsl.symmetry import copy_name
from dsl.units import BOOL
from dsl.vector_compile import Compiled


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    spec_text: str
    spec_path: str
    population: Population
    offset: int  # the population slice's first account
    scenarios: tuple[Scenario, ...]
    options: StressOptions


def _rules(spec_text: str, spec_path: str, options: StressOptions) -> tuple[Rules, Stepper]:
    key = (options.actions, options.fund, tuple(sorted(options.params.items())))
    return _compiled(spec_text, spec_path, key)


@functools.lru_cache(maxsize=8)
def _compiled(spec_text: str, spec_path: str, key: tuple[Any, ...]) -> tuple[Rules, Stepper]:
    """The rules and their compiled form, once per process and spec (a worker runs many shards)."""
    import dsl

    actions, fund, params = key
    program = dsl.loads(spec_text, spec_path).program
    options = StressOptions(actions=actions, fund=fund, params=dict(params))
    try:
        rules = Rules.of(program, options)
    except ReadsOtherAccounts:
        if not program.accounts:
            raise
        rules = Rules.of(program, options, members=program.accounts)  # a book (checker.stress.book)
    return rules, Stepper(rules)


def rules_of(spec_text: str, spec_path: str, options: StressOptions) -> Rules:
    """The rules a run of this spec with these options applies (StressError when it cannot run)."""
    return _rules(spec_text, spec_path, options)[0]


def independent(rules: Rules) -> bool:
    """Whether the accounts can be split into shards: no firing action touches a shared state (and the
    accounts are not the members of one book)."""
    if rules.members:
        return False
    shared = {s.name for s in rules.shared}
    for a in rules.actions:
        exprs = [u.expr for u in a.updates] + [let.expr for let in a.locals] + ([a.guard] if a.guard else [])
        if any(u.sym.name in shared for u in a.updates) or any(reads(e, rules.program) & shared for e in exprs):
            return False
    return True


def plan(spec_text: str, spec_path: str, population: Population, scenarios: Sequence[Scenario],
         options: StressOptions, accounts_per_shard: int = 250_000) -> list[Shard]:
    """The shards of a run: scenario by scenario, and population slices where the accounts are independent."""
    rules = rules_of(spec_text, spec_path, options)
    step = accounts_per_shard if independent(rules) else max(population.size, 1)
    shards: list[Shard] = []
    for scenario in scenarios:
        for start in range(0, max(population.size, 1), step):
            stop = min(start + step, population.size)
            part = population if (start, stop) == (0, population.size) else population.slice(start, stop)
            shards.append(Shard(len(shards), spec_text, spec_path, part, start, (scenario,), options))
    return shards


def run_shard(shard: Shard) -> ShardResult:
    """One shard's results (pure: no clock, no randomness, no file)."""
    rules, stepper = _rules(shard.spec_text, shard.spec_path, shard.options)
    parts = tuple(
        _run(rules, stepper, shard.population, s, shard.options, shard.offset)[0] for s in shard.scenarios
    )
    return ShardResult(shard.index, parts)


def simulate(spec_text: str, spec_path: str, population: Population, scenario: Scenario,
             options: StressOptions | None = None) -> tuple[Part, dict[str, list[Fraction]], dict[str, Any]]:
    """One scenario over the whole population: its part, every account's final states (a book's: its
    one row, every member's copies), the shared ones."""
    options = options or StressOptions()
    rules, stepper = _rules(spec_text, spec_path, options)
    part, books, shared = _run(rules, stepper, population, scenario, options)
    rows = 1 if rules.members else population.size  # a book of members is one row
    final: dict[str, list[Fraction]] = {k: [Fraction(0)] * rows for k in rules.columns()}
    for book in books:
        for key, column in book.ints.items():
            for row, n in zip(book.rows.tolist(), column.tolist(), strict=True):
                final[key][row] = Fraction(int(n), book.scale[key])
    return part, final, shared


def stress(spec_text: str, spec_path: str, population: Population, scenarios: Sequence[Scenario],
           options: StressOptions | None = None, accounts_per_shard: int = 250_000) -> StressReport:
    """The whole run in this process (the CLI and `checker.stress.distribute` do the same over workers)."""
    options = options or StressOptions()
    shards = plan(spec_text, spec_path, population, scenarios, options, accounts_per_shard)
    return merge(spec_text, spec_path, population, scenarios, options, [run_shard(s) for s in shards])


# ---- one scenario over one slice ----------------------------------------------------------------------


def _books(rules: Rules, population: Population) -> list[Book]:
    if rules.members:
        return [members.book_of(rules, population)]
    keys = rules.columns()
    missing = [k for k in keys if k not in population.columns]
    if missing:
        raise StressError("the population has no column " + ", ".join(f"`{k}`" for k in missing))
    ints = {k: population.columns[k].ints for k in keys}
    scale = {k: population.columns[k].scale for k in keys}
    rows = np.arange(population.size)
    flags = frozenset(k for s in rules.per_account if s.ty == BOOL for k in rules.state_key(s))
    if all(getattr(v, "dtype", None) == np.int64 for v in ints.values()):
        return [Book(rows, {k: np.array(v) for k, v in ints.items()}, scale, True, flags=flags)]
    whole = Book(rows, {k: np.asarray(v, dtype=object) for k, v in ints.items()}, scale, False, flags=flags)
    fits = np.ones(population.size, dtype=bool)
    for v in whole.ints.values():
        fits &= np.array([abs(int(x)) <= V.LIMIT for x in v], dtype=bool)
    small = whole.take(fits, checked=False)
    small = Book(small.rows, {k: v.astype(np.int64) for k, v in small.ints.items()}, small.scale, True, flags=flags)
    return [b for b in (small, whole.take(~fits)) if len(b.rows)]


def _one_book(books: list[Book]) -> Book:
    """The accounts of `books` as one book of Python integers, in population order."""
    rows = np.concatenate([b.rows for b in books])
    order = np.argsort(rows, kind="stable")
    ints = {}
    scale = {}
    for key in books[0].ints:
        common = math.lcm(*(b.scale[key] for b in books))
        parts = [b.ints[key].astype(object) * (common // b.scale[key]) for b in books]
        ints[key] = np.concatenate(parts)[order]
        scale[key] = common
    return Book(rows[order], ints, scale, False, flags=books[0].flags)


def _inputs_at(rules: Rules, scenario: Scenario, t: int, options: StressOptions) -> dict[str, Fraction]:
    values = dict(options.start)
    values.update(zip(scenario.inputs, scenario.steps[t], strict=True))
    wanted = [k for s in rules.program.inputs if not s.name.count("#") for k in rules.state_key(s)]
    missing = [k for k in wanted if k not in values]
    if missing:
        raise StressError(
            f"scenario `{scenario.name}` gives no value of input " + ", ".join(f"`{k}`" for k in missing)
            + "; give a starting value with --start NAME=VALUE"
        )
    return {k: values[k] for k in wanted}


def _check_inputs(rules: Rules, code: Compiled, scenario: Scenario, t: int, scalars: dict[str, Fraction]) -> None:
    inputs = {s.name for s in rules.program.inputs}
    frame = V.Frame(1, {k: V.const(v) for k, v in scalars.items()}, checked=False)
    for w in rules.program.wheres:
        if not reads(w.expr, rules.program) <= inputs | set(rules.params):
            continue
        value = V._bool(code.expr(w.expr)(frame))
        if value.v is False or value.u is True:
            shown = ", ".join(f"{k} = {number_text(v)}" for k, v in scalars.items() if k.split("[")[0] in inputs)
            raise StressError(
                f"scenario `{scenario.name}`, step {t}: the inputs break `where` `{w.name}` "
                f"({w.span.where}): {shown}"
            )


def _outside(rules: Rules, code: Compiled, before: dict[str, Fraction], after: dict[str, Fraction]) -> bool:
    """Whether the move from `before` to `after` leaves every env move's range for some input."""
    frame = V.Frame(1, {k: V.const(v) for k, v in {**rules.params, **before}.items()}, checked=False)
    for key, value in after.items():
        if value == before.get(key):
            continue
        ranges = []
        for env in rules.program.envs:
            for u in env.updates:
                name = u.sym.name if u.index is None else f"{u.sym.name}[{getattr(u.index, 'name', '')}]"
                if name != key:
                    continue
                try:
                    lo, hi = V._num(code.expr(u.lo)(frame)), V._num(code.expr(u.hi)(frame))
                except KeyError:  # the range reads a state: not decided per scenario
                    continue
                ranges.append((V.fraction_at(lo, 0), V.fraction_at(hi, 0)))
        if ranges and not any(lo <= value <= hi for lo, hi in ranges):
            return True
    return False


def _run(rules: Rules, stepper: Stepper, population: Population, scenario: Scenario,
         options: StressOptions, offset: int = 0) -> tuple[Part, list[Book], dict[str, Any]]:
    if len(scenario.steps) == 0:
        raise StressError(f"scenario `{scenario.name}` has no steps")
    books = _books(rules, population)
    flags = {k for s in rules.shared if s.ty == BOOL for k in rules.state_key(s)}
    keys = rules.shared_keys()
    shared: dict[str, Any] = {k: (bool(v) if k in flags else v) for k, v in population.shared.items() if k in keys}
    missing = [k for k in rules.shared_keys() if k not in shared]
    if missing:
        raise StressError("no starting value of shared state " + ", ".join(f"`{k}`" for k in missing)
                          + "; give it with --shared NAME=VALUE")
    if rules.members:
        shared = {}  # a book holds its shared states in its one row
    size = population.size
    liquidated_at = np.full(size, -1, dtype=np.int64)
    start_equity: Exact | None = None
    rows: dict[str, list[Any]] = {
        k: [] for k in ("liq", "bad", "undef", "totals", "shared", "outside", "inputs", "fund")
    }
    undefined: list[Undefined] = []
    previous: dict[str, Fraction] | None = None
    for t in range(len(scenario.steps)):
        inputs = _inputs_at(rules, scenario, t, options)
        _check_inputs(rules, stepper.code, scenario, t, {**inputs, **rules.params})
        scalars = {**inputs, **rules.params}
        if t == 0:
            start_equity = _equity(stepper, books, scalars, size)
        tally = StepTally()
        new_books: list[Book] = []
        for book in books:
            new_books += stepper.split(book, {**scalars, **shared})
        books = new_books
        if len(books) > 1 and not independent(rules):
            # Accounts draw on a shared state one after another in population order, which books taken
            # one after the other would not keep: the whole population is one book of Python integers.
            books = [_one_book(books)]
        for book in books:
            candidates = np.ones(len(book.rows), dtype=bool)
            for _ in range(options.max_rounds):
                if not candidates.any():
                    break
                candidates = stepper.fire(book, scalars, shared, tally, candidates)
        if rules.members:
            for member in tally.actors:
                if liquidated_at[member - 1] < 0:
                    liquidated_at[member - 1] = t
        for fired in tally.first_fired if not rules.members else ():
            first = liquidated_at[fired] < 0
            liquidated_at[fired[first]] = t
        for row, message in tally.undefined:
            if len(undefined) < MAX_UNDEFINED:
                who = "the book" if rules.members else population.account_id(int(row))
                undefined.append(Undefined(who, t, message))
        rows["liq"].append(tally.fired)
        rows["bad"].append(tally.bad_debt)
        rows["undef"].append(len(tally.undefined))
        totals = members.member_totals(rules, books[0]) if rules.members else _totals(rules, books)
        now = members.shared_values(rules, books[0]) if rules.members else dict(shared)
        rows["totals"].append(totals)
        rows["shared"].append(now)
        rows["fund"].append(_fund(rules, stepper, books, scalars, now, totals))
        rows["outside"].append(previous is not None and _outside(rules, stepper.code, previous, inputs))
        rows["inputs"].append(inputs)
        previous = inputs
    end = _equity(stepper, books, scalars, size)
    losses = None
    if start_equity is not None and end is not None:
        losses = exact.minus(start_equity, end)
    part = Part(
        scenario.name, tuple(rows["liq"]), tuple(rows["bad"]), tuple(rows["undef"]), tuple(rows["totals"]),
        tuple(rows["shared"]), tuple(rows["outside"]), tuple(rows["inputs"]),
        offset, losses, liquidated_at,
        tuple(undefined), tuple(rows["fund"]),
    )
    return part, books, shared


def _fund(rules: Rules, stepper: Stepper, books: list[Book], scalars: dict[str, Fraction],
          shared: dict[str, Any], totals: dict[str, Fraction]) -> Fraction | None:
    """The fund after a step: a shared state, a per-account state summed, or a book's let."""
    if rules.fund is None:
        return None
    if rules.fund in shared:
        return Fraction(shared[rules.fund])
    if rules.fund in totals:
        return totals[rules.fund]
    value = V._num(stepper.code.let(rules.fund)(stepper.frame(books[0], scalars)))  # a book's let
    return V.fraction_at(value, 0)


def _equity(stepper: Stepper, books: list[Book], scalars: dict[str, Fraction], size: int) -> Exact | None:
    """Every account's equity, in population order (None without an equity role); a book's members'."""
    if stepper.equity is None:
        return None
    if stepper.rules.members:
        frame = stepper.frame(books[0], scalars)
        each = [V._num(stepper.code.let(copy_name("equity", k))(frame)) for k in range(1, size + 1)]
        return exact.gather(size, [(np.array([k]), m) for k, m in enumerate(each)])
    pieces = []
    for book in books:
        try:
            value = stepper.equity_of(book, scalars)
        except V.Overflow:
            value = stepper.equity_of(book.take(np.ones(len(book.rows), dtype=bool), checked=False), scalars)
        assert value is not None
        pieces.append((book.rows, value))
    return exact.gather(size, pieces)


def _totals(rules: Rules, books: list[Book]) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}
    for key in rules.columns():
        total = Fraction(0)
        for book in books:
            total += Fraction(exact_sum(book.ints[key], book.bound(key)), book.scale[key])
        out[key] = total
    return out


# ---- merging --------------------------------------------------------------------------------------------


def merge(spec_text: str, spec_path: str, population: Population, scenarios: Sequence[Scenario],
          options: StressOptions, results: Sequence[ShardResult]) -> StressReport:
    """The report of a run from its shards' results (in shard order, whatever order they finished in)."""
    return report(rules_of(spec_text, spec_path, options), spec_path, population, scenarios, options, results)
