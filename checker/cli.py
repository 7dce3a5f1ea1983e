"""The `solvent` command line: check, compile, explain, conform, report.

Thin on purpose: this module parses the arguments (`checker.cli_common`, the
grammar every command shares), dispatches, turns errors into exit statuses
and Ctrl-C into 130; `checker.cli_check` runs `check`, and
`checker.testing.conform_report` runs `conform`.

Exit status: 0 everything proved, 1 a violation (or an unknown under
--strict), 2 a usage or spec error or a run that checked nothing, 3 unknowns but no violation, 4 a bug in solvent, 130
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

from checker.cli_common import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Interrupt,
    UsageError,
    build_parser,
    is_interrupt,
    say,
)

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing is a tenth of this module's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """Ctrl-C inside a `__del__` (Z3 frees its terms in destructors): record it instead of losing it.

    Python cannot raise from a destructor, so it prints the KeyboardInterrupt and goes on as if no key
    had been pressed. Recorded, it stops the run at the next result. After an interrupt, what objects
    left half-built by it say as they are freed (e.g. a `z3.Context` without its `owner`) is not shown.
    """
    if is_interrupt(unraisable.exc_value):
        Interrupt.seen = True
    elif not Interrupt.seen:
        sys.__unraisablehook__(unraisable)
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `solvent` console script and of `python -m checker`: the exit status."""
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable
    Interrupt.seen = False
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # also while the heavy modules load, before any other handler exists
        Interrupt.seen = True
        code = None
    except Exception as exc:  # only a Ctrl-C in disguise (see is_interrupt) is handled; the rest is re-raised
        if not is_interrupt(exc):
            raise
        Interrupt.seen = True
        code = None
    if not Interrupt.seen:
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
        from checker.solve.interrupt import watch

        watch()  # Ctrl-C and SIGTERM stop the Z3 check under way at once (checker.solve.interrupt)
    try:
        if args.command == "check":
            from checker.cli_check import run_check, with_settings

            return run_check(with_settings(parser, argv, args))
        if args.command == "compile":
            return _compile(args)
        if args.command == "stress":
            from checker.cli_stress import run_stress

            return run_stress(args)
        if args.command == "report":
            from checker.cli_report import run_report

            return run_report(args)
        if args.command == "conform":
            from checker.testing.conform_report import run_cli

            return run_cli(args)
        return _explain(args)
    except (UsageError, OptionsError, OutputError) as err:
        say(f"solvent: error: {err}")
        return EXIT_USAGE
    except SpecError as err:
        say(err.render())
        return EXIT_USAGE
    except InternalError as err:
        say(str(err))
        return EXIT_BUG
    except RecursionError:
        say("solvent: error: the spec nests expressions too deeply; split them into several `let`s")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`solvent explain | head`): stop quietly, and keep Python from
        # complaining while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

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
        say(f"wrote {args.output}")
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
