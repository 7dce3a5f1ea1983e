"""What a stress run reads and what it reports: plain, picklable values shared by its parts.

A stress run (`solvent stress`, `checker.stress.run`) takes a checked spec, a
`Population` of accounts (their states), and `Scenario`s (paths of the spec's
inputs, one value per input per step), and runs the spec's own rules over
them: at each step every input takes the scenario's value (the env move), then
the forced actions (liquidations) fire on every account whose guard holds,
account by account in population order. The runner reports per scenario a
`ScenarioResult`.

Every number here is exact: a `Column` holds integers with one common
denominator (`scale`), scenario values and results are `Fraction`s. The JSON
form (`StressReport.to_json`) writes every number as a string (`"12.5"`,
`"1/3"`), never as a JSON float.

JSON shape of a report (`to_json`; `checker.report.html` reads it):

    {"spec": str, "title": str, "population": {"source": str, "size": int},
     "fund": str | null,            # the state whose path is "the fund" (shared, or summed)
     "complete": bool,              # false: an interrupted run's finished shards only
     "scenarios": [{
        "name": str, "inputs": [str], "times": [str] | null,
        "steps": [{"inputs": {name: num}, "liquidations": int, "bad_debt": num,
                   "fund": num | null, "shared": {name: num}, "totals": {name: num},
                   "undefined": int, "outside_envelope": bool}],
        "liquidated": int, "bad_debt": num, "fund_min": num | null,
        "losses": {"count": int, "quantiles": {"0.5": num, "0.9": num, "0.99": num, "1": num},
                   "histogram": [{"lo": num, "hi": num, "count": int}]},
        "worst": [{"account": str, "loss": num, "liquidated_at": int | null}],
        "undefined": [{"account": str, "step": int, "message": str}],
        "notes": [str]}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any


def number_text(value: Fraction | int) -> str:
    """`value` exactly, as a person writes it: `12.5` where the decimal ends, `1/3` where it does not."""
    from checker.testing.values import decimal_text

    value = Fraction(value)
    text = decimal_text(value)
    return text if text is not None else f"{value.numerator}/{value.denominator}"


def read_number(text: str) -> Fraction:
    """The inverse of `number_text` (and any decimal or ratio), through the capped reader."""
    from dsl.numbers import exact_number

    return exact_number(text)


@dataclass(frozen=True, slots=True)
class Column:
    """One per-account value for every account: account i's value is `ints[i] / scale`, exactly.

    `ints` is a numpy `int64` array when every value fits, otherwise a numpy `object` array of Python
    integers; `scale` is a positive integer (a power of ten for decimal input, any common denominator
    otherwise). `name` is the state's name as the spec writes it (`collateral`, `debt[ETH]`)."""

    name: str
    ints: Any  # numpy.ndarray, int64 or object
    scale: int

    def value(self, i: int) -> Fraction:
        """Account i's value, exactly."""
        return Fraction(int(self.ints[i]), self.scale)


@dataclass(frozen=True, slots=True)
class Population:
    """The accounts a stress run starts from.

    `columns`: one per per-account state of the spec (indexed states one per asset, `name[ASSET]`).
    `shared`: the starting value of each shared state (`shared state` in an `accounts` spec).
    `ids`: each account's name in reports (a file's `account` column, else its 1-based row number).
    `source`: where it came from, for reports (`book.csv`, `generated: 1000 accounts, seed 7`).
    `notes`: what a reader of the report should know about how it was read or made (a float column
    read as its shortest decimal, how a generated book was drawn)."""

    source: str
    size: int
    columns: Mapping[str, Column]
    shared: Mapping[str, Fraction | bool] = field(default_factory=dict)  # a bool for a flag (`bool` state)
    ids: Sequence[str] | None = None
    notes: tuple[str, ...] = ()
    first: int = 0  # a slice's first account in the whole population (for the row numbers without ids)

    def account_id(self, i: int) -> str:
        """The name of account i in reports."""
        return self.ids[i] if self.ids is not None else str(self.first + i + 1)

    def slice(self, start: int, stop: int) -> Population:
        """Accounts start..stop-1 (a shard), with the same shared values."""
        ids = self.ids[start:stop] if self.ids is not None else None
        columns = {k: Column(c.name, c.ints[start:stop], c.scale) for k, c in self.columns.items()}
        size = max(0, min(stop, self.size) - start)
        return Population(self.source, size, columns, self.shared, ids, self.notes, self.first + start)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One path of the spec's inputs: `steps[t][j]` is input `inputs[j]`'s value at step t.

    Step 0 is the starting point (the accounts are read there); each later step is one env move.
    `inputs` names the spec's inputs as written (`mark`, `price[BTC]`); inputs the scenario does not
    name keep their starting value (`StressOptions.start`). `times`: one timestamp per step, as
    written in a price-path file, or None. `weight`: a grid scenario's weight (SPAN's extreme moves
    count 35%), or None."""

    name: str
    inputs: tuple[str, ...]
    steps: tuple[tuple[Fraction, ...], ...]
    times: tuple[str, ...] | None = None
    weight: Fraction | None = None


@dataclass(frozen=True, slots=True)
class StressOptions:
    """How a run treats the spec.

    `actions`: the actions that fire when their guard holds (default: the spec's forced actions).
    `fund`: the state reported as the fund (default: a shared state, else a state named like a fund).
    `start`: starting values of inputs no scenario names. `params`: parameter values (default: the
    spec's defaults). `worst`: how many worst accounts to keep per scenario. `max_rounds`: how many
    times a forced action may fire on one account in one step (a partial liquidation repeats)."""

    actions: tuple[str, ...] = ()
    fund: str | None = None
    start: Mapping[str, Fraction] = field(default_factory=dict)
    params: Mapping[str, Fraction] = field(default_factory=dict)
    worst: int = 10
    max_rounds: int = 100


@dataclass(frozen=True, slots=True)
class StepStats:
    """What one step did to the whole population (after the env move and the actions it forced)."""

    inputs: Mapping[str, Fraction]
    liquidations: int  # actions fired in this step
    bad_debt: Fraction  # the shortfall (negative equity) of the accounts liquidated in this step
    fund: Fraction | None  # the fund after the step (shared state, or the sum over accounts)
    shared: Mapping[str, Fraction]  # every shared state after the step
    totals: Mapping[str, Fraction]  # every per-account state summed over the population
    undefined: int  # accounts a formula was undefined for in this step
    outside_envelope: bool  # the step's move is outside the spec's env move: the proofs do not cover it


@dataclass(frozen=True, slots=True)
class Worst:
    account: str
    loss: Fraction  # equity at the start minus equity at the end
    liquidated_at: int | None  # the first step an action fired on it


@dataclass(frozen=True, slots=True)
class Undefined:
    account: str
    step: int
    message: str


@dataclass(frozen=True, slots=True)
class Losses:
    """The distribution of per-account losses: exact quantiles and a histogram."""

    count: int
    quantiles: Mapping[str, Fraction]
    histogram: tuple[tuple[Fraction, Fraction, int], ...]  # (lo, hi, count), lo inclusive


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    inputs: tuple[str, ...]
    times: tuple[str, ...] | None
    steps: tuple[StepStats, ...]
    liquidated: int  # distinct accounts an action fired on
    bad_debt: Fraction
    fund_min: Fraction | None
    losses: Losses
    worst: tuple[Worst, ...]
    undefined: tuple[Undefined, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StressReport:
    spec: str
    title: str
    population_source: str
    population_size: int
    fund: str | None
    scenarios: tuple[ScenarioResult, ...]
    complete: bool = True  # False: the run was interrupted and these are the scenarios' finished shards

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data, every number an exact string (see the module docstring)."""
        return {
            "spec": self.spec,
            "title": self.title,
            "population": {"source": self.population_source, "size": self.population_size},
            "fund": self.fund,
            "complete": self.complete,
            "scenarios": [_scenario_json(s) for s in self.scenarios],
        }


def _opt(value: Fraction | None) -> str | None:
    return None if value is None else number_text(value)


def _numbers(values: Mapping[str, Fraction]) -> dict[str, str]:
    return {k: number_text(v) for k, v in values.items()}


def _scenario_json(s: ScenarioResult) -> dict[str, Any]:
    return {
        "name": s.name,
        "inputs": list(s.inputs),
        "times": list(s.times) if s.times is not None else None,
        "steps": [
            {
                "inputs": _numbers(t.inputs),
                "liquidations": t.liquidations,
                "bad_debt": number_text(t.bad_debt),
                "fund": _opt(t.fund),
                "shared": _numbers(t.shared),
                "totals": _numbers(t.totals),
                "undefined": t.undefined,
                "outside_envelope": t.outside_envelope,
            }
            for t in s.steps
        ],
        "liquidated": s.liquidated,
        "bad_debt": number_text(s.bad_debt),
        "fund_min": _opt(s.fund_min),
        "losses": {
            "count": s.losses.count,
            "quantiles": _numbers(s.losses.quantiles),
            "histogram": [
                {"lo": number_text(lo), "hi": number_text(hi), "count": n} for lo, hi, n in s.losses.histogram
            ],
        },
        "worst": [
            {"account": w.account, "loss": number_text(w.loss), "liquidated_at": w.liquidated_at} for w in s.worst
        ],
        "undefined": [{"account": u.account, "step": u.step, "message": u.message} for u in s.undefined],
        "notes": list(s.notes),
    }
