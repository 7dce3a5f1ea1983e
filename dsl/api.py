"""The front end's public entry points: read a spec, check it, compile it.

`load(path)` reads a file and returns a `Spec`: its IR, the generated Python
source and, on first use, the engine module built from that very source. File
problems (missing, a directory, unreadable, not UTF-8) are `SpecError`s with a
clear message, like any other problem with the user's input.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from dsl import ir
from dsl.codegen import generate
from dsl.diagnostics import Diagnostic, Severity, SourceFile, SpecError
from dsl.elaborate import elaborate
from dsl.parser import parse


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
            self._python = generate(self.program)
        return self._python

    @property
    def engine(self) -> types.ModuleType:
        """The generated engine, executed in-process as a fresh module."""
        if self._engine is None:
            self._engine = build_module(self.python, f"solvent_engine_{abs(hash(self.source.path))}")
        return self._engine


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


def read_source(path: str | Path) -> SourceFile:
    """Read a spec file as UTF-8; every failure is a `SpecError` naming the file."""
    p = Path(path)
    shown = str(path)

    def fail(message: str, hint: str) -> SpecError:
        return SpecError([Diagnostic(Severity.ERROR, "io", f"{shown}: {message}", None, hint=hint)])

    if not p.exists():
        raise fail("no such file", "check the path; specs usually end in .margin")
    if p.is_dir():
        raise fail("is a directory, not a spec file", "name a .margin file, or pass the directory to `solvent check`")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror})", "check the file's permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise fail(f"is not UTF-8 text (byte {err.start}, line {line})", "save the spec as UTF-8") from None
    return SourceFile(shown, text.removeprefix("\ufeff"))


def compile_source(source: SourceFile) -> Spec:
    """Parse and check `source`; raise `SpecError` with every problem found."""
    return Spec(elaborate(parse(source), source))


def loads(text: str, path: str = "<string>") -> Spec:
    """Check a spec given as text."""
    return compile_source(SourceFile(path, text))


def load(path: str | Path) -> Spec:
    """Read, parse and check the spec at `path`."""
    return compile_source(read_source(path))
