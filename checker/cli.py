"""The `solvent` command line: check, compile, explain.

Thin on purpose: argument parsing, reading files, calling `dsl` and
`checker.run`, printing. Exit status: 0 everything proved, 1 a violation
(or an unknown under --strict), 2 a usage or spec error, 3 unknowns but no
violation, 4 a bug in solvent, 130 interrupted (Ctrl-C, or SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from checker.checks.catalogue import CATALOGUE, IDS
from checker.core.options import DEFAULT_ENGINES, ENGINES, Options, OptionsError
from checker.report.render import SpecReport, exit_status, human, summary_line, to_json, to_junit, to_sarif
from checker.solve import configure
from checker.solve.budget import DEFAULT_RLIMIT, DEFAULT_SAFETY_NET
from dsl.diagnostics import InternalError, SpecError, did_you_mean

EXIT_BUG = 4
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input: printed as `solvent: error: ...`, exit status 2."""


def _whole_at_least(low: int, words: str) -> Callable[[str], int]:
    """An argparse type: a whole number >= `low` (`words` says what is expected, for the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not {words}")
        return value

    return parse


_positive_int = _whole_at_least(1, "a positive whole number")
_whole = _whole_at_least(0, "a whole number >= 0")


def _positive_seconds(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the timeout must be positive")
    return value


def _engines(text: str) -> tuple[str, ...]:
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


def _pin(text: str) -> tuple[str, Fraction]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=VALUE, e.g. mmr=0.005")
    try:
        return name.strip(), Fraction(value.strip().replace("_", ""))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not an exact number") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="solvent", description="Prove margin and liquidation rules right.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="check specs with Z3 and print verdicts")
    check.add_argument("paths", nargs="+", metavar="PATH", help=".margin files or directories holding them")
    check.add_argument("--format", choices=("human", "json", "junit", "sarif"), default="human")
    check.add_argument("--strict", action="store_true", help="treat UNKNOWN as a failure (exit status 1)")
    check.add_argument(
        "--rlimit",
        type=_positive_int,
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
    check.add_argument(
        "--params",
        choices=("ranges", "defaults"),
        default="ranges",
        help="check for every parameter in its range (default) or only at the defaults",
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
    check.add_argument("--emit-tests", metavar="DIR", help="write a pytest file per violation into DIR")

    comp = sub.add_parser("compile", help="compile a spec to a standalone Python engine")
    comp.add_argument("path", metavar="RULES.margin")
    comp.add_argument("-o", "--output", metavar="ENGINE.py", help="where to write (default: stdout)")
    comp.add_argument("--force", action="store_true", help="overwrite a file solvent did not write")

    explain = sub.add_parser("explain", help="print the documentation of a check")
    explain.add_argument("check_id", nargs="?", metavar="CHECK-ID")
    return parser


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `solvent` console script."""
    args = build_parser().parse_args(argv)
    # Specs are trees; deeply nested expressions need more than Python's default recursion depth.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 8000))
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a CI job cancelled, `kill`) stops a run like Ctrl-C: the worker and solver processes
        # are stopped with it, instead of being left behind without their parent.
        signal.signal(signal.SIGTERM, _terminated)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "compile":
            return _compile(args)
        return _explain(args)
    except (UsageError, OptionsError) as err:
        print(f"solvent: error: {err}", file=sys.stderr)
        return 2
    except SpecError as err:
        print(err.render(), file=sys.stderr)
        return 2
    except InternalError as err:
        print(str(err), file=sys.stderr)
        return EXIT_BUG
    except RecursionError:
        print("solvent: error: the spec nests expressions too deeply; split them into several `let`s", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("solvent: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`solvent explain | head`): stop quietly, and keep Python from
        # complaining while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def spec_files(paths: Sequence[str]) -> list[Path]:
    """The .margin files named or found (recursively) under the given paths, in a stable order."""
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
    return Options(
        timeout=args.timeout,
        rlimit=args.rlimit,
        engines=args.engines,
        decompose=args.decompose,
        pins=dict(args.param),
        all_defaults=args.params == "defaults",
        depth=args.depth or 0,
        max_k=args.max_k,
        search_runs=args.search_runs,
        search_depth=args.search_depth,
    )


def _check(args: argparse.Namespace) -> int:
    from contextlib import closing

    from checker.parallel import Finished, Run

    for check_id in args.only:
        if check_id not in IDS:
            hint = did_you_mean(check_id, IDS)
            raise UsageError(f"--only {check_id}: no such check" + (f"; {hint}" if hint else ""))
    files = spec_files(args.paths)
    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise UsageError(f"--output {args.output}: the directory does not exist")
    options = _options(args)
    configure(options.seed)
    start = time.perf_counter()
    interrupted = False
    # A spinner on a terminal; elsewhere (a CI log) a line per spec, so the log is never silent for long.
    # One spec gets no line: it would come at the same moment as the report itself.
    status = _Status(args.format == "human" and sys.stderr.isatty(), not sys.stderr.isatty() and len(files) > 1)
    run = Run(files, options, args.only, args.jobs, status.update)
    done: list[Finished | None] = [None] * len(files)
    flushed = 0  # specs whose side output (diagnostics, emitted tests) is out: in file order, whatever --jobs
    try:
        with closing(run.events()) as events:
            for event in events:
                report = run.reports[event.index]
                assert report is not None
                done[event.index] = event
                status.finished(report)
                while flushed < len(files) and (finished := done[flushed]) is not None:
                    _side_output(args, run.reports[flushed], finished.at_load)
                    flushed += 1
    except KeyboardInterrupt:
        interrupted = True
    finally:
        status.stop()
    reports = run.so_far()
    seconds = time.perf_counter() - start
    _emit(args, reports, seconds, interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    if any(r.bug for r in reports):
        for r in reports:
            if r.bug:
                print(f"{r.path}: {r.bug}", file=sys.stderr)
        return EXIT_BUG
    return exit_status(reports, args.strict)


def _side_output(args: argparse.Namespace, report: SpecReport | None, at_load: bool) -> None:
    """What a finished spec prints besides the report: its load errors, the tests it emits."""
    assert report is not None
    if report.error is not None and at_load and (args.output or args.format != "human"):
        print(report.error, file=sys.stderr)  # the report goes elsewhere; the person still sees it
    if args.emit_tests and report.error is None:
        from checker.report.emit import emit_tests

        written, warnings = emit_tests(report.path, report.results, Path(args.emit_tests))
        for line in warnings:
            print(f"solvent: warning: {line}", file=sys.stderr)
        if written:
            print(f"wrote {len(written)} test(s) for {report.path} into {args.emit_tests}", file=sys.stderr)


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
        if self.live is not None:
            self.live.update(f"checking {text}")

    def finished(self, report: SpecReport) -> None:
        """One line for a finished spec, e.g. `checked x.margin: 31 proved, ... (3.1 s)`."""
        from checker.report.render import counts

        if not self.lines:
            return
        if report.error is not None:
            line = f"{report.path}: spec error"
        else:
            c = counts([report])
            line = (
                f"checked {report.path}: {c['PROVED']} proved, {c['VIOLATED']} violated, "
                f"{c['UNKNOWN']} unknown, {c['SKIPPED']} skipped ({report.seconds:.1f} s)"
            )
            if report.bug is not None:
                line += "; stopped by a bug in solvent (see the end)"
        print(line, file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _emit(args: argparse.Namespace, reports: list[SpecReport], seconds: float, interrupted: bool) -> None:
    if args.format == "json":
        text = to_json(reports, seconds)
    elif args.format == "junit":
        text = to_junit(reports, args.strict)
    elif args.format == "sarif":
        text = to_sarif(reports, args.strict)
    else:
        lines: list[str] = []
        for r in reports:
            lines += human(r)
            lines.append("")
        if interrupted:
            lines.append("interrupted: the results above are those finished before Ctrl-C")
        lines.append(summary_line(reports, seconds))
        text = "\n".join(lines)
    if args.output:
        _write(Path(args.output), text + "\n", force=True)
    else:
        sys.stdout.write(text + "\n")


_MARK = "Margin engine compiled by solvent"


def _write(path: Path, text: str, force: bool) -> None:
    if path.is_dir():
        raise UsageError(f"{path}: is a directory")
    if path.exists() and not force and _MARK not in path.read_text(encoding="utf-8", errors="replace")[:300]:
        raise UsageError(f"{path} exists and was not written by solvent; pass --force to overwrite it")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"{path}: cannot write ({err.strerror})") from None


def _compile(args: argparse.Namespace) -> int:
    import dsl

    spec = dsl.load(args.path)
    spec.engine  # noqa: B018 -- builds the module: a spec CPython cannot compile is an error, not a file
    if args.output:
        _write(Path(args.output), spec.python, args.force)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(spec.python)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from checker.report.docs import check_page

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
