"""Suite-wide setup.

A shell starts a background job (`pytest ... &`, some CI runners) with SIGINT
ignored, and every process it starts inherits that: Python then installs no
Ctrl-C handler, and the tests that press Ctrl-C on solvent (or on this very
process) saw nothing happen and failed. Restoring Python's own handler here
means the children pytest starts get the default disposition again (a handled
signal is reset at exec), whatever started pytest.
"""

from __future__ import annotations

import signal

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
