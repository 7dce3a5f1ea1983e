"""`solvent stress SPEC`: a population of accounts through scenarios, on the spec's own rules, exactly.

Thin, like the rest of the command line: `checker.cli_stress_args` declares the
options (part of the grammar `checker.cli_common` builds), `run_stress` reads the spec, the population and the scenarios
(`checker.stress.population`, `checker.stress.scenarios`), cuts the run into
shards (`checker.stress.run.plan`), runs them on local processes or a Dask
cluster (`checker.stress.distribute`) and writes what was asked
(`checker.stress.output`, `checker.report.html`). What a run computes is
spec/stress.md.

Exit status: 0 the run finished (1 with --fail-on-bad-debt when a scenario
leaves bad debt or a fund below zero); 2 bad input (a spec error, a population
or price-path problem, an option this spec cannot take, an output solvent will
not write over); 130 interrupted: the shards that finished are merged and the
partial report is written, marked as partial.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import Any

from checker.cli_common import EXIT_INTERRUPTED, EXIT_USAGE, UsageError, say


def run_stress(args: argparse.Namespace) -> int:
    """Run `solvent stress` as `args` asks; the exit status."""
    from checker.stress import output
    from checker.stress.api import prepare
    from checker.stress.distribute import DistributeError, Interrupted, ShardError, run_shards
    from checker.stress.errors import StressInputError
    from checker.stress.progress import Progress
    from checker.stress.rules import StressError
    from checker.stress.run import merge, run_shard

    spec_path = Path(args.path)
    inputs = [spec_path, *(Path(p) for p in args.paths)] + ([Path(args.population)] if args.population else [])
    json_path = Path(args.json) if args.json else None
    table_path = Path(args.table) if args.table else None
    output.check_outputs(json_path, table_path, args.force, inputs)
    html_path = Path(args.html) if args.html else None
    if html_path is not None:
        _check_html(html_path, args.force, inputs)
    if not (args.paths or args.grids or args.shocks):
        raise UsageError("no scenario: give --path FILE, --grid span:mark=15% or --shock mark=-50%:50%:21")
    try:
        run = prepare(
            spec_path, population=args.population, generate=1000 if args.generate is None else args.generate,
            seed=args.seed, paths=args.paths, grids=args.grids, shocks=args.shocks, steps=args.steps,
            allow_gaps=args.allow_gaps, start=_assignments(args.start, "--start"),
            shared=_assignments(args.shared, "--shared"), params=_assignments(args.params, "--param"),
            actions=args.actions, fund=args.fund, worst=args.worst, max_rounds=args.max_rounds,
            shard_size=args.shard_size,
        )
    except StressInputError as err:  # located (file:row:col, or the option): printed like a spec error
        say(err.render())
        return EXIT_USAGE
    except StressError as err:
        raise UsageError(str(err)) from None
    shards, scenarios = run.shards, list(run.scenarios)
    progress = None if args.quiet else Progress()
    partial = False
    try:
        results = run_shards(
            shards, run_shard, scheduler=args.scheduler, workers=args.workers, progress=progress,
            work=lambda s: s.population.size * sum(len(sc.steps) for sc in s.scenarios),
        )
    except Interrupted as stop:
        # Only scenarios all of whose shards finished: half a population's losses would mislead.
        done: dict[str, bool] = {}
        for shard, result in zip(shards, stop.partial, strict=True):
            name = shard.scenarios[0].name
            done[name] = done.get(name, True) and result is not None
        results = [r for shard, r in zip(shards, stop.partial, strict=True) if done[shard.scenarios[0].name]]
        scenarios = [s for s in scenarios if done.get(s.name)]
        partial = True
    except ShardError as err:
        cause = err.__cause__
        if isinstance(cause, StressInputError):
            say(cause.render())
            return EXIT_USAGE
        if isinstance(cause, StressError):
            raise UsageError(str(cause)) from None
        if isinstance(cause, (MemoryError, OSError)) or "worker process" in str(err):
            raise UsageError(str(err)) from None  # the machine, not solvent: out of memory, a worker killed
        from dsl.diagnostics import InternalError

        raise InternalError(str(err)) from None  # a shard that raised anything else is a bug in solvent
    except DistributeError as err:
        raise UsageError(str(err)) from None
    report = merge(run.spec_text, run.spec_path, run.population, scenarios, run.options, results)
    if partial:
        import dataclasses

        report = dataclasses.replace(report, complete=False)
    _write(report, args, json_path, table_path, html_path, inputs)
    if args.format == "json":
        import json

        print(json.dumps(report.to_json(), indent=2))
    else:
        print(output.terminal(report), end="")
    if partial:
        say(f"solvent: interrupted: the report covers {len(report.scenarios)} finished scenarios of {len(done)}")
        return EXIT_INTERRUPTED
    if args.fail_on_bad_debt and any(
        s.bad_debt > 0 or (s.fund_min is not None and s.fund_min < 0) for s in report.scenarios
    ):
        return 1
    return 0


def _assignments(texts: list[str], option: str) -> dict[str, Fraction]:
    from checker.stress.options import parse_assignment

    out: dict[str, Fraction] = {}
    for text in texts:
        name, value = parse_assignment(text, option)
        out[name] = value
    return out


def _check_html(path: Path, force: bool, inputs: list[Path]) -> None:
    from checker.report.files import check_target
    from checker.report.page import written_html

    check_target(path, force or written_html(path), inputs)


def _write(report: Any, args: argparse.Namespace, json_path: Path | None, table_path: Path | None,
           html_path: Path | None, inputs: list[Path]) -> None:
    from checker.stress import output

    if json_path is not None:
        output.write_json(report, json_path, args.force, inputs)
    if table_path is not None:
        output.write_table(report, table_path, args.force, inputs)
    if html_path is not None:
        from checker.report.files import write_target
        from checker.report.html import stress_report_html
        from checker.report.page import written_html

        write_target(html_path, stress_report_html(report.to_json()), args.force or written_html(html_path), inputs)
