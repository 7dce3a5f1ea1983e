"""A generated book of accounts for a stress run: seeded, exact, valid, and mostly healthy at the start.

`generate_population(program, size, seed, start)` draws `size` accounts with `numpy.random.default_rng(seed)`
(Hypothesis, which the spec's test strategies use, is far too slow for 10^6 accounts). The same
spec, size, seed, starting inputs and numpy give the same population. How each per-account state
is drawn depends on its unit and its `where` (what `checker.testing.strategies` also reads):

- the *money unit* is the unit of the spec's `equity` role (USD); an account's scale is 10,000 of it;
- a state in the unit of an input (`entry: USD/BTC` like `mark`) starts within ±5% of that input's
  starting value (`start`, e.g. mark = 60000), per asset for an indexed one;
- an amount in the money unit, or in a unit an input or parameter prices (`size: BTC` at `mark`,
  `supplied[a]: COIN` at `price[a]`, `debt: USDC` at `usdc_price`), is worth 10,000 money units times
  the account's wealth 10^w times its own 10^v, v uniform in [-1, 1] (so an account's amounts
  are of one size, a whale holds large collateral and a large position, while their ratios, the
  leverage, spread over four decades, which the health check then trims). w is uniform in [-1, 1]
  (accounts of 1,000 to 100,000), or up to just past the last finite bracket edge of a table whose
  argument is in the money unit (the tiers of a tiered margin table, e.g. Binance's notional brackets
  up to 300,000,000, are all reached). Amounts get an exchange's quantity step: 2 places for
  money, and for an amount an input prices, places enough that the last is worth about one money
  unit (5 for bitcoin at 60,000, 4 for ether at 3,000); prices 2 places; a state bounded below by
  its `where` (`collateral >= 0`) is drawn above the bound, an unbounded priced one (`size`) is signed (long or
  short at even odds);
- an unbounded state in the money unit (`insurance`, `funding_paid`, a USD balance that may be a
  loan) starts at 0: a fresh book; a flag (`bool` state) starts false; any other unit is drawn as a
  plain number from 100 to 10,000 with 4 places.

Health: the first accounts (up to `POOL`) are each checked on the spec's engine: every `where`
holds, no formula is undefined, and the account is not `liquidatable`; among them about 95% are
healthy (`equity >= initial`) and about 5% in the margin-call band (below `initial`, not
liquidatable: near the maintenance threshold, where a stress move bites first). Candidates that
fail are drawn again. Accounts beyond the pool are copies of pool accounts with every amount scaled
by k in [0.5, 2] (exact: two decimal places). Where the margin rules are linear in the amounts
(perpetuals, lending), scaling keeps an account's health; with a table (tiers) it may not, so the
copies are exact; otherwise the generator checks a sample of scaled copies and, if one changes
health (a `min`/`max` floor), uses exact copies too. A note says which.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from checker.stress.errors import Place, StressInputError
from checker.stress.layout import Slot, engine_params, layout, where_of
from checker.stress.model import Column, Population
from checker.stress.population import param_value, shared_start
from checker.stress.tables import int_array
from dsl import ir
from dsl.units import Dim

POOL = 1024  # accounts checked one by one on the engine
NEAR = Fraction(5, 100)  # the share of the pool in the margin-call band
BASE = 10_000  # an account's scale, in the money unit
MAX_ROUNDS = 16  # batches of candidates drawn before settling for what was found
SAMPLE = 256  # scaled copies checked for a change of health


@dataclass(frozen=True, slots=True)
class Plan:
    """How one column is drawn: `kind` is "flag", "zero", "price", "amount", "signed" or "plain"."""

    slot: Slot
    kind: str
    magnitude: Fraction  # the price for "price", the typical size otherwise
    places: int
    lower: Fraction | None  # the `where`'s lower bound for "amount"
    strict: bool


def generate_population(
    program: ir.Program,
    size: int,
    seed: int,
    start: Mapping[str, Fraction],
    shared: Mapping[str, Fraction | bool] | None = None,
    params: Mapping[str, Fraction] | None = None,
) -> Population:
    """`size` accounts drawn for `program` with `numpy.random.default_rng(seed)`, valid and mostly healthy
    at the `start` inputs (see the module docstring); the same seed gives the same population. `params`:
    parameter values other than the defaults (`name`, `name[ASSET]`), as the run uses them."""
    place = Place("--generate")
    if size < 1:
        raise StressInputError(place, f"{size} accounts: a population needs at least one", "e.g. --generate 10000")
    lay = layout(program)
    for slot in lay.inputs:
        if slot.name not in start:
            raise StressInputError(
                Place("--start"),
                f"the input `{slot.name}` has no starting value",
                f"a generated book is drawn around the starting market: give --start {slot.name}=VALUE",
                "stress-start",
            )
    shared_values = shared_start(program, lay, shared or {}, params)
    plans = [_plan(program, slot, start, params) for slot in lay.columns]
    reach = _reach(program)
    rng = np.random.default_rng(seed)
    judge = _Judge(program, lay.columns, shared_values, start, params)
    want = min(size, POOL)
    near_quota = int(want * NEAR)
    pool: list[list[int]] = []  # per account, one integer per column (over 10**places)
    near = 0
    spare: list[list[int]] = []  # valid, not liquidatable, beyond the band's quota
    rejected = {"invalid": 0, "liquidatable": 0}
    for round_ in range(MAX_ROUNDS):
        if len(pool) >= want or (round_ >= 4 and len(pool) + len(spare) >= want):
            break  # full, or the band is rare for this spec: healthy spares make up the rest
        batch = _draw(plans, rng, want, reach)
        for row in zip(*batch, strict=True):
            if len(pool) >= want:
                break
            verdict = judge.verdict(plans, list(row))
            if verdict in rejected:
                rejected[verdict] += 1
            if verdict == "healthy" and len(pool) - near < want - near_quota:
                pool.append(list(row))
            elif verdict == "band" and near < near_quota:
                pool.append(list(row))
                near += 1
            elif verdict in ("healthy", "band"):
                spare.append(list(row))
    pool = (pool + spare)[:want]
    notes = [f"generated with seed {seed}: accounts drawn around the starting inputs (checker.stress.generate)"]
    if len(pool) < want:
        raise StressInputError(
            place,
            f"only {len(pool)} of {want} accounts could be drawn valid and not liquidatable "
            f"({rejected['invalid']} draws broke a `where` or an undefined formula, "
            f"{rejected['liquidatable']} were liquidatable)",
            "the generator draws each state on its own within simple bounds (`x >= 0`); `where`s that relate "
            "states (`fees_due <= collateral`) reject most draws: check --start, or read the population from a file",
        )
    columns = _expand(plans, pool, size, rng, judge, notes)
    source = f"generated: {size} accounts, seed {seed}"
    return Population(source, size, columns, shared_values, None, tuple(notes))


def _money(program: ir.Program) -> Dim | None:
    equity = program.role("equity")
    return equity.ty if equity is not None and isinstance(equity.ty, Dim) else None


def _prices(
    program: ir.Program, start: Mapping[str, Fraction], params: Mapping[str, Fraction] | None
) -> list[tuple[Dim, str | None, Fraction]]:
    """Every known price: (its unit, its asset or None, its value) from inputs' starts and parameters."""
    out: list[tuple[Dim, str | None, Fraction]] = []
    for sym in program.inputs:
        if isinstance(sym.ty, Dim):
            for a in program.assets if sym.indexed else [None]:
                value = start.get(sym.name if a is None else f"{sym.name}[{a}]")
                if value is not None and value > 0:
                    out.append((sym.ty, a, Fraction(value)))
    for p in program.params:
        if isinstance(p.sym.ty, Dim) and not p.sym.ty.dimensionless:
            for a in program.assets if p.sym.indexed else [None]:
                value = param_value(program, p.sym.name, a, params)
                if value is not None and value > 0:
                    out.append((p.sym.ty, a, value))
    return out


def _plan(
    program: ir.Program, slot: Slot, start: Mapping[str, Fraction], params: Mapping[str, Fraction] | None = None
) -> Plan:
    ty = slot.sym.ty
    lower, strict = _lower_bound(program, slot)
    if not isinstance(ty, Dim):
        return Plan(slot, "flag", Fraction(0), 0, None, False)
    money = _money(program)
    prices = [(d, a, v) for d, a, v in _prices(program, start, params) if a is None or a == slot.asset]
    for d, _, value in prices:
        if d == ty and slot.sym.kind is ir.Kind.STATE and any(s.ty == ty for s in program.inputs):
            return Plan(slot, "price", value, 2, lower, strict)
    magnitude: Fraction | None = Fraction(BASE) if money is not None and ty == money else None
    places = 2  # money: cents
    if magnitude is None and money is not None:
        for d, _, value in prices:
            if d == money / ty:
                magnitude = BASE / value
                # An exchange's quantity step: the last place worth about one money unit or less
                # (0.00001 BTC at 60,000; 0.0001 ETH at 3,000), not finer: finer steps only make the
                # numbers longer, and a stress run slower, for no difference a venue would see.
                places = min(12, max(2, math.ceil(math.log10(value)))) if value > 0 else 2
                break
    if magnitude is None:
        return Plan(slot, "plain", Fraction(1000), 4, lower, strict)
    if lower is None:
        return Plan(slot, "zero" if ty == money else "signed", magnitude, places, None, False)
    return Plan(slot, "amount", magnitude, places, lower, strict)


def _lower_bound(program: ir.Program, slot: Slot) -> tuple[Fraction | None, bool]:
    """A constant lower bound the slot's `where` states (`x >= 0`, `all(a in assets: x[a] > 0)`)."""
    where = where_of(program, slot.sym.name)
    found: tuple[Fraction | None, bool] = (None, False)
    stack = [where.expr] if where is not None else []
    while stack:
        e = stack.pop()
        match e:
            case ir.BoolOp(op="and", left=left, right=right):
                stack += [left, right]
            case ir.Quant(kind="all", body=body):
                stack.append(body)
            case ir.Cmp(op=op, left=ir.Var(sym=sym), right=ir.Const(value=c)) if sym == slot.sym and op in (">", ">="):
                found = (Fraction(c), op == ">")
            case ir.Cmp(op=op, left=ir.Const(value=c), right=ir.Var(sym=sym)) if sym == slot.sym and op in ("<", "<="):
                found = (Fraction(c), op == "<")
    return found


def _reach(program: ir.Program) -> int:
    """The largest wealth exponent w, in hundredths: 1 (100,000), or past the last finite edge of a
    table whose argument is in the money unit."""
    money, top = _money(program), 100
    for table in program.tables:
        if money is None or table.arg_ty != money:
            continue
        edges = [e for row in table.rows for e in (row.lo, row.hi) if e is not None and e > 0]
        if edges:
            top = max(top, math.ceil(100 * math.log10(float(max(edges)) / BASE)) + 30)
    return top


def _draw(plans: list[Plan], rng: np.random.Generator, n: int, reach: int = 100) -> list[list[int]]:
    """`n` candidate values per column, as integers over 10**places (`reach`: see `_reach`)."""
    wealth = rng.integers(-100, reach + 1, size=n) / 100  # one per account: its amounts go together
    out: list[list[int]] = []
    for plan in plans:
        unit = 10**plan.places
        match plan.kind:
            case "flag" | "zero":
                out.append([0] * n)
            case "price":
                k = rng.integers(-500, 501, size=n)  # ±5% in basis points
                base = plan.magnitude * unit
                out.append([round(base * (10_000 + int(x)) / 10_000) for x in k])
            case "amount" | "signed" | "plain":
                spread = rng.integers(-100, 101, size=n) / 100  # leverage from 1/100 to 100 before checks
                exps = spread if plan.kind == "plain" else wealth + spread
                signs = rng.integers(0, 2, size=n) * 2 - 1 if plan.kind == "signed" else np.ones(n, dtype=np.int64)
                scaled = float(plan.magnitude) * unit * np.power(10.0, exps)
                ints = [int(s) * max(1, int(v)) for s, v in zip(signs, np.rint(scaled), strict=True)]
                if plan.lower is not None:
                    low = plan.lower * unit
                    floor = math.floor(low) + 1 if plan.strict or low.denominator != 1 else int(low)
                    ints = [max(v + floor if plan.lower else v, floor) for v in ints]
                out.append(ints)
            case _:
                raise AssertionError(plan.kind)
    return out


class _Judge:
    """Classifies one account on the spec's engine: "healthy", "band", "liquidatable" or "invalid"."""

    def __init__(
        self,
        program: ir.Program,
        columns: tuple[Slot, ...],
        shared: Mapping[str, Any],
        start: Mapping[str, Any],
        params: Mapping[str, Fraction] | None = None,
    ) -> None:
        from dsl.api import Spec

        self.engine = engine = Spec(program).engine
        self.program = program
        fields = engine.FIELDS
        self.params = engine_params(engine, program, params)
        self.inputs = engine.Inputs(**{fields[s.name]: _packed(s, start, program.assets) for s in program.inputs})
        self.shared = {fields[name]: value for name, value in shared.items()}
        self.states = [s for s in program.states if fields[s.name] not in self.shared]
        self.roles = {
            role: getattr(engine, engine.NAMES[sym.name])
            for role in ("equity", "initial", "liquidatable")
            if (sym := program.role(role)) is not None
        }

    def verdict(self, plans: list[Plan], row: list[int]) -> str:
        engine, fields = self.engine, self.engine.FIELDS
        values: dict[str, Any] = {}
        for plan, v in zip(plans, row, strict=True):
            values[plan.slot.name] = bool(v) if plan.kind == "flag" else Fraction(v, 10**plan.places)
        try:
            state = engine.State(
                **self.shared,
                **{fields[s.name]: _packed(s, values, self.program.assets, copy=True) for s in self.states},
            )
            if not engine.where_holds(self.params, state, self.inputs):
                return "invalid"
            roles = {k: f(self.params, state, self.inputs) for k, f in self.roles.items()}
        except (ArithmeticError, ValueError, TypeError):
            return "invalid"
        if roles.get("liquidatable", False):
            return "liquidatable"
        if "initial" in roles and "equity" in roles and roles["equity"] < roles["initial"]:
            return "band"
        return "healthy"


def _packed(sym: ir.Symbol, values: Mapping[str, Any], assets: tuple[str, ...], copy: bool = False) -> Any:
    name = sym.name.partition("#")[0] if copy else sym.name
    return {a: values[f"{name}[{a}]"] for a in assets} if sym.indexed else values[name]


def _expand(
    plans: list[Plan], pool: list[list[int]], size: int, rng: np.random.Generator, judge: _Judge, notes: list[str]
) -> dict[str, Column]:
    """The pool, then copies of pool accounts with their amounts scaled by k/100, k in [50, 200]."""
    extra = size - len(pool)
    picks = rng.integers(0, len(pool), size=extra) if extra > 0 else np.zeros(0, dtype=np.int64)
    factors = rng.integers(50, 201, size=extra) if extra > 0 else np.zeros(0, dtype=np.int64)
    scaled = [p.kind in ("amount", "signed", "plain") for p in plans]
    if extra > 0 and judge.program.tables:
        # A table (a tier by notional, a bracket) makes the rules non-linear in the amounts: a scaled copy
        # may cross a tier and change health, which only the engine could tell, account by account.
        factors = np.full(extra, 100, dtype=np.int64)
        notes.append(
            f"the spec's margin rules use tables (tiers), so scaling an account may change its health: accounts "
            f"beyond the first {len(pool)} are exact copies of those"
        )
    elif extra > 0 and not _scaling_keeps_health(plans, pool, picks, factors, scaled, judge):
        factors = np.full(extra, 100, dtype=np.int64)
        notes.append(
            "scaling an account changes its health under this spec's margin rules: accounts "
            f"beyond the first {len(pool)} are exact copies of those"
        )
    table = np.array(pool, dtype=object)  # Python integers: amounts times 100 may leave int64
    columns: dict[str, Column] = {}
    for j, plan in enumerate(plans):
        head = [int(v) for v in table[:, j]]
        if scaled[j] and bool((factors != 100).any()):  # exact copies need no two more places
            tail = [int(table[i, j]) * int(k) for i, k in zip(picks, factors, strict=True)]
            ints, scale = [v * 100 for v in head] + tail, 10**plan.places * 100
        else:
            ints, scale = head + [int(table[i, j]) for i in picks], 10**plan.places
        columns[plan.slot.name] = Column(plan.slot.name, int_array(ints), scale)
    return columns


def _scaling_keeps_health(
    plans: list[Plan], pool: list[list[int]], picks: Any, factors: Any, scaled: list[bool], judge: _Judge
) -> bool:
    """Whether the first `SAMPLE` scaled copies are as healthy as the accounts they copy."""
    finer = [
        Plan(p.slot, p.kind, p.magnitude, p.places + 2 if s else p.places, p.lower, p.strict)
        for p, s in zip(plans, scaled, strict=True)
    ]
    for i, k in list(zip(picks, factors, strict=True))[:SAMPLE]:
        row = [v * int(k) if s else v for v, s in zip(pool[int(i)], scaled, strict=True)]
        before = judge.verdict(plans, pool[int(i)])
        after = judge.verdict(finer, row)
        if after != before and after not in ("healthy", "band"):
            return False
    return True


__all__ = ["BASE", "NEAR", "POOL", "generate_population"]
