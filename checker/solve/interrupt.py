"""Ctrl-C while Z3 works: never lost, and prompt.

Z3 catches SIGINT itself during a check (its `ctrl_c` parameter, on by default)
and cancels the query; solvent then has to tell the cancelled query from one
that ended on its own by the reason Z3 gives. That reason is not reliable: a
Ctrl-C in the last milliseconds of a cheap try came back as "incomplete
(nonlinear arithmetic by linearisation only)", an ordinary unknown, and the run
went on as if no key had been pressed (measured: 1 in about 300 Ctrl-Cs at
random moments of a cheap try on tests/cli/hopeless.margin; seen once as a
failure of tests/test_cli_hardening.py on a busy machine, where the run went on
for 54 s and exited 3 instead of 130).

So Z3 is told to leave SIGINT alone (`configure` sets `ctrl_c` to false for
every solver) and Python keeps it: Python's own handler notes the signal at
once, even while Z3 runs, and raises KeyboardInterrupt as soon as the check
returns. To make the check return at once, `watch` (called by the CLI, in the
main thread) has Python also write every signal's number to a pipe, and a
thread reading it interrupts the Z3 contexts that are checking at that moment
in `interruptible` blocks (the cheap try, Z3's default solver and the
ladder's rungs, Spacer, the deep search's optimisations): the query ends
"canceled" and the KeyboardInterrupt follows. A check outside such a block (a
rounding attempt, a step of the deep search) is not cut short; it ends on its
own small work limit first.
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
