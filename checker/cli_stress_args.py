"""The `stress` subcommand's options: part of the command-line grammar (`checker.cli_common.build_parser`).

A module of its own so that `checker.cli_common` can build the whole grammar without importing the
command that runs it (`checker.cli_stress` imports `checker.cli_common`, never the reverse).
"""

from __future__ import annotations

import argparse
from typing import Any

_EPILOG = """scenarios (at least one; each may be repeated): --path FILE (a CSV of `time` and input columns),
--grid span:mark=15% (CME SPAN's 16 price scenarios; span:15% for every price input; with
`,vol:NAME=R` a volatility input moves too, else the names mark volatility with a star: not
modelled), --shock
mark=-50%:50%:21 (21 relative moves). --steps K splits each grid or shock move into K equal steps.

population: --population FILE (CSV or Parquet: one column per per-account state, optional `account`
ids) or --generate N [--seed S] (drawn from the spec, mostly healthy at the starting inputs).

exit status: 0 done (1 with --fail-on-bad-debt when a scenario leaves bad debt or a fund below
zero); 2 bad input; 4 a bug in solvent; 130 interrupted (the finished shards' report is written).
"""


def add_parser(sub: Any, whole_at_least: Any) -> None:
    """The `stress` subcommand's options (`whole_at_least`: the CLI's capped whole-number type)."""
    whole = whole_at_least(0, "a whole number >= 0")
    positive = whole_at_least(1, "a positive whole number")
    accounts = whole_at_least(1, "a positive whole number", 10**9, "a billion accounts")
    p = sub.add_parser(
        "stress",
        help="run a population of accounts through scenarios on the spec's rules, exactly",
        description="Run the spec's own rules (env move, forced actions, the waterfall) over a population of "
        "accounts and a set of scenarios, and report liquidations, bad debt, the fund's path and the losses.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="RULES.margin")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--population", metavar="FILE", help="the accounts: a CSV or Parquet file")
    who.add_argument("--generate", type=accounts, metavar="N", help="draw N accounts from the spec (default 1000)")
    p.add_argument("--seed", type=whole, default=0, metavar="S", help="the seed of --generate (default 0)")
    p.add_argument("--path", dest="paths", action="append", default=[], metavar="FILE", help="a price path (CSV)")
    p.add_argument("--grid", dest="grids", action="append", default=[], metavar="GRID", help="e.g. span:mark=15%%")
    p.add_argument("--shock", dest="shocks", action="append", default=[], metavar="SHOCK",
                   help="e.g. mark=-50%%:50%%:21")
    p.add_argument("--steps", type=positive, default=1, metavar="K", help="steps per grid or shock move (default 1)")
    p.add_argument("--allow-gaps", action="store_true", help="accept a price path with a gap in its times")
    p.add_argument("--start", action="append", default=[], metavar="NAME=VALUE",
                   help="an input's starting value (default: the first price path's first row)")
    p.add_argument("--shared", action="append", default=[], metavar="NAME=VALUE",
                   help="a shared state's starting value (accounts specs)")
    p.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter value other than the default (within its declared range)")
    p.add_argument("--act", dest="actions", action="append", default=[], metavar="ACTION",
                   help="an action that fires when its guard holds (default: the forced actions); one with "
                   "arguments with the values to take, in the spec's language: 'liquidate(d = max_closeable)'")
    p.add_argument("--fund", metavar="STATE", help="the state reported as the fund (default: one named like a "
                   "fund); for a book of members, also a let (a default fund summed over the members)")
    p.add_argument("--worst", type=whole, default=10, metavar="K", help="worst accounts listed (default 10)")
    p.add_argument("--max-rounds", type=positive, default=100, metavar="N",
                   help="times a forced action may fire on one account in one step (default 100)")
    p.add_argument("--format", choices=("human", "json"), default="human", help="the report on stdout")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--table", metavar="FILE", help="also write the steps (and FILE.worst) as .csv or .parquet")
    p.add_argument("--html", metavar="FILE", help="also write an HTML report with plots")
    p.add_argument("--force", action="store_true", help="overwrite files solvent did not write (never the inputs)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the shards on this Dask scheduler (tcp://host:8786)")
    p.add_argument("--workers", type=positive, metavar="N", help="local worker processes (default: the cores)")
    p.add_argument("--shard-size", type=accounts, default=250_000, metavar="N",
                   help="accounts per shard where accounts are independent (default 250000)")
    p.add_argument("--fail-on-bad-debt", action="store_true",
                   help="exit 1 when a scenario leaves bad debt or a fund below zero")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
