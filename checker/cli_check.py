"""`solvent check`: settings, the run, progress, the baseline, the reports and the emitted tests.

Called by `checker.cli` with parsed arguments; returns the exit status. The
run itself is `checker.parallel.Run`; what a report looks like is
`checker.report`; this module decides what goes where, and when.
"""

from __future__ import annotations

import os
import sys

from checker.cli_common import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    FORMATS,
    Interrupt,
    UsageError,
    build_parser,
    is_interrupt,
    say,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from pathlib import Path

    from checker.cache import Cache
    from checker.core.options import Options
    from checker.report.baseline import Baseline
    from checker.report.render import SpecReport


def check_settings(start: Path) -> tuple[argparse.Namespace, Options]:
    """`solvent check`'s arguments and options as `[tool.solvent]` near `start` sets them (the pytest plugin's).

    Raises `SpecError` for a bad setting, as `solvent check` would report it.
    """
    parser = build_parser()
    argv = ["check", "."]
    args = with_settings(parser, argv, parser.parse_args(argv), start)
    return args, _options(args)


def with_settings(
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

    check = subparser(parser, "check")
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


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
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


def run_check(args: argparse.Namespace) -> int:
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
    for fmt, target in _report_files(args):
        check_target(Path(target), _force(args, fmt, target), files)
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
    cache = _cache(args, options)
    run = Run(files, options, args.only, args.jobs, status.update, cache=cache)
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
        interrupted = Interrupt.seen = True
    except Exception as exc:  # only a Ctrl-C in disguise (see is_interrupt) is handled; the rest is re-raised
        if not is_interrupt(exc):
            raise
        interrupted = Interrupt.seen = True  # the results so far are still reported
    finally:
        status.stop()
    interrupted = interrupted or Interrupt.seen  # a Ctrl-C in a destructor, noticed after the last result
    reports = run.so_far()
    seconds = time.perf_counter() - start
    stale_fails, write_failed = False, False
    if not interrupted:
        if cache is not None and args.cache_prune and not any(r.bug for r in reports):
            removed = cache.prune()
            say(f"solvent: --cache-prune: removed {removed} entr{'y' if removed == 1 else 'ies'} this run did not use")
        stale_fails, write_failed = _accept(args, baseline, reports, files)
        nothing_checked(reports, args.only)
        if args.output or args.format != "human":  # the report goes elsewhere; the person still sees why
            for r in reports:
                if r.unchecked is not None:
                    say(f"solvent: error: {r.path}: nothing was checked: {r.unchecked}")
    written = _emit(args, reports, seconds, interrupted, files)
    if interrupted:
        return EXIT_INTERRUPTED
    if any(r.bug for r in reports):
        for r in reports:
            if r.bug:
                say(f"{r.path}: {r.bug}")
        return EXIT_BUG
    if side.failure is not None:
        say(f"solvent: error: --emit-tests {side.failure}")
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
        say(f"solvent: error: --write-baseline: {failure}")
    elif write:
        where = os.path.relpath(baseline.target) if baseline.target is not None else "?"
        say(f"wrote {written} baseline entr{'y' if written == 1 else 'ies'} to {where}")
    shown = {id(s) for r in reports for s in r.stale}
    for s in stale:  # an entry for a spec that no longer exists is in no spec's report: said here
        if id(s) not in shown:
            say(f"solvent: {'error' if s.fails else 'warning'}: {s.message()}")
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
            say(report.error)  # the report goes elsewhere; the person still sees it
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
            say(f"solvent: warning: {line}")
        if written and not args.quiet:
            say(f"wrote {len(written)} test(s) for {report.path} into {args.emit_tests}")


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
        if Interrupt.seen:
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
                f"{'from the cache' if report.cached else 'checked'} {report.path}: {c['PROVED']} proved, "
                f"{c['VIOLATED']} violated{accepted}, {c['UNKNOWN']} unknown, {c['SKIPPED']} skipped "
                f"({report.seconds:.1f} s)"
            )
            if report.bug is not None:
                line += "; stopped by a bug in solvent (see the end)"
        print(printable(line, lines=False), file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _cache(args: argparse.Namespace, options: Options) -> Cache | None:
    """The result cache of `--cache DIR` (checker.cache), or None; a directory that cannot be one is a usage error."""
    if not args.cache:
        if args.cache_prune:
            raise UsageError("--cache-prune: give the cache with --cache DIR (or `cache` in [tool.solvent])")
        return None
    from pathlib import Path

    from checker.cache import Cache, CacheError

    try:
        return Cache(Path(args.cache), options, args.only, say)
    except CacheError as err:
        raise UsageError(str(err)) from None


def _report_files(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (format, path) pairs to write: `-o` in `--format`, then `--json`, `--junit`, `--sarif`.

    Two of them naming the same file would overwrite each other: a usage error, before the run.
    """
    import os

    pairs = [(args.format, args.output)] if args.output else []
    pairs += [(fmt, getattr(args, fmt)) for fmt in FORMATS[1:] if getattr(args, fmt)]
    pairs += [("html", args.html)] if getattr(args, "html", None) else []
    seen: dict[str, str] = {}
    for fmt, path in pairs:
        key = os.path.realpath(path)
        if key in seen and not path.startswith("/dev/"):
            raise UsageError(f"{path}: named for two reports ({seen[key]} and {fmt}); give each its own file")
        seen[key] = fmt
    return pairs


def _render(fmt: str, args: argparse.Namespace, reports: list[SpecReport], seconds: float, interrupted: bool) -> str:
    """The whole report in one format."""
    from checker.report.render import human, provenance, summary_line, to_json, to_junit, to_sarif

    if fmt == "json":
        return to_json(reports, seconds, provenance(_options(args), args.only))
    if fmt == "html":
        return _html(reports, seconds, provenance(_options(args), args.only))
    if fmt == "junit":
        return to_junit(reports, args.strict, provenance(_options(args), args.only))
    if fmt == "sarif":
        return to_sarif(reports, args.strict, provenance(_options(args), args.only))
    lines: list[str] = []
    for r in reports:
        shown = human(r, quiet=args.quiet)
        lines += [*shown, ""] if shown else []
    if interrupted:
        lines.append("interrupted: the results above are those finished before Ctrl-C")
    lines.append(summary_line(reports, seconds))
    return "\n".join(lines)


def _force(args: argparse.Namespace, fmt: str, target: str) -> bool:
    """--force, or an HTML report solvent wrote before (written again as `-o` rewrites its own reports)."""
    from pathlib import Path

    from checker.report.page import written_html

    return bool(args.force) or (fmt == "html" and written_html(Path(target)))


def _html(reports: list[SpecReport], seconds: float, tool: dict[str, object]) -> str:
    """`--html FILE`: the HTML report with plots, drawn from the JSON report of the same run."""
    import json

    from checker.report.files import OutputError
    from checker.report.html import ReportInputError, check_report_html
    from checker.report.render import to_json

    try:
        return check_report_html(json.loads(to_json(reports, seconds, tool)))
    except ReportInputError as err:
        raise OutputError(f"--html: {err}") from None


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
            write_target(Path(target), text if fmt == "html" else text + "\n", _force(args, fmt, target), inputs)
        except OutputError as err:
            ok = False
            if target == args.output:
                say(f"solvent: error: {err}; the report follows on stdout")
                sys.stdout.write(text + "\n")
                stdout_done = True
            else:
                say(f"solvent: error: {err}")
    if not args.output and not stdout_done:
        sys.stdout.write(_render(args.format, args, reports, seconds, interrupted) + "\n")
    return ok
