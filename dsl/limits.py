"""What the front end refuses to read, and the stack it needs for what it accepts.

Every limit here is documented in spec/language.md (section 2.1, "Limits") and
refused with a located `SpecError`, never by running out of memory, time or
stack:

- `MAX_SOURCE_BYTES`: a spec file is read whole, so its size is capped, and
  only regular files are read (a FIFO or `/dev/zero` has no end).
- `MAX_TOKENS`: parsing costs time and memory per token (comments and
  indentation are nearly free), so the parser stops counting at this many.
- `MAX_TABLE_ROWS`: rows in one `table`.
- `MAX_NESTING`: the passes after parsing (checking, lowering, code
  generation, the Z3 encoder) walk expressions recursively. Capping the depth
  in the parser, where the walk is iterative, means every later pass knows how
  deep it can be asked to go.
- `dsl.numbers.MAX_DIGITS`: digits and powers of ten in a number.
- `MAX_UNIT_POWER`: the exponent in `USD^2`.

`enough_recursion()` raises Python's recursion limit (never lowers it) while a
pass walks a spec, so that the library API handles every spec the parser
accepts the way the CLI does.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MAX_SOURCE_BYTES = 16 * 1024 * 1024  # 16 MiB; the largest bundled example is 9 KiB
MAX_TOKENS = 500_000  # names, numbers and symbols: about 50,000 table rows, 5 to 10 s of parsing
MAX_TABLE_ROWS = 10_000  # the checker splits proofs by row, the engine looks rows up one by one
MAX_NESTING = 1000  # operators nested inside one another; a flat sum of n terms nests n - 1 deep
MAX_UNIT_POWER = 100  # `USD^2` is common, `USD^100` already absurd

# Frames per nesting level, measured: checking and code generation need at most 4 (a call nested in a
# call; an operator needs 2), so 1,000 levels need about 4,000; the checker's Z3 encoding of such specs
# also fits. The factor 2 and the 1,000 leave room for a caller already deep in its own stack.
RECURSION_LIMIT = 2 * 4 * MAX_NESTING + 1000

_lock = threading.Lock()
_users = 0
_restore: int | None = None


@contextmanager
def enough_recursion() -> Iterator[None]:
    """Run the body with a recursion limit of at least `RECURSION_LIMIT`.

    The limit is process-wide, so it is raised by the first caller and put back
    by the last one to leave (and only if nobody else changed it meanwhile);
    threads that load specs at the same time never see it lowered under them.
    """
    global _users, _restore
    with _lock:
        if _users == 0 and sys.getrecursionlimit() < RECURSION_LIMIT:
            _restore = sys.getrecursionlimit()
            sys.setrecursionlimit(RECURSION_LIMIT)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _restore is not None:
                if sys.getrecursionlimit() == RECURSION_LIMIT:
                    sys.setrecursionlimit(_restore)
                _restore = None
