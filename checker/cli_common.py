"""What every `solvent` command shares: exit statuses, usage errors, messages, the argument grammar.

`build_parser` is the whole command line (check, compile, explain, conform);
the argument types read numbers through the one capped reader, so that a
hostile argument cannot build a hundred-million-digit number. Like
`checker.cli`, nothing heavy is imported at module level.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing is a tenth of the CLI's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from fractions import Fraction

EXIT_USAGE = 2
EXIT_BUG = 4
EXIT_INTERRUPTED = 130
MAX_TIMEOUT = 1_000_000  # seconds (11.6 days): far beyond any use, and Z3's 32-bit millisecond count
MIN_TIMEOUT = "0.001"  # the solvers count in milliseconds
MAX_RLIMIT = 2**32 - 1  # Z3 keeps its resource limit in 32 bits: 2**32 would wrap round to 0, "unlimited"
MAX_WHOLE = 1_000_000  # depths, runs, jobs: beyond this a run would never end (or a pool never start)
FORMATS = ("human", "json", "junit", "sarif")

_CHECK_EPILOG = """exit status: 0 every check proved (or accepted); 1 a violation the baseline does not accept (or an
UNKNOWN with --strict, or a stale baseline entry with --fail-stale); 2 a usage or spec
error, or a run that checked nothing (an empty spec, one of only comments, a spec none of whose
checks apply, or --only choosing only checks that apply to none of the specs); 3 UNKNOWNs but no
violation; 4 a bug in solvent; 130 interrupted.

-o FILE, --json FILE, --junit FILE, --sarif FILE and --html FILE never write over a spec being checked,
and over an existing file only if solvent wrote it (a report or an engine) or with --force; /dev/null and
other character devices are fine. Several may be given in one run: each gets the same results.

settings: [tool.solvent] in the nearest pyproject.toml (from the working directory up) sets defaults
for the options above, under their long names without dashes (format, strict, quiet, rlimit, timeout,
engines, split, params, depth, max-k, search-runs, search-depth, only, jobs, synthesize, output, json,
junit, sarif, emit-tests, baseline, fail-stale); paths are relative to that file. The command line wins.

accepted findings: [[tool.solvent.accept]] tables there (or [[accept]] tables in the --baseline file),
each with spec, check, name (the JUnit test name) and reason, list violations the project accepts: they
are reported as ACCEPTED with the reason and do not fail the run. An entry that matches no violation is
reported as stale (a failure with --fail-stale). --write-baseline appends the run's other violations.
"""


class UsageError(Exception):
    """Bad command-line input: printed as `solvent: error: ...`, exit status 2."""


def say(text: str) -> None:
    """Print a message for the person on stderr, control characters escaped."""
    from checker.report.text import printable

    print(printable(text), file=sys.stderr)


class Interrupt:
    """Whether Ctrl-C came, also where Python would drop it: in a destructor (see `checker.cli`)."""

    seen = False


def is_interrupt(exc: BaseException | None) -> bool:
    """Whether `exc` is a Ctrl-C, also in disguise: ctypes turns a KeyboardInterrupt raised while it
    converts a Z3 call's arguments into an `ArgumentError` ("argument 1: KeyboardInterrupt")."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt) or "KeyboardInterrupt" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _number(text: str, what: str) -> Fraction:
    """`text` as an exact number, through the one capped reader (no hundred-million-digit Fractions)."""
    import argparse

    from dsl.numbers import exact_number

    try:
        return exact_number(text)
    except (ValueError, ZeroDivisionError) as err:
        shown = repr(text[:40] + ("..." if len(text) > 40 else ""))
        reason = str(err) if "limited to" in str(err) else f"not {what}"
        raise argparse.ArgumentTypeError(f"{shown}: {reason}") from None


def _whole_at_least(
    low: int, words: str, high: int = MAX_WHOLE, why: str = "the most solvent accepts here"
) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (`words` and `why` are for the errors)."""

    def parse(text: str) -> int:
        import argparse

        value = _number(text, "a whole number")
        if value.denominator != 1:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not {words}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{value} is more than {high:,}, {why}")
        return int(value)

    return parse


_positive_int = _whole_at_least(1, "a positive whole number")
_whole = _whole_at_least(0, "a whole number >= 0")
_rlimit = _whole_at_least(1, "a positive whole number", MAX_RLIMIT, "the most Z3 can count (32 bits)")


def _positive_seconds(text: str) -> Fraction:
    import argparse
    from fractions import Fraction

    value = _number(text, "a number of seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError("the timeout must be positive")
    if not Fraction(MIN_TIMEOUT) <= value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"the timeout must be between {MIN_TIMEOUT} and {MAX_TIMEOUT:,} seconds")
    return value


def _engines(text: str) -> tuple[str, ...]:
    import argparse

    from checker.core.options import ENGINES
    from dsl.diagnostics import did_you_mean

    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for n in names:
        if n not in ENGINES:
            hint = did_you_mean(n, ENGINES)
            raise argparse.ArgumentTypeError(
                f"no engine {n!r}" + (f"; {hint}" if hint else f"; choose from {','.join(ENGINES)}")
            )
    if "z3" not in names:
        raise argparse.ArgumentTypeError(
            "the portfolio needs `z3`: it answers the first, in-process try of every query"
        )
    return tuple(n for n in ENGINES if n in names)


def _pin(text: str) -> tuple[str, Fraction, bool]:
    """`NAME=VALUE`: the name, the exact value and whether it was written as a percentage (`mmr=0.5%`)."""
    import argparse

    from dsl.numbers import number_or_percent

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text[:60]!r}: write NAME=VALUE, e.g. mmr=0.005 or mmr=0.5%")
    if not value.strip().endswith("%"):
        return name.strip(), _number(value, "an exact number"), False
    try:
        exact, _ = number_or_percent(value)
    except (ValueError, ZeroDivisionError) as err:
        shown = repr(value[:40] + ("..." if len(value) > 40 else ""))
        reason = str(err) if "limited to" in str(err) else "not an exact number"
        raise argparse.ArgumentTypeError(f"{shown}: {reason}") from None
    return name.strip(), exact, True


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (imports the defaults it shows: call it inside `main`)."""
    import argparse

    from checker import version
    from checker.core.options import DEFAULT_ENGINES, ENGINES
    from checker.solve import engines_said
    from checker.solve.budget import DEFAULT_RLIMIT, DEFAULT_SAFETY_NET

    parser = argparse.ArgumentParser(prog="solvent", description="Prove margin and liquidation rules right.")
    # The engines' versions too: answers are the same everywhere for the same versions (spec/checks.md).
    parser.add_argument("--version", action="version", version=f"solvent {version()} ({engines_said()})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="check specs with Z3 and print verdicts",
        description="Check specs with Z3 and print a verdict per check.",
        epilog=_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help=".margin files or directories holding them")
    check.add_argument(
        "--format",
        choices=FORMATS,
        default="human",
        help="the report on stdout (or in -o FILE); default human",
    )
    for fmt, shown in zip(FORMATS[1:], ("JSON", "JUnit XML", "SARIF 2.1.0"), strict=True):
        check.add_argument(
            f"--{fmt}", metavar="FILE", help=f"also write the {shown} report to FILE, from the same run (combinable)"
        )
    check.add_argument(
        "--html",
        metavar="FILE",
        help="also write an HTML report with plots of each counterexample to FILE (see `solvent report`)",
    )
    check.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="treat UNKNOWN as a failure (exit status 1)",
    )
    check.add_argument(
        "-q",
        "--quiet",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the human report lists only what is not proved (violations, unknowns, errors) and the summary; "
        "no progress lines",
    )
    check.add_argument(
        "--rlimit",
        type=_rlimit,
        default=DEFAULT_RLIMIT,
        metavar="UNITS",
        help=f"solver work per query, in Z3 resource units (default {DEFAULT_RLIMIT:,}, about 10 s of Z3): "
        "the budget verdicts depend on, the same on every machine",
    )
    check.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_SAFETY_NET,
        metavar="SECONDS",
        help=f"wall-clock safety net per query (default {DEFAULT_SAFETY_NET}); an answer it cut short says so",
    )
    check.add_argument(
        "--engines",
        type=_engines,
        default=DEFAULT_ENGINES,
        metavar="LIST",
        help=f"solver portfolio, comma-separated, from {','.join(ENGINES)} (default {','.join(DEFAULT_ENGINES)}); "
        "`z3` alone solves in-process",
    )
    check.add_argument(
        "--no-split",
        dest="decompose",
        action="store_false",
        help="do not split queries by table bracket or by asset",
    )
    check.add_argument("--split", dest="decompose", action="store_true", help="split them (the default)")
    check.add_argument(
        "--params",
        choices=("ranges", "defaults"),
        default="ranges",
        help="check for every parameter in its range (default) or only at the defaults",
    )
    check.add_argument(
        "--synthesize",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="for each single-state violation, find parameter regions where the check holds (conditions relating "
        "two parameters, and bounds on one), each proved by the check restricted to it (spec/checks.md, "
        "Safe-parameter synthesis)",
    )
    check.add_argument(
        "--param",
        type=_pin,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pin one parameter (NAME or NAME[ASSET]); repeatable",
    )
    check.add_argument(
        "--depth",
        type=_positive_int,
        default=None,
        metavar="K",
        help="check invariants over every sequence of up to K steps",
    )
    check.add_argument(
        "--max-k", type=_positive_int, default=4, metavar="K", help="largest k for k-induction proofs (default 4)"
    )
    check.add_argument(
        "--search-runs",
        type=_whole,
        default=8,
        metavar="N",
        help="concrete runs the deep search follows for invariants BMC leaves open (default 8; 0: no search)",
    )
    check.add_argument(
        "--search-depth",
        type=_positive_int,
        default=30,
        metavar="K",
        help="steps per deep-search run (default 30, at least --depth)",
    )
    check.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="CHECK-ID",
        help="run only this check (repeatable); see `solvent explain`",
    )
    check.add_argument(
        "--jobs",
        type=_positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="specs and checks checked in parallel; 1 = in-process (default: the number of CPUs)",
    )
    check.add_argument(
        "--cache",
        metavar="DIR",
        help="keep each spec's results in DIR and take them from there when the file, the options, the engines and "
        "solvent are unchanged (created if missing; a CI job restores it between runs)",
    )
    check.add_argument("--no-cache", dest="cache", action="store_const", const=None, help="check every spec anew")
    check.add_argument(
        "--cache-prune",
        action="store_true",
        help="after a complete run, remove the cache's entries it did not use (older versions of the specs, other "
        "options or engines)",
    )
    check.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    check.add_argument(
        "--force",
        action="store_true",
        help="let -o, --json, --junit, --sarif and --html overwrite a file solvent did not write (never a spec)",
    )
    check.add_argument(
        "--emit-tests", metavar="DIR", help="write a pytest file per violation into DIR (created if missing)"
    )
    check.add_argument(
        "--baseline",
        metavar="FILE",
        help="accepted findings: a TOML file of [[accept]] tables (spec, check, name, reason), beside any "
        "[[tool.solvent.accept]] in pyproject.toml; an accepted violation is reported as ACCEPTED and does not fail",
    )
    check.add_argument(
        "--write-baseline",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="append an entry for each violation not yet accepted (reason `TODO: say why this is accepted`) to "
        "FILE (default: the --baseline file, else pyproject.toml); existing entries are never changed",
    )
    check.add_argument(
        "--fail-stale",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="a baseline entry that matches no violation (now proved, renamed) fails the run (exit status 1)",
    )

    comp = sub.add_parser("compile", help="compile a spec to a standalone Python engine")
    comp.add_argument("path", metavar="RULES.margin")
    comp.add_argument("-o", "--output", metavar="ENGINE.py", help="where to write (default: stdout)")
    comp.add_argument(
        "--force", action="store_true", help="overwrite a file solvent did not write (never the spec itself)"
    )

    report = sub.add_parser(
        "report",
        help="an HTML report with plots from a check or stress JSON",
        description="Write a self-contained HTML report with plots (plotly inline; it opens offline) from the "
        "JSON of `solvent check --format json` or `solvent stress --format json`.",
        epilog="exit status: 0 written; 2 bad input (not JSON, neither shape, a spec the report names is gone) "
        "or an output solvent will not write over",
    )
    report.add_argument("input", metavar="INPUT.json")
    report.add_argument("-o", "--output", metavar="REPORT.html", required=True, help="where to write the report")
    report.add_argument(
        "--force", action="store_true", help="overwrite a file solvent did not write (never a spec or the input)"
    )

    from checker.cli_stress_args import add_parser as add_stress

    add_stress(sub, _whole_at_least)

    explain = sub.add_parser("explain", help="print the documentation of a check")
    explain.add_argument("check_id", nargs="?", metavar="CHECK-ID")

    conform = sub.add_parser(
        "conform",
        help="test an existing engine against a spec (spec/conformance.md)",
        epilog="exit status: 0 conforms on every case tried; 1 a mismatch; 2 bad input (spec, mapping, "
        "an implementation that cannot be imported or started, raises, answers in the wrong shape or hangs)",
    )
    conform.add_argument("spec", metavar="RULES.margin")
    impl = conform.add_mutually_exclusive_group(required=True)
    impl.add_argument("--impl", metavar="MODULE:FUNCTION", help="a Python function: pkg.module:fn or path/engine.py:fn")
    impl.add_argument("--impl-cmd", metavar="COMMAND", help='a program speaking JSON lines, e.g. "node engine.js"')
    conform.add_argument("--mapping", metavar="MAPPING.toml", help="names, units, fixed parameters and tolerances")
    conform.add_argument(
        "--tolerance", metavar="NAME=VALUE", action="append", type=_tolerance, help="|impl - spec| <= VALUE for NAME"
    )
    conform.add_argument("--examples", type=_whole, default=200, help="generated cases")
    conform.add_argument("--seed", type=_whole, default=0, help="Hypothesis seed (default 0)")
    conform.add_argument("--timeout", type=_positive_seconds, default=5, help="per-case time limit, seconds")
    return parser


def _tolerance(text: str) -> tuple[str, str]:
    import argparse

    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. equity=0.01), not {text!r}")
    return name.strip(), value.strip()
