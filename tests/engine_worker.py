"""Worker functions for tests/test_engine_api.py, run in spawned processes.

A spawned worker imports this module by name (multiprocessing sends the
parent's `sys.path`), so it stays small: no pytest, no checker. The values it
receives were pickled by the parent; unpickling them is what is under test.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def add_path(directory: str) -> None:
    """Executor initializer: make a compiled engine's directory importable in the worker."""
    sys.path.insert(0, directory)


def echo(values: Any) -> tuple[int, Any, list[str]]:
    """The worker's pid, the values as unpickled here (pickled again on the way back), and the names
    of the engine modules this process holds."""
    engines = sorted(name for name in sys.modules if name.startswith("solvent_engine_"))
    return os.getpid(), values, engines


def step(engine_name: str | None, ref: Any, action: str, *args: Any) -> Any:
    """Take `action` on the engine (`ref.engine` for an in-process one, else the module `engine_name`);
    a GuardError is returned, not raised, so that the caller sees it as a value."""
    if ref is not None:
        engine = ref.engine
    else:
        import importlib

        engine = importlib.import_module(engine_name or "")
    try:
        return getattr(engine, engine.STEPS[action])(*args)
    except engine.GuardError as err:
        return err


def fail(engine_name: str | None, ref: Any, action: str, *args: Any) -> None:
    """Like `step`, but a GuardError propagates (the executor pickles it back to the caller)."""
    result = step(engine_name, ref, action, *args)
    if isinstance(result, BaseException):
        raise result
