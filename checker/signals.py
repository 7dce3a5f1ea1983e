"""Signals around worker processes, shared by `checker.parallel` (--jobs) and `checker.stress.distribute`.

Light on purpose (the standard library only): a stress worker must not load the solver to use it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """SIGINT held back in this thread while a worker process may start.

    A process inherits its parent's signal mask, so a worker is born with SIGINT blocked and never
    sees the terminal's Ctrl-C (which signals the whole process group) while it imports: a worker
    interrupted there printed its traceback (measured: Ctrl-C about 2 s into `--jobs 2`). The parent
    gets a Ctrl-C that came meanwhile as soon as the mask is restored, and stops the workers itself.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: no masks to inherit
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
