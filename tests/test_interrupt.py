"""Ctrl-C while Z3 works is never lost, and stops the check under way (checker.solve.interrupt).

What this protects: Z3's own SIGINT handling cancelled a query and left solvent to tell that from
the reason Z3 gave, which could read like an ordinary unknown; on a busy machine a Ctrl-C was lost
that way and the run went on for 54 s (exit 3, not 130). Now Z3 leaves SIGINT to Python, and a
watcher thread interrupts the check under way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A query Z3 cannot settle (Fermat, n = 3, over integers), given a work limit it would spend minutes on:
# only the interrupt can end it within the test's timeout.
_SCRIPT = r"""
import os, signal, threading
import z3
from checker.solve.z3engine import configure, smt2
from checker.solve import nra
from checker.solve.interrupt import watch

configure(0)
watch()
x, y, z = z3.Ints("x y z")
text = smt2([x >= 1, y >= 1, z >= 1, x * x * x + y * y * y == z * z * z])
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    answer = nra.check(text, nra.RLIMIT_MAX, 600_000, 0)
except KeyboardInterrupt:
    print("interrupted")
else:
    print("answered", answer.status, answer.reason)
"""


def test_ctrl_c_stops_a_long_check_at_once() -> None:
    result = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "interrupted", result.stderr[-2000:]


_PLAIN = r"""
import os, signal, threading
import z3
from checker.solve.z3engine import configure

configure(0)
x, y, z = z3.Ints("x y z")
solver = z3.Solver()
solver.add(x >= 1, y >= 1, z >= 1, x * x * x + y * y * y == z * z * z)
solver.set("rlimit", 3_000_000)  # ends on its own, on this limit, after a second or so
threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    answer = solver.check()
    print("answered", answer, solver.reason_unknown())
except KeyboardInterrupt:
    print("interrupted")
"""


def test_z3_leaves_sigint_to_python() -> None:
    """Any Z3 call, even outside solvent's own query paths: Z3 no longer takes the signal (it answered
    "unknown, canceled" and the caller had to notice), so Python raises KeyboardInterrupt once it returns."""
    result = subprocess.run([sys.executable, "-c", _PLAIN], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "interrupted", (result.stdout, result.stderr[-2000:])
