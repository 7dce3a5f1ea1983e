"""The Python API of a stress run: what `solvent stress` does, callable from a notebook or a test.

    from checker.stress.api import stress

    report = stress("examples/binance_usdm_perp.margin", generate=10_000, seed=1,
                    start={"mark": 60_000}, shocks=["mark=-30%:30%:7"], steps=10)
    for s in report.scenarios:
        print(s.name, s.liquidated, s.bad_debt, s.fund_min)

`prepare` reads everything and plans the shards (raising `StressInputError` or
`StressError` on bad input); `stress` also runs them (in this process, on
local worker processes, or on a Dask cluster) and merges the report. The
command line (`checker.cli_stress`) is these two calls with a progress
display and the output files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from checker.stress.merge import ShardResult
from checker.stress.model import Population, Scenario, StressOptions, StressReport
from checker.stress.run import Shard, merge, plan, run_shard


@dataclass(frozen=True)
class Prepared:
    """A run ready to go: the spec's text, the population, the scenarios, the options and the shards."""

    spec_text: str
    spec_path: str
    population: Population
    scenarios: tuple[Scenario, ...]
    options: StressOptions
    shards: tuple[Shard, ...]

    def merge(self, results: Sequence[ShardResult]) -> StressReport:
        """The report of these shards' results (`run_shard` of each, in any order)."""
        return merge(self.spec_text, self.spec_path, self.population, self.scenarios, self.options, results)


def _numbers(values: Mapping[str, Fraction | int | str] | None) -> dict[str, Fraction]:
    from dsl.numbers import exact_number

    return {k: exact_number(v) if isinstance(v, str) else Fraction(v) for k, v in (values or {}).items()}


def prepare(
    spec: str | Path,
    *,
    population: str | Path | Population | None = None,
    generate: int = 1000,
    seed: int = 0,
    paths: Sequence[str | Path] = (),
    grids: Sequence[str] = (),
    shocks: Sequence[str] = (),
    scenarios: Sequence[Scenario] = (),
    steps: int = 1,
    allow_gaps: bool = False,
    start: Mapping[str, Fraction | int | str] | None = None,
    shared: Mapping[str, Fraction | int | str] | None = None,
    params: Mapping[str, Fraction | int | str] | None = None,
    actions: Sequence[str] = (),
    fund: str | None = None,
    worst: int = 10,
    max_rounds: int = 100,
    shard_size: int = 250_000,
) -> Prepared:
    """Read the spec, the population (a file, a `Population`, or `generate` accounts drawn with `seed`)
    and the scenarios (price-path files, `span:...` grids, `NAME=LO:HI:COUNT` shocks, or `Scenario`s),
    and plan the shards. Numbers may be given as `Fraction`s, integers or exact decimal strings."""
    import dsl
    from checker.stress.book import members_text
    from checker.stress.choose import ChoiceError, parse_act, with_choices
    from checker.stress.errors import StressInputError
    from checker.stress.generate import generate_population
    from checker.stress.options import parse_grid, parse_shock
    from checker.stress.population import read_population
    from checker.stress.rules import ReadsOtherAccounts, Rules
    from checker.stress.scenarios import grid_scenarios, read_price_path, uniform_shocks
    from dsl.diagnostics import SpecError

    loaded = dsl.load(spec)
    acts = [parse_act(a) for a in actions]
    rewritten = with_choices(loaded.source, acts)
    if rewritten != loaded.source.text:  # an action fired with chosen arguments (checker.stress.choose)
        try:
            loaded = dsl.loads(rewritten, str(spec))
        except SpecError as err:
            raise ChoiceError(f"--act: with the chosen values, the action's header reads:\n{err.render()}") from None
    program = loaded.program
    options = StressOptions(actions=tuple(a.name for a in acts), fund=fund, start=_numbers(start),
                            params=_numbers(params), worst=worst, max_rounds=max_rounds)
    found = list(scenarios) + [read_price_path(p, program, allow_gaps, options.params) for p in paths]
    if not found and not grids and not shocks:
        from checker.stress.errors import Place

        raise StressInputError(Place("scenarios"), "no scenario", "give a price path, a grid or a shock")
    begin = dict(options.start)
    for s in found:
        for name, value in zip(s.inputs, s.steps[0], strict=True):
            begin.setdefault(name, value)
    options = dataclasses.replace(options, start=begin)
    for text in grids:
        found += grid_scenarios(program, begin, parse_grid(text), steps)
    for text in shocks:
        shock = parse_shock(text)
        found += uniform_shocks(program, begin, shock.input, shock.lo, shock.hi, shock.count, steps)
    named: dict[str, int] = {}
    unique = []
    for s in found:  # two files with one name, or one shock given twice: names stay apart in the report
        named[s.name] = named.get(s.name, 0) + 1
        unique.append(s if named[s.name] == 1 else dataclasses.replace(s, name=f"{s.name} ({named[s.name]})"))
    start_shared = _numbers(shared)
    if isinstance(population, Population):
        book = population
    elif population is not None:
        book = read_population(population, program, start_shared, options.start, options.params)
    else:
        book = generate_population(program, generate, seed, options.start, start_shared, options.params)
    text, path = loaded.source.text, str(spec)
    try:
        Rules.of(program, options)
    except ReadsOtherAccounts:
        if not program.accounts:
            raise
        text = members_text(loaded.source, book.size)  # one book of members (checker.stress.book)
    shards = plan(text, path, book, unique, options, shard_size)
    return Prepared(text, path, book, tuple(unique), options, tuple(shards))


def stress(spec: str | Path, *, workers: int | None = 1, scheduler: str | None = None, **how: Any) -> StressReport:
    """Prepare (see `prepare` for the keywords) and run a stress run; the merged report.

    `workers`: 1 runs in this process (the default here), N on N local processes, None on every core;
    `scheduler`: a Dask scheduler's address to run the shards there instead."""
    from checker.stress.distribute import run_shards

    prepared = prepare(spec, **how)
    results = run_shards(prepared.shards, run_shard, scheduler=scheduler, workers=workers)
    return prepared.merge(results)
