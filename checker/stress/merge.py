"""What a shard of a stress run returns, and how the shards' results become one exact report.

A `Part` is one scenario over one slice of the population (or one book of members): per-step
partial sums (liquidations, bad debt, undefined formulas, totals, the fund) and per-account outcomes
(losses as `Exact` integers, the step each account was first acted on). `report` merges the parts
of every shard, in shard order, into a `StressReport`: sums over slices, the shared values and the
fund from the one shard that holds them, exact loss quantiles, a histogram and the worst accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from checker.stress import exact
from checker.stress.exact import Exact
from checker.stress.model import (
    Losses,
    Population,
    Scenario,
    ScenarioResult,
    StepStats,
    StressOptions,
    StressReport,
    Undefined,
    Worst,
)
from checker.stress.rules import Rules

MAX_UNDEFINED = 20  # undefined accounts listed per scenario (all are counted)
QUANTILES = ("0.5", "0.9", "0.99", "1")
BINS = 20


@dataclass(frozen=True, slots=True)
class Part:
    """One scenario over one population slice: per-step partial sums and per-account outcomes."""

    scenario: str
    liquidations: tuple[int, ...]
    bad_debt: tuple[Fraction, ...]
    undefined_count: tuple[int, ...]
    totals: tuple[dict[str, Fraction], ...]
    shared: tuple[dict[str, Fraction], ...]
    outside: tuple[bool, ...]
    inputs: tuple[dict[str, Fraction], ...]
    offset: int  # the slice's first account in the population
    losses: Exact | None  # per account of the slice, None without an equity role
    liquidated_at: Any  # per account of the slice (int array), -1: never
    undefined: tuple[Undefined, ...]
    fund: tuple[Fraction | None, ...] = ()  # per step: the fund (for a per-account fund, this slice's sum)


@dataclass(frozen=True, slots=True)
class ShardResult:
    index: int
    parts: tuple[Part, ...]



def report(rules: Rules, spec_path: str, population: Population, scenarios: Sequence[Scenario],
           options: StressOptions, results: Sequence[ShardResult]) -> StressReport:
    """The report of a run from its shards' results (in shard order, whatever order they finished in)."""
    parts: dict[str, list[Part]] = {}
    for result in sorted(results, key=lambda r: r.index):
        for part in result.parts:
            parts.setdefault(part.scenario, []).append(part)
    out = []
    for scenario in scenarios:
        if scenario.name in parts:
            out.append(_scenario(rules, population, scenario, parts[scenario.name], options))
    return StressReport(spec_path, rules.program.title, population.source, population.size, rules.fund, tuple(out))


def _scenario(rules: Rules, population: Population, scenario: Scenario, parts: list[Part],
              options: StressOptions) -> ScenarioResult:
    steps = []
    for t in range(len(parts[0].liquidations)):
        totals = {k: sum((p.totals[t][k] for p in parts), Fraction(0)) for k in parts[0].totals[t]}
        shared = parts[0].shared[t]
        # A per-account fund is summed over the slices; a shared one (or a book's) comes from one shard.
        fund = None if rules.fund is None else sum((p.fund[t] or Fraction(0) for p in parts), Fraction(0))
        steps.append(StepStats(
            parts[0].inputs[t], sum(p.liquidations[t] for p in parts), sum((p.bad_debt[t] for p in parts), Fraction(0)),
            fund, shared, totals, sum(p.undefined_count[t] for p in parts), parts[0].outside[t],
        ))
    at = np.concatenate([np.asarray(p.liquidated_at) for p in parts])
    ends = np.cumsum([len(p.liquidated_at) for p in parts])
    losses = None if any(p.losses is None for p in parts) else exact.concat([p.losses for p in parts if p.losses])
    notes = list(rules.notes)
    outside = [t for t, s in enumerate(steps) if s.outside_envelope]
    if outside:
        many = f"{len(outside)} step" + ("" if len(outside) == 1 else "s")
        notes.append(f"{many} outside the spec's env move, not covered by the proofs (first: step {outside[0]})")
    if losses is None:
        notes.append("the spec has no `equity` role: no losses per account")
    funds = [s.fund for s in steps if s.fund is not None]
    undefined = tuple(u for p in parts for u in p.undefined)[:MAX_UNDEFINED]
    def account(i: int) -> str:
        k = int(np.searchsorted(ends, i, side="right"))  # the part holding the i-th account of the scenario
        return population.account_id(parts[k].offset + i - (int(ends[k - 1]) if k else 0))

    return ScenarioResult(
        scenario.name, scenario.inputs, scenario.times, tuple(steps), int(np.count_nonzero(at >= 0)),
        sum((s.bad_debt for s in steps), Fraction(0)), min(funds) if funds else None,
        _losses(losses), _worst(account, losses, at, options.worst), undefined, tuple(notes),
    )


def _losses(losses: Exact | None) -> Losses:
    if losses is None or len(losses) == 0:
        return Losses(0, {}, ())
    return Losses(len(losses), exact.quantiles(losses, QUANTILES), exact.histogram(losses, BINS))


def _worst(account: Callable[[int], str], losses: Exact | None, at: Any, k: int) -> tuple[Worst, ...]:
    if losses is None or len(losses) == 0:
        return ()
    return tuple(
        Worst(account(i), losses.at(i), int(at[i]) if at[i] >= 0 else None) for i in exact.largest(losses, k)
    )
