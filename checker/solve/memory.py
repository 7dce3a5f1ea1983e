"""Keep the memory of finished Z3 contexts in the process, for the next query to reuse.

Most of a run's queries beyond the cheap first try are solved in a fresh Z3
context (`checker.solve.nra`, the portfolio, counterexample rounding), and a
fresh context takes about 17 MB, freed again when the query ends: thousands of
times in a run. glibc's allocator hands large freed blocks back to the kernel
(its mmap and trim thresholds), so the next context page-faults all of its
memory in afresh. Measured on `solvent check examples --jobs 1` (one run each,
`/usr/bin/time`): 2.8 million page faults and 70.9 s, against 0.26 million and
64.5 s with the thresholds below, and the same report. Only when memory goes
back to the kernel changes, never what is computed; without glibc's `mallopt`
(another platform or C library) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest: blocks below it come from the heap and are reused
_TRIM_THRESHOLD = 256 * 1024 * 1024  # free memory at the heap's top kept up to this much (default 128 KB)

_done = False


def keep_freed_memory() -> None:
    """Raise glibc's thresholds so that freed Z3 contexts are reused (once per process; else a no-op)."""
    global _done
    if _done:
        return
    _done = True
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # a C library without mallopt: nothing to tune
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
