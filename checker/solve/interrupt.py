"""Ctrl-C while Z3 works: never lost, and prompt.

Z3 catches SIGINT itself during a call (its `ctrl_c` parameter, on by default)
and cancels what it is doing; Python's own handler never sees the signal. The
caller then has to notice from Z3's answer ("unknown, interrupted from
keyboard", or "canceled") that the user pressed Ctrl-C, and a call whose
caller does not, or one that had already ended its work as the signal came,
keeps the Ctrl-C to itself. It happened once on a busy machine: a Ctrl-C 0.8 s
into a run of tests/cli/hopeless.margin was lost, and the run went on for 54 s
and exited 3 instead of 130 (tests/test_cli_hardening.py). The exact moment was
not reproduced (none lost in 800 Ctrl-Cs at random moments of the cheap try
and 100 of Z3's default solver), so the fix takes the mechanism away rather
than one path.

So Z3 is told to leave SIGINT alone (`configure` sets `ctrl_c` to false for
every solver) and Python keeps it: Python's own handler notes the signal at
once, even while Z3 runs, and raises KeyboardInterrupt as soon as the check
returns. To make the check return at once, `watch` (called by the CLI, in the
main thread) has Python also write every signal's number to a pipe, and a
thread reading it interrupts the Z3 contexts that are checking at that moment
in `interruptible` blocks (the cheap try, Z3's default solver and the
ladder's rungs, Spacer, the deep search's optimisations; the deep search's
steps are cheap tries and ladders too): the query ends "canceled" and the
KeyboardInterrupt follows. The one check outside such a block, a rounding
attempt (checker.core.replay), is not cut short; it ends on its own small
work limit first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no Z3 at run time: the CLI calls `watch` before it loads the solver
    import z3

_checking: list[z3.Context] = []  # contexts whose check a Ctrl-C should stop
_lock = threading.Lock()
_watching = False


def watch() -> None:
    """Interrupt the checking contexts on SIGINT and SIGTERM (main thread only; once per process)."""
    global _watching
    if _watching or threading.current_thread() is not threading.main_thread():
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    threading.Thread(target=_stop_on_signal, args=(read,), name="solvent-ctrl-c", daemon=True).start()
    _watching = True


def _stop_on_signal(read: int) -> None:
    wanted = {signal.SIGINT, signal.SIGTERM}
    while True:
        data = os.read(read, 64)
        if not data:
            return
        if any(n in wanted for n in data):
            with _lock:
                contexts = list(_checking)
            for ctx in contexts:
                ctx.interrupt()


@contextlib.contextmanager
def interruptible(ctx: z3.Context) -> Iterator[None]:
    """A check in `ctx` inside this block ends at once on Ctrl-C (the KeyboardInterrupt follows it)."""
    with _lock:
        _checking.append(ctx)
    try:
        yield
    finally:
        with _lock:
            _checking.remove(ctx)
