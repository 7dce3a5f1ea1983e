"""The `solvent` command line: check, compile, explain.

Thin on purpose: argument parsing, reading files, calling `dsl` and
`checker.run`, printing. Exit status: 0 everything proved, 1 a violation
(or an unknown under --strict), 2 a usage or spec error, 3 unknowns but no
violation, 4 a bug in solvent, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from checker.checks.catalogue import CATALOGUE, IDS
from checker.core.options import Options, OptionsError
from checker.report.render import SpecReport, exit_status, human, summary_line, to_json, to_junit, to_sarif
from checker.solve import configure
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
        "--timeout",
        type=_positive_seconds,
        default=Fraction(10),
        metavar="SECONDS",
        help="solver time limit per query (default 10)",
    )
    check.add_argument("--rlimit", type=_positive_int, default=None, help="Z3 resource limit per query")
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
    check.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    check.add_argument("--emit-tests", metavar="DIR", help="write a pytest file per violation into DIR")

    comp = sub.add_parser("compile", help="compile a spec to a standalone Python engine")
    comp.add_argument("path", metavar="RULES.margin")
    comp.add_argument("-o", "--output", metavar="ENGINE.py", help="where to write (default: stdout)")
    comp.add_argument("--force", action="store_true", help="overwrite a file solvent did not write")

    explain = sub.add_parser("explain", help="print the documentation of a check")
    explain.add_argument("check_id", nargs="?", metavar="CHECK-ID")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `solvent` console script."""
    args = build_parser().parse_args(argv)
    # Specs are trees; deeply nested expressions need more than Python's default recursion depth.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 8000))
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
        pins=dict(args.param),
        all_defaults=args.params == "defaults",
        depth=args.depth or 0,
        max_k=args.max_k,
        search_runs=args.search_runs,
        search_depth=args.search_depth,
    )


def _check(args: argparse.Namespace) -> int:
    import dsl
    from checker.run import run_checks

    for check_id in args.only:
        if check_id not in IDS:
            hint = did_you_mean(check_id, IDS)
            raise UsageError(f"--only {check_id}: no such check" + (f"; {hint}" if hint else ""))
    files = spec_files(args.paths)
    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise UsageError(f"--output {args.output}: the directory does not exist")
    options = _options(args)
    configure(options.seed)
    reports: list[SpecReport] = []
    start = time.perf_counter()
    interrupted = False
    status = _Status(args.format == "human" and sys.stderr.isatty())
    try:
        for path in files:
            report = SpecReport(str(path))
            reports.append(report)
            t0 = time.perf_counter()
            try:
                spec = dsl.load(path)
            except SpecError as err:
                report.error = err.render()
                if args.output or args.format != "human":
                    print(report.error, file=sys.stderr)  # the report goes elsewhere; the person still sees it
                continue
            report.title = spec.program.title
            try:
                for result in run_checks(spec, options, args.only):
                    report.results.append(result)
                    status.update(f"{path}: {result.name}")
            except InternalError as err:  # a solvent bug: keep the other specs' results, fail loudly at the end
                report.bug = str(err)
            except SpecError as err:  # found while building the engine (e.g. nesting too deep for CPython)
                report.error = err.render()
                report.results.clear()
            report.seconds = time.perf_counter() - t0
            if args.emit_tests:
                from checker.report.emit import emit_tests

                written, warnings = emit_tests(str(path), report.results, Path(args.emit_tests))
                for line in warnings:
                    print(f"solvent: warning: {line}", file=sys.stderr)
                if written:
                    print(f"wrote {len(written)} test(s) for {path} into {args.emit_tests}", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        status.stop()
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


class _Status:
    """A one-line progress display on a terminal; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.live = None
        if enabled:
            from rich.console import Console

            self.live = Console(stderr=True).status("checking...")
            self.live.start()

    def update(self, text: str) -> None:
        if self.live is not None:
            self.live.update(f"checking {text}")

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
