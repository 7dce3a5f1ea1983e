"""Implementations under test: a Python function in this process, or any program speaking JSON lines.

Both are called the same way (spec/conformance.md §2): one case in, a dict of
the implementation's own names to decimal strings (a flag as a bool, a
per-asset value as a dict by asset); one result out, a dict of its outputs.
Each call has a time limit. Whatever goes wrong on the implementation's side
(not importable, raises, no answer in time, a process that dies or prints
something that is not one JSON object per line) is an `ImplError`: bad input,
exit status 2, never a traceback. The runner adds which case it was.

- `python_impl("pkg.module:function")` or `python_impl("path/to/engine.py:function")`
  or `python_impl(callable)`. The time limit interrupts Python code with
  SIGALRM when called from the main thread; elsewhere the call runs in a
  daemon thread that is abandoned when it overruns (Python cannot kill a thread).
- `jsonlines_impl("python my_engine.py")`: a subprocess, one JSON object per
  line each way; killed when closed, on a time-out, and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import selectors
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

MAX_LINE = 1 << 20  # bytes: a result line longer than this is a wrong shape, not something to buffer forever


class ImplError(Exception):
    """The implementation could not be run on a case, or answered in the wrong shape (exit status 2)."""


class Implementation(Protocol):
    """What the runner calls: `impl(request)` -> the result dict; `close()` when done."""

    name: str

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...


class _Overran(BaseException):
    """Raised by the alarm inside the implementation; a BaseException, so `except Exception` there cannot eat it."""


class PythonImpl:
    """A Python function called in this process, with a per-call time limit."""

    def __init__(
        self, function: Callable[[dict[str, Any]], Any], name: str, timeout: float, target: str | None = None
    ) -> None:
        self.function, self.name, self.timeout, self.target = function, name, timeout, target

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
                result = self._with_alarm(request)
            else:
                result = self._in_thread(request)
        except _Overran:
            raise ImplError(f"gave no result within {self.timeout:g} s (the per-case time limit, --timeout)") from None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:
            raise ImplError(f"raised {_described(err)}") from None
        if not isinstance(result, dict):
            raise ImplError(f"returned a {type(result).__name__}, not a dict of outputs")
        return result

    def _with_alarm(self, request: dict[str, Any]) -> Any:
        def overran(signum: int, frame: object) -> None:
            raise _Overran

        previous = signal.signal(signal.SIGALRM, overran)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            return self.function(dict(request))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _in_thread(self, request: dict[str, Any]) -> Any:
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["result"] = self.function(dict(request))
            except BaseException as err:
                box["error"] = err

        worker = threading.Thread(target=run, daemon=True, name="solvent-conform-impl")
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise _Overran
        if "error" in box:
            raise box["error"]
        return box["result"]

    def close(self) -> None:
        """Nothing to release for an in-process function."""


def python_impl(target: str | Callable[[dict[str, Any]], Any], timeout: float = 5.0) -> PythonImpl:
    """A `PythonImpl` for `module:function`, `path/file.py:function`, or a callable; `ImplError` if not importable.

    The working directory is put on `sys.path` first (as `python -m` does), so that a module of the project
    the command runs in is found.
    """
    if callable(target):
        return PythonImpl(target, getattr(target, "__qualname__", repr(target)), timeout)
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise ImplError(f"--impl {target!r}: expected MODULE:FUNCTION (e.g. my_engine:margin or engine.py:margin)")
    try:
        if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
            module = _from_file(Path(module_name))
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ImplError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:
        raise ImplError(f"--impl {target!r}: cannot import {module_name}: {_described(err)}") from None
    function = getattr(module, attr, None)
    if function is None:
        public = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        listed = ", ".join(public) or "none"
        raise ImplError(f"--impl {target!r}: {module_name} has no `{attr}`; its functions: {listed}")
    if not callable(function):
        raise ImplError(f"--impl {target!r}: `{attr}` is not callable (it is of type {type(function).__name__})")
    return PythonImpl(function, target, timeout, target)


def _from_file(path: Path) -> Any:
    if not path.is_file():
        raise ImplError(f"--impl: no such file {str(path)!r}")
    name = f"solvent_impl_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImplError(f"--impl: {str(path)!r} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # its sibling modules import as they would when it runs as a script
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _described(err: BaseException) -> str:
    """`ValueError: message (engine.py:42)`: the exception and the innermost frame it came from."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith("<frozen")]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = str(err)
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{type(err).__name__}: {message}{where}" if message else f"{type(err).__name__}{where}"


class JsonLinesImpl:
    """A subprocess: one JSON object per line on its stdin, one result object per line on its stdout."""

    def __init__(self, command: Sequence[str], timeout: float) -> None:
        self.name, self.timeout, self.argv = shlex.join(command), timeout, tuple(command)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the process; closed with it
        try:
            self._proc = subprocess.Popen(
                list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0
            )
        except OSError as err:
            self._stderr.close()
            raise ImplError(f"--impl-cmd {self.name!r}: cannot start it ({err.strerror or err})") from None
        self._buffer = b""
        self._closed = False

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        line = json.dumps(request, separators=(",", ":")) + "\n"
        try:
            proc.stdin.write(line.encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ImplError(self._died("stopped reading its input")) from None
        text = self._read_line()
        try:
            result = json.loads(text, parse_float=Decimal)  # `0.1` in the output means 0.1 exactly
        except ValueError as err:
            raise ImplError(f"printed a line that is not JSON ({err}): {text[:120]!r}") from None
        if not isinstance(result, dict):
            raise ImplError(f"printed a JSON {type(result).__name__}, not an object of outputs: {text[:120]!r}")
        if set(result) == {"error"}:
            raise ImplError(f"answered with an error: {str(result['error'])[:300]}")
        return result

    def _read_line(self) -> str:
        proc = self._proc
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if len(self._buffer) > MAX_LINE:
                    raise ImplError(f"printed a line longer than {MAX_LINE} bytes")
                if not sel.select(self.timeout):
                    self.close()
                    raise ImplError(
                        f"gave no result within {self.timeout:g} s (the per-case time limit, --timeout); stopped it"
                    )
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise ImplError(self._died("ended its output without a result"))
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", errors="replace")

    def _died(self, what: str) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(1)
        status = self._proc.poll()
        said = f" (exit status {status})" if status is not None else ""
        self._stderr.seek(0)
        tail = self._stderr.read()[-600:].decode("utf-8", errors="replace").strip()
        return f"{what}{said}" + (f"; its stderr ends:\n{tail}" if tail else "")

    def close(self) -> None:
        """Close its input, give it a moment to exit, then kill it (once; later calls do nothing)."""
        proc = self._proc
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(0.5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            if proc.stdout is not None:
                proc.stdout.close()
        # stderr's temporary file stays open: an error message may still quote it; it goes with the object


def jsonlines_impl(command: str | Sequence[str], timeout: float = 5.0) -> JsonLinesImpl:
    """A `JsonLinesImpl` running `command` (a shell-like string, split with `shlex`, or an argument list)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise ImplError("--impl-cmd: an empty command")
    return JsonLinesImpl(argv, timeout)
