"""Where solvent writes: a report (`check -o`), an engine (`compile -o`), emitted tests (`--emit-tests`).

One rule for every file solvent writes, checked before the work starts and
again just before writing:

- never onto a spec being read (not even with `--force`: the spec is the
  one thing the user cannot get back from solvent);
- onto a regular file only if solvent wrote it (an engine, a report, an
  emitted test), or with `--force`; a directory, a FIFO (opening it would
  block until someone reads it), a socket or a block device is refused;
- a character device (`/dev/null`, a terminal) is written to as it is, and
  never read.

Deciding whether solvent wrote a file reads at most `PEEK` bytes at each end
of it, whatever its size.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

PEEK = 4096  # bytes read at the head and at the tail of an existing file

ENGINE_MARK = "Margin engine compiled by solvent"
TEST_MARK = "# Written by `solvent check --emit-tests`."
_REPORT_HEADS = (
    '{\n  "version": 1,\n  "specs": [',  # --format json
    '{\n  "version": "2.1.0",\n  "$schema": "https://json.schemastore.org/sarif-2.1.0.json",',  # --format sarif
    "<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"solvent\">",  # --format junit
)
_HUMAN_LAST_LINE = re.compile(r"summary: \d+ proved, \d+ violated, \d+ unknown, \d+ skipped.* in \d+ specs? \(.*\)\s*")


class OutputError(Exception):
    """A file solvent will not or cannot write: printed as `solvent: error: ...`, exit status 2."""


def peek(path: Path) -> tuple[str, str] | None:
    """The first and last `PEEK` bytes of a regular file, decoded leniently; None for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO swapped in must not block
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        head = os.read(fd, PEEK)
        tail = head
        if info.st_size > PEEK:
            os.lseek(fd, info.st_size - PEEK, os.SEEK_SET)
            tail = os.read(fd, PEEK)
    except OSError:
        return None
    finally:
        os.close(fd)
    return head.decode("utf-8", errors="replace"), tail.decode("utf-8", errors="replace")


def written_by_solvent(path: Path) -> bool:
    """Does the regular file at `path` look like something solvent writes (engine, report, emitted test)?"""
    ends = peek(path)
    if ends is None:
        return False
    head, tail = ends
    if ENGINE_MARK in head[:400] or TEST_MARK in head[:400] or head.startswith(_REPORT_HEADS):
        return True
    lines = tail.rstrip("\n").rsplit("\n", 1)
    return _HUMAN_LAST_LINE.fullmatch(lines[-1]) is not None


def check_target(path: Path, force: bool, inputs: Sequence[Path] = ()) -> None:
    """Raise `OutputError` unless `path` may be written (see the module docstring)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        parent = path.parent
        if not parent.is_dir():
            raise OutputError(f"{path}: the directory {parent} does not exist") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"{path}: the directory {parent} is not writable") from None
        return
    except OSError as err:
        raise OutputError(f"{path}: {err.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{path}: is a directory")
    if stat.S_ISCHR(info.st_mode):
        return  # /dev/null, a terminal: nothing there to lose, and nothing is read from it
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{path}: not a regular file (a FIFO, a socket or a device); name a file")
    for spec in inputs:
        try:
            same = os.path.samefile(path, spec)
        except OSError:
            continue
        if same:
            raise OutputError(f"{path} is a spec being read; solvent never writes over one, even with --force")
    if not force and not written_by_solvent(path):
        raise OutputError(f"{path} exists and was not written by solvent; pass --force to overwrite it")


def write_target(path: Path, text: str, force: bool, inputs: Sequence[Path] = ()) -> None:
    """Write `text` to `path` under the rule of `check_target`; any failure is an `OutputError`."""
    check_target(path, force, inputs)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({err.strerror or err})") from None


def prepare_directory(path: Path) -> None:
    """Make sure `path` is (or is now) a writable directory, or raise `OutputError` saying why not."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"{path}: cannot create this directory ({err.strerror or err})") from None
        return
    except OSError as err:
        raise OutputError(f"{path}: {err.strerror or err}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{path}: exists and is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: the directory is not writable")
