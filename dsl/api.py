"""The front end's public entry points: read a spec, check it, compile it.

`load(path)` reads a file and returns a `Spec`: its IR, the generated Python
source and, on first use, the engine module built from that very source. File
problems (missing, a directory, not a regular file, larger than
`MAX_SOURCE_BYTES`, unreadable, not UTF-8) are `SpecError`s with a clear
message, like any other problem with the user's input.

Every entry point runs its passes under `enough_recursion()`, so the library
handles a spec nested up to `MAX_NESTING` deep as the CLI does; should Python's
stack still run out (a caller already deep in its own), the result is a
`too-deep` `SpecError`, never a bare `RecursionError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import linecache
import os
import stat
import sys
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dsl import ir
from dsl.accounts import expand, once_per_place
from dsl.codegen import generate
from dsl.diagnostics import Diagnostic, Severity, SourceFile, SpecError
from dsl.elaborate import elaborate
from dsl.limits import MAX_SOURCE_BYTES, enough_recursion
from dsl.parser import parse

T = TypeVar("T")


@dataclass
class Spec:
    """A checked spec: its IR, its Python source, and the engine built from it."""

    program: ir.Program
    _engine: types.ModuleType | None = field(default=None, repr=False)
    _python: str | None = field(default=None, repr=False)

    @property
    def source(self) -> SourceFile:
        return self.program.source

    @property
    def python(self) -> str:
        """The generated engine's source code (what `solvent compile` writes)."""
        if self._python is None:
            self._python = _deep(generate, self.program)
        return self._python

    @property
    def engine(self) -> types.ModuleType:
        """The generated engine, built in-process (once per distinct engine source, see `engine_module`)."""
        if self._engine is None:
            self._engine = engine_module(self.source, self.python)
        return self._engine

    @property
    def engine_ref(self) -> EngineRef:
        """A picklable reference to this spec's engine (`engine.ENGINE_REF`)."""
        ref: EngineRef = self.engine.ENGINE_REF
        return ref


@dataclass(frozen=True, slots=True)
class EngineRef:
    """A picklable name for an engine built in-process: its module name and the spec it was built from.

    The module name is `solvent_engine_` and a SHA-256 of the engine's Python source, so one name is
    one engine, in every process. Every value of such an engine pickles as a call of its `EngineRef`
    (the runtime's `_pickled`): unpickling finds the module in `sys.modules`, or builds it from
    `path` and `text` (once per process), and rebuilds the value with its class there. The spec's
    text rather than its path is carried so that a worker needs no file, and cannot read one that
    changed since; pickle stores it once per `dumps`, however many values refer to it.
    """

    module_name: str
    path: str
    text: str = field(repr=False)

    @property
    def engine(self) -> types.ModuleType:
        """The engine module, built here from the spec if this process does not have it yet."""
        module = _LIVE.get(self.module_name)
        if module is not None:
            return module
        spec = compile_source(SourceFile(self.path, self.text))
        built = spec.engine
        if built.__name__ != self.module_name:
            raise ValueError(
                f"{self.path}: the engine {self.module_name} was built by another version of solvent; this one "
                f"builds {built.__name__} from the same spec (use the same solvent in every process)"
            )
        return built

    def __call__(self, qualname: str, args: tuple[Any, ...]) -> Any:
        """Rebuild an engine value: `qualname` is one of the engine's classes, `args` its constructor's."""
        cls = getattr(self.engine, qualname, None)
        if not isinstance(cls, type):
            raise ValueError(f"the engine {self.module_name} has no class {qualname!r}")
        return cls(*args)


# Engines built here: every one that is still in use (weakly: a module lives while any value, class or
# function of it does, through the reference to itself it holds), and the names of the most recent
# `KEEP_REGISTERED` of them, which are also in `sys.modules`. A process that loads ever new specs (a fuzzer, a
# watch loop) so keeps only the engines it uses, while the usual few stay importable by name.
KEEP_REGISTERED = 256
_LIVE: weakref.WeakValueDictionary[str, types.ModuleType] = weakref.WeakValueDictionary()
_REGISTERED: OrderedDict[str, str] = OrderedDict()  # module name -> its linecache key, least recent first
_BUILDING = threading.Lock()  # one engine module per name, even when threads load the same spec at once


def engine_module(source: SourceFile, python: str) -> types.ModuleType:
    """The engine module for `python` (generated from `source`): the one already built, or a new one.

    Its name comes from the source's content hash, so loading the same spec again gives the same
    module, whose values compare equal and pickle alike. It is registered in `sys.modules` (one of the
    `KEEP_REGISTERED` most recently loaded), so that its classes and functions pickle by reference and
    `typing.get_type_hints` finds its globals, and its source in `linecache`, for tracebacks.
    """
    name = "solvent_engine_" + hashlib.sha256(python.encode("utf-8")).hexdigest()[:32]
    with _BUILDING:
        module = _LIVE.get(name)
        if module is None:
            # Not under `_deep`: CPython's compiler recurses in C as deep as the recursion limit lets it, and
            # a raised limit would let it overflow a small thread stack; the default limit suffices here.
            module = build_module(python, name)
            setattr(module, "ENGINE_REF", EngineRef(name, source.path, source.text))  # noqa: B010 - a module global
            setattr(module, "_ENGINE_MODULE", module)  # noqa: B010 - alive while its functions are, see _LIVE
            _LIVE[name] = module
        _register(module, python)
        return module


def _register(module: types.ModuleType, python: str) -> None:
    """Put `module` in `sys.modules` and `linecache` as the most recent engine; drop the least recent
    ones beyond `KEEP_REGISTERED` from both (they live on while used, their values still pickle through
    ENGINE_REF, and loading the spec again registers them again)."""
    name, filename = module.__name__, module.__file__ or module.__name__
    sys.modules[name] = module
    # An mtime of None tells linecache.checkcache that there is no file to compare with.
    linecache.cache[filename] = (len(python), None, python.splitlines(keepends=True), filename)
    _REGISTERED[name] = filename
    _REGISTERED.move_to_end(name)
    while len(_REGISTERED) > KEEP_REGISTERED:
        old, old_file = _REGISTERED.popitem(last=False)
        sys.modules.pop(old, None)
        linecache.cache.pop(old_file, None)


def build_module(code: str, name: str) -> types.ModuleType:
    """Execute generated engine source as a module named `name`."""
    module = types.ModuleType(name)
    module.__file__ = f"<solvent engine {name}>"
    sys.modules[name] = module  # dataclasses look their module up while being built
    try:
        compiled = compile(code, module.__file__, "exec")
    except (SyntaxError, RecursionError, MemoryError) as err:
        # Generated code is valid Python by construction; only CPython's own limits (nesting depth) bite.
        message = f"the spec nests expressions too deeply for Python's compiler ({err.__class__.__name__}: {err})"
        raise SpecError(
            [Diagnostic(Severity.ERROR, "too-deep", message, None, hint="split the expression into several `let`s")]
        ) from None
    try:
        exec(compiled, module.__dict__)
    finally:
        sys.modules.pop(name, None)
    return module


_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_source(path: str | Path) -> SourceFile:
    """Read a spec file as UTF-8; every failure is a `SpecError` naming the file.

    Only a regular file is read, and at most `MAX_SOURCE_BYTES` of it: a FIFO
    would block until a writer came, `/dev/zero` never ends. The file is opened
    without blocking and checked on the open descriptor, so it cannot be
    swapped for something else between the check and the read.
    """
    shown = str(path)

    def fail(message: str, hint: str, code: str = "io") -> SpecError:
        return SpecError([Diagnostic(Severity.ERROR, code, f"{shown}: {message}", None, hint=hint)])

    def not_regular(mode: int) -> SpecError:
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        return fail(f"is {kind}, not a spec file", "solvent reads specs from regular files; save it to a file first")

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise fail("no such file", "check the path; specs usually end in .margin") from None
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror})", "check the path and its permissions") from None
    except ValueError:  # a NUL in the name
        raise fail("is not a valid file name", "check the path; specs usually end in .margin") from None
    if stat.S_ISDIR(info.st_mode):
        raise fail("is a directory, not a spec file", "name a .margin file, or pass the directory to `solvent check`")
    if not stat.S_ISREG(info.st_mode):
        raise not_regular(info.st_mode)  # before opening: opening a FIFO for reading could wait for a writer
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror})", "check the file's permissions") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular(info.st_mode)
        if info.st_size > MAX_SOURCE_BYTES:
            raise fail(_too_large(info.st_size), _TOO_LARGE_HINT, "too-large")
        chunks, size = [], 0
        while size <= MAX_SOURCE_BYTES:  # the file may grow while it is read: never more than the limit + 1
            chunk = os.read(fd, min(1 << 20, MAX_SOURCE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror})", "check the file's permissions") from None
    finally:
        os.close(fd)
    if size > MAX_SOURCE_BYTES:
        raise fail(_too_large(None), _TOO_LARGE_HINT, "too-large")
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise fail(f"is not UTF-8 text (byte {err.start}, line {line})", "save the spec as UTF-8") from None
    return SourceFile(shown, text.removeprefix("\ufeff"))


_TOO_LARGE_HINT = "split the spec, or generate large tables with fewer rows"


def _too_large(size: int | None) -> str:
    """The message for a file of `size` bytes, or (None) one that grew past the limit while it was read."""
    limit = f"a spec may be at most {MAX_SOURCE_BYTES // 2**20} MiB ({MAX_SOURCE_BYTES:,} bytes)"
    if size is None:
        return f"is too large (it grew past the limit while it was read); {limit}"
    return f"is too large ({size:,} bytes); {limit}"


def _deep(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` with enough recursion for any spec the parser accepts; a `too-deep` error if not."""
    with enough_recursion():
        try:
            return function(*args)
        except RecursionError:
            message = "the spec nests expressions too deeply for Python's stack"
            hint = "split deep expressions into several `let`s, or call solvent from a shallower stack"
            raise SpecError([Diagnostic(Severity.ERROR, "too-deep", message, None, hint=hint)]) from None


def compile_source(source: SourceFile) -> Spec:
    """Parse and check `source`; raise `SpecError` with every problem found."""
    return Spec(_deep(lambda: _front_end(source)))


def _front_end(source: SourceFile) -> ir.Program:
    """The passes in order: parse, expand the accounts (`dsl.accounts`), elaborate."""
    module, accounts = expand(parse(source))
    if not accounts.count:
        return elaborate(module, source)
    try:
        program = elaborate(module, source)
    except SpecError as err:
        raise SpecError(once_per_place(err.diagnostics)) from None
    return dataclasses.replace(program, accounts=accounts.count, accounts_local=accounts.local)


def loads(text: str, path: str = "<string>") -> Spec:
    """Check a spec given as text (the same limits as a file apply, see `dsl.limits`)."""
    return compile_source(SourceFile(path, text))


def load(path: str | Path) -> Spec:
    """Read, parse and check the spec at `path`."""
    return compile_source(read_source(path))
