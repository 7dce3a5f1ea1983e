"""The `solvent` command line: check, compile, explain.

Thin on purpose: argument parsing, reading files, calling `dsl` and
`checker.run`, printing. Exit status: 0 everything proved, 1 a violation
(or an unknown under --strict), 2 a usage or spec error or a run that
checked nothing, 3 unknowns but no violation, 4 a bug in solvent, 130
interrupted (Ctrl-C, or SIGTERM).

This module is the console script's entry point, so it imports nothing heavy
at module level: Z3, Lark, rich and the rest of solvent load inside `main`,
under the handler that turns Ctrl-C into exit status 130. Ctrl-C in the
first few hundred milliseconds, while they load, is then as clean as later.
Everything printed goes through `checker.report.text.printable`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing is a tenth of this module's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from fractions import Fraction
    from pathlib import Path

    from checker.core.options import Options
    from checker.report.baseline import Baseline
    from checker.report.render import SpecReport

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

-o FILE, --json FILE, --junit FILE and --sarif FILE never write over a spec being checked, and over
an existing file only if solvent wrote it (a report or an engine) or with --force; /dev/null and other
character devices are fine. Several may be given in one run: each gets the same results.

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


def _say(text: str) -> None:
    """Print a message for the person on stderr, control characters escaped."""
    from checker.report.text import printable

    print(printable(text), file=sys.stderr)


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
    from checker.solve.budget import DEFAULT_RLIMIT, DEFAULT_SAFETY_NET

    parser = argparse.ArgumentParser(prog="solvent", description="Prove margin and liquidation rules right.")
    parser.add_argument("--version", action="version", version=f"solvent {version()}")
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
    check.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    check.add_argument(
        "--force",
        action="store_true",
        help="let -o, --json, --junit and --sarif overwrite a file solvent did not write (never a spec)",
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


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _Interrupt:
    """Whether Ctrl-C came, also where Python would drop it: in a destructor (see `_unraisable`)."""

    seen = False


def _is_interrupt(exc: BaseException | None) -> bool:
    while exc is not None:
        # ctypes turns a KeyboardInterrupt raised while it converts arguments into an ArgumentError
        if isinstance(exc, KeyboardInterrupt) or "KeyboardInterrupt" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """Ctrl-C inside a `__del__` (Z3 frees its terms in destructors): record it instead of losing it.

    Python cannot raise from a destructor, so it prints the KeyboardInterrupt and goes on as if no key
    had been pressed. Recorded, it stops the run at the next result. After an interrupt, what objects
    left half-built by it say as they are freed (e.g. a `z3.Context` without its `owner`) is not shown.
    """
    if _is_interrupt(unraisable.exc_value):
        _Interrupt.seen = True
    elif not _Interrupt.seen:
        sys.__unraisablehook__(unraisable)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `solvent` console script and of `python -m checker`: the exit status."""
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable
    _Interrupt.seen = False
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # also while the heavy modules load, before any other handler exists
        _Interrupt.seen = True
        code = None
    if not _Interrupt.seen:
        sys.unraisablehook = previous_hook
        return code if code is not None else EXIT_INTERRUPTED
    # Interrupted: the hook stays, for the half-built objects freed as the process ends.
    if code != EXIT_INTERRUPTED:  # `check` reports its own interruption
        import contextlib

        with contextlib.suppress(OSError, ValueError):  # stderr closed: the exit status still says it
            print("solvent: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    if os.environ.get("SOLVENT_TEST_ANNOUNCE_START"):
        # For tests/test_cli_hardening.py: says when solvent's own code starts (before its heavy imports),
        # so that a test can press Ctrl-C at a known point of start-up. Prints one line; changes nothing else.
        print("solvent: starting", file=sys.stderr, flush=True)
    import signal
    import threading

    from checker.core.options import OptionsError
    from checker.report.files import OutputError
    from dsl.diagnostics import InternalError, SpecError
    from dsl.limits import RECURSION_LIMIT

    parser = build_parser()
    args = parser.parse_args(argv)
    # Specs are trees; deeply nested expressions need more than Python's default recursion depth.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a CI job cancelled, `kill`) stops a run like Ctrl-C: the worker and solver processes
        # are stopped with it, instead of being left behind without their parent.
        signal.signal(signal.SIGTERM, _terminated)
    try:
        if args.command == "check":
            return _check(_with_settings(parser, argv, args))
        if args.command == "compile":
            return _compile(args)
        if args.command == "conform":
            from checker.testing.conform_report import run_cli

            return run_cli(args)
        return _explain(args)
    except (UsageError, OptionsError, OutputError) as err:
        _say(f"solvent: error: {err}")
        return EXIT_USAGE
    except SpecError as err:
        _say(err.render())
        return EXIT_USAGE
    except InternalError as err:
        _say(str(err))
        return EXIT_BUG
    except RecursionError:
        _say("solvent: error: the spec nests expressions too deeply; split them into several `let`s")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`solvent explain | head`): stop quietly, and keep Python from
        # complaining while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def check_settings(start: Path) -> tuple[argparse.Namespace, Options]:
    """`solvent check`'s arguments and options as `[tool.solvent]` near `start` sets them (the pytest plugin's).

    Raises `SpecError` for a bad setting, as `solvent check` would report it.
    """
    parser = build_parser()
    argv = ["check", "."]
    args = _with_settings(parser, argv, parser.parse_args(argv), start)
    return args, _options(args)


def _with_settings(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    args: argparse.Namespace,
    start: Path | None = None,
) -> argparse.Namespace:
    """`args` of `check` with `[tool.solvent]` (checker.settings) as the defaults: the command line wins.

    The settings are those of the pyproject.toml nearest `start` (default: the working directory).
    """
    from pathlib import Path

    from checker.settings import load_settings

    check = _subparser(parser, "check")
    actions = {a.dest: a for a in check._actions}
    settings = load_settings(start or Path.cwd(), actions)
    if not settings.values:
        return args
    values = dict(settings.values)
    only = values.pop("only", None)
    check.set_defaults(**values)
    args = parser.parse_args(argv)
    if only is not None and not args.only:  # `--only` appends: the file's list applies only when none is given
        args.only = only
    return args


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise AssertionError(f"no command {name}")


def spec_files(paths: Sequence[str]) -> list[Path]:
    """The .margin files named or found (recursively) under the given paths, in a stable order."""
    from pathlib import Path

    out: list[Path] = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            found = sorted(p.rglob("*.margin"))
            if not found:
                raise UsageError(f"{text}: no .margin files in this directory")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"{text}: no such file or directory")
    return out


def _options(args: argparse.Namespace) -> Options:
    from checker.core.options import Options

    return Options(
        timeout=args.timeout,
        rlimit=args.rlimit,
        engines=args.engines,
        decompose=args.decompose,
        pins={name: value for name, value, _ in args.param},
        percent=frozenset(name for name, _, pct in args.param if pct),
        all_defaults=args.params == "defaults",
        depth=args.depth or 0,
        max_k=args.max_k,
        search_runs=args.search_runs,
        search_depth=args.search_depth,
        synthesize=args.synthesize,
    )


def _check(args: argparse.Namespace) -> int:
    import time
    from contextlib import closing
    from pathlib import Path

    from checker.checks.catalogue import IDS
    from checker.parallel import Finished, Run
    from checker.report.baseline import apply_baseline, for_run
    from checker.report.files import OutputError, check_target, prepare_directory
    from checker.report.render import exit_status, nothing_checked
    from checker.solve import configure
    from dsl.diagnostics import did_you_mean

    for check_id in args.only:
        if check_id not in IDS:
            hint = did_you_mean(check_id, IDS)
            raise UsageError(f"--only {check_id}: no such check" + (f"; {hint}" if hint else ""))
    files = spec_files(args.paths)
    # Where the results go is settled before the (long) run: a path that cannot be written is refused now,
    # not after the results are in.
    for _, target in _report_files(args):
        check_target(Path(target), args.force, files)
    if args.emit_tests:
        try:
            prepare_directory(Path(args.emit_tests))
        except OutputError as err:
            raise UsageError(f"--emit-tests {err}") from None
    try:  # a malformed entry stops the run before it starts
        baseline = for_run(args.baseline, args.write_baseline, Path.cwd())
    except ValueError as err:
        raise UsageError(str(err)) from None
    options = _options(args)
    configure(options.seed)
    start = time.perf_counter()
    interrupted = False
    # A spinner on a terminal; elsewhere (a CI log) a line per spec, so the log is never silent for long.
    # One spec gets no line: it would come at the same moment as the report itself.
    status = _Status(
        args.format == "human" and sys.stderr.isatty() and not args.quiet,
        not sys.stderr.isatty() and len(files) > 1 and not args.quiet,
    )
    run = Run(files, options, args.only, args.jobs, status.update)
    done: list[Finished | None] = [None] * len(files)
    side = _SideOutput(args)
    flushed = 0  # specs whose side output (diagnostics, emitted tests) is out: in file order, whatever --jobs
    try:
        with closing(run.events()) as events:
            for event in events:
                report = run.reports[event.index]
                assert report is not None
                done[event.index] = event
                # Accepted violations are marked as each spec finishes, so that its progress line counts
                # them as accepted and no test is emitted for them; the run's stale entries are judged at the end.
                apply_baseline([report], baseline, args.only, args.fail_stale)
                status.finished(report)
                while flushed < len(files) and (finished := done[flushed]) is not None:
                    side.spec_done(run.reports[flushed], finished.at_load)
                    flushed += 1
    except KeyboardInterrupt:
        interrupted = _Interrupt.seen = True
    finally:
        status.stop()
    interrupted = interrupted or _Interrupt.seen  # a Ctrl-C in a destructor, noticed after the last result
    reports = run.so_far()
    seconds = time.perf_counter() - start
    stale_fails, write_failed = False, False
    if not interrupted:
        stale_fails, write_failed = _accept(args, baseline, reports, files)
        nothing_checked(reports, args.only)
        if args.output or args.format != "human":  # the report goes elsewhere; the person still sees why
            for r in reports:
                if r.unchecked is not None:
                    _say(f"solvent: error: {r.path}: nothing was checked: {r.unchecked}")
    written = _emit(args, reports, seconds, interrupted, files)
    if interrupted:
        return EXIT_INTERRUPTED
    if any(r.bug for r in reports):
        for r in reports:
            if r.bug:
                _say(f"{r.path}: {r.bug}")
        return EXIT_BUG
    if side.failure is not None:
        _say(f"solvent: error: --emit-tests {side.failure}")
    if side.failure is not None or not written or write_failed:
        return EXIT_USAGE
    code = exit_status(reports, args.strict)
    return 1 if stale_fails and code in (0, 3) else code


def _accept(
    args: argparse.Namespace, baseline: Baseline, reports: list[SpecReport], files: list[Path]
) -> tuple[bool, bool]:
    """Apply the baseline (and `--write-baseline`) to the run.

    Returns whether a stale entry that no report shows fails the run, and whether the write failed (said
    here; the report is still printed, and the run exits 2).
    """
    from checker.report.baseline import settle

    write = args.write_baseline is not None
    stale, written, failure = settle(reports, baseline, args.only, args.fail_stale, write, files)
    if failure is not None:
        _say(f"solvent: error: --write-baseline: {failure}")
    elif write:
        where = os.path.relpath(baseline.target) if baseline.target is not None else "?"
        _say(f"wrote {written} baseline entr{'y' if written == 1 else 'ies'} to {where}")
    shown = {id(s) for r in reports for s in r.stale}
    for s in stale:  # an entry for a spec that no longer exists is in no spec's report: said here
        if id(s) not in shown:
            _say(f"solvent: {'error' if s.fails else 'warning'}: {s.message()}")
    return any(s.fails and id(s) not in shown for s in stale), failure is not None


class _SideOutput:
    """What a finished spec prints besides the report: its load errors, the tests it emits.

    A failure to write the tests (the directory removed, the disk full) is kept in `failure`: the run
    goes on without emitting more, the report is still printed, and the exit status is 2.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.failure: str | None = None

    def spec_done(self, report: SpecReport | None, at_load: bool) -> None:
        from pathlib import Path

        args = self.args
        assert report is not None
        if report.error is not None and at_load and (args.output or args.format != "human"):
            _say(report.error)  # the report goes elsewhere; the person still sees it
        if not args.emit_tests or report.error is not None or self.failure is not None:
            return
        from checker.report.emit import emit_tests

        try:
            written, warnings = emit_tests(report.path, report.results, Path(args.emit_tests))
        except OSError as err:
            where = err.filename or args.emit_tests
            self.failure = f"{where}: cannot write ({err.strerror or err}); no more tests were emitted"
            return
        for line in warnings:
            _say(f"solvent: warning: {line}")
        if written and not args.quiet:
            _say(f"wrote {len(written)} test(s) for {report.path} into {args.emit_tests}")


class _Status:
    """Progress: a one-line display on a terminal, or a line per finished spec (`lines`), or nothing."""

    def __init__(self, enabled: bool, lines: bool = False) -> None:
        self.live = None
        self.lines = lines
        if enabled:
            from rich.console import Console

            self.live = Console(stderr=True).status("checking...")
            self.live.start()

    def update(self, text: str) -> None:
        """Called after each result: shows it, and stops the run for a Ctrl-C a destructor swallowed."""
        if _Interrupt.seen:
            raise KeyboardInterrupt
        if self.live is not None:
            from rich.markup import escape

            from checker.report.text import printable

            self.live.update(escape(printable(f"checking {text}", lines=False)))

    def finished(self, report: SpecReport) -> None:
        """One line for a finished spec, e.g. `checked x.margin: 31 proved, ... (3.1 s)`."""
        from checker.report.render import counts
        from checker.report.text import printable

        if not self.lines:
            return
        if report.error is not None:
            line = f"{report.path}: spec error"
        else:
            c = counts([report])
            accepted = f", {c['ACCEPTED']} accepted" if c["ACCEPTED"] else ""
            line = (
                f"checked {report.path}: {c['PROVED']} proved, {c['VIOLATED']} violated{accepted}, "
                f"{c['UNKNOWN']} unknown, {c['SKIPPED']} skipped ({report.seconds:.1f} s)"
            )
            if report.bug is not None:
                line += "; stopped by a bug in solvent (see the end)"
        print(printable(line, lines=False), file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _report_files(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (format, path) pairs to write: `-o` in `--format`, then `--json`, `--junit`, `--sarif`.

    Two of them naming the same file would overwrite each other: a usage error, before the run.
    """
    import os

    pairs = [(args.format, args.output)] if args.output else []
    pairs += [(fmt, getattr(args, fmt)) for fmt in FORMATS[1:] if getattr(args, fmt)]
    seen: dict[str, str] = {}
    for fmt, path in pairs:
        key = os.path.realpath(path)
        if key in seen and not path.startswith("/dev/"):
            raise UsageError(f"{path}: named for two reports ({seen[key]} and {fmt}); give each its own file")
        seen[key] = fmt
    return pairs


def _render(fmt: str, args: argparse.Namespace, reports: list[SpecReport], seconds: float, interrupted: bool) -> str:
    """The whole report in one format."""
    from checker.report.render import human, summary_line, to_json, to_junit, to_sarif

    if fmt == "json":
        return to_json(reports, seconds)
    if fmt == "junit":
        return to_junit(reports, args.strict)
    if fmt == "sarif":
        return to_sarif(reports, args.strict)
    lines: list[str] = []
    for r in reports:
        shown = human(r, quiet=args.quiet)
        lines += [*shown, ""] if shown else []
    if interrupted:
        lines.append("interrupted: the results above are those finished before Ctrl-C")
    lines.append(summary_line(reports, seconds))
    return "\n".join(lines)


def _emit(
    args: argparse.Namespace, reports: list[SpecReport], seconds: float, interrupted: bool, inputs: list[Path]
) -> bool:
    """Print the report and write every report file; False when one could not be written.

    The report `-o` could not take goes to stdout instead; one for `--json`/`--junit`/`--sarif` is
    only said to have failed (stdout holds the `--format` report already).
    """
    from pathlib import Path

    from checker.report.files import OutputError, write_target

    ok = True
    stdout_done = False
    for fmt, target in _report_files(args):
        text = _render(fmt, args, reports, seconds, interrupted)
        try:
            write_target(Path(target), text + "\n", args.force, inputs)
        except OutputError as err:
            ok = False
            if target == args.output:
                _say(f"solvent: error: {err}; the report follows on stdout")
                sys.stdout.write(text + "\n")
                stdout_done = True
            else:
                _say(f"solvent: error: {err}")
    if not args.output and not stdout_done:
        sys.stdout.write(_render(args.format, args, reports, seconds, interrupted) + "\n")
    return ok


def _compile(args: argparse.Namespace) -> int:
    from pathlib import Path

    import dsl
    from checker.report.files import check_target, write_target

    target = Path(args.output) if args.output else None
    if target is not None:
        check_target(target, args.force, [Path(args.path)])  # before the work, as for `check -o`
    spec = dsl.load(args.path)
    spec.engine  # noqa: B018 -- builds the module: a spec CPython cannot compile is an error, not a file
    if target is not None:
        write_target(target, spec.python, args.force, [Path(args.path)])
        _say(f"wrote {args.output}")
    else:
        sys.stdout.write(spec.python)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from checker.checks.catalogue import CATALOGUE, IDS
    from checker.report.docs import check_page
    from dsl.diagnostics import did_you_mean

    if args.check_id is None:
        width = max(len(c.id) for c in CATALOGUE)
        for c in CATALOGUE:
            print(f"{c.id.ljust(width)}  {c.summary}")
        return 0
    if args.check_id not in IDS:
        hint = did_you_mean(args.check_id, IDS)
        raise UsageError(
            f"no check `{args.check_id}`" + (f"; {hint}" if hint else "; run `solvent explain` for the list")
        )
    print(check_page(args.check_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
