"""The result cache (`solvent check --cache DIR`): a spec checked before, unchanged, is not checked again.

A spec's results are a function of its file, the options its answers depend on, the engines'
versions and solvent's own code: every solver query is bounded by work, not time, and its text by
the unit of work that asks it (spec/checks.md, "Determinism"; `benchmarks/determinism.py` compares
whole reports idle and busy). So a report kept under a key made of exactly those inputs is the report
a new run would give, and a CI job that restores the directory between runs checks only the specs
a change touched. The key (`Cache.key_of`) is a SHA-256 of:

- this cache's format;
- solvent's code: the bytes of every source file of the `dsl` and `checker` packages (`code_digest`),
  so that any change to solvent, released or not, is a new key;
- the engines' versions (`checker.solve.engine_versions`), Python's version and the platform;
- the options a report records (`Options.described`) and `--only`;
- the spec's path as given (results name it) and the bytes of its file.

Only complete reports are kept: no spec error, no solvent bug, the spec not cut short by Ctrl-C; the baseline
(accepted findings) is applied after a report comes out of the cache, as after a check. Entries are
JSON, never pickles: a value is decoded only into the result classes below (`_CLASSES`), so a
hostile entry can be wrong but cannot run code. An entry is written to a temporary file and renamed,
so that two runs sharing the directory never read half of one. One that cannot be read, or whose
inputs do not match its key, is a miss: it is said once, the spec is checked, and the entry replaced.
A result from the cache is marked so in every report ("from the cache").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from checker.core.options import Options
from checker.core.results import Acceptance, CheckResult, Counterexample, Region, Step, Synthesis, Verdict

FORMAT = 1
TAG_NAME = "CACHEDIR.TAG"
# The standard tag (https://bford.info/cachedir/): backup tools skip the directory; solvent knows it as its own.
TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# a solvent result cache (solvent check --cache); safe to delete\n"
_ENTRY = re.compile(r"[0-9a-f]{64}")
_CLASSES: dict[str, type] = {c.__name__: c for c in (CheckResult, Counterexample, Step, Synthesis, Region, Acceptance)}


class CacheError(ValueError):
    """A directory that cannot be a cache (a file, or a directory of other things): a usage error."""


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of solvent's own source: every file of the `dsl` and `checker` packages, by relative path."""
    import checker
    import dsl

    h = hashlib.sha256()
    for package in (dsl, checker):
        root = Path(str(package.__file__)).resolve().parent
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".lark", ".json")):
            if "__pycache__" in path.parts:
                continue
            h.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def inputs(options: Options, only: Sequence[str]) -> dict[str, object]:
    """What a run's answers depend on besides the spec (the part of the key shared by its specs)."""
    from checker import version
    from checker.solve import engine_versions

    return {
        "format": FORMAT,
        "solvent": version(),
        "code": code_digest(),
        "engines": engine_versions(),
        "python": list(sys.version_info[:2]),
        "platform": [sys.platform, platform.machine()],
        "options": options.described(),
        "only": list(only),
    }


class Cache:
    """A cache directory, for one run's options: `get` a spec's report, `put` one once it is complete."""

    def __init__(self, directory: Path, options: Options, only: Sequence[str], warn: Callable[[str], None]) -> None:
        if directory.exists() and not directory.is_dir():
            raise CacheError(f"--cache {directory}: not a directory")
        if directory.is_dir() and any(directory.iterdir()) and not (directory / TAG_NAME).is_file():
            raise CacheError(
                f"--cache {directory}: the directory holds other files and no {TAG_NAME}, so it is not a solvent "
                "cache; name a new or empty directory"
            )
        self.directory = directory
        self.run = json.dumps(inputs(options, only), sort_keys=True)
        self.warn = warn
        self.unwritable = False
        self.used: set[str] = set()  # the keys this run read or wrote (`prune` keeps these)

    def _entry(self, key: str) -> Path:
        return self.directory / f"v{FORMAT}" / key[:2] / f"{key}.json"

    def key_of(self, path: Path) -> str | None:
        """The key of `path` as its file is now (None: it cannot be read; the run reports that as always)."""
        try:
            data = path.read_bytes()
        except OSError:
            return None
        h = hashlib.sha256(self.run.encode())
        h.update(b"\0" + os.fsencode(path) + b"\0")
        h.update(data)
        return h.hexdigest()

    def get(self, path: Path, key: str) -> tuple[str, list[CheckResult]] | None:
        """(title, results) kept under `key` (`key_of(path)`); None: check the spec."""
        entry = self._entry(key)
        try:
            text = entry.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            self.warn(f"solvent: warning: --cache: cannot read {entry}: {err.strerror}; checking {path} again")
            return None
        try:
            doc = json.loads(text)
            if doc["key"] != key:
                raise ValueError("its key is not its name")
            results = [decode(r) for r in doc["results"]]
            if not all(_well_typed(r) for r in results) or not isinstance(doc["title"], str):
                raise ValueError("it holds something other than results")
        except (ValueError, KeyError, TypeError, ZeroDivisionError, RecursionError) as err:
            self.warn(f"solvent: warning: --cache: {entry} is damaged ({err}); checking {path} again")
            return None
        self.used.add(key)
        return doc["title"], results

    def put(self, path: Path, key: str, title: str, results: Sequence[CheckResult]) -> None:
        """Keep a complete report of `path` under `key`, the key it had before it was checked.

        Not when the file changed since (the results may be of either text) or a clock had a hand in a
        result (see `timed`).
        """
        if self.unwritable or any(timed(r) for r in results) or self.key_of(path) != key:
            return
        entry = self._entry(key)
        text = json.dumps({"key": key, "title": title, "results": [encode(r) for r in results]}, sort_keys=True)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tag = self.directory / TAG_NAME
            if not tag.exists():
                tag.write_text(TAG, encoding="utf-8")
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(temporary, entry)
                self.used.add(key)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as err:
            self.unwritable = True
            self.warn(f"solvent: warning: --cache: cannot write to {self.directory}: {err.strerror}; results not kept")

    def prune(self) -> int:
        """Remove every entry this run neither read nor wrote (`--cache-prune`); how many were removed.

        Only files named as entries are removed (`v<format>/<2 hex>/<64 hex>.json`, of any format), and
        the folders they leave empty; anything else in the directory stays.
        """
        removed = 0
        for entry in sorted(self.directory.glob("v*/*/*.json")):
            version, folder, name = entry.parent.parent.name, entry.parent.name, entry.stem
            if not (_ENTRY.fullmatch(name) and version[1:].isdigit() and folder == name[:2]):
                continue
            if version == f"v{FORMAT}" and name in self.used:
                continue
            try:
                entry.unlink()
                removed += 1
            except OSError as err:
                self.warn(f"solvent: warning: --cache-prune: cannot remove {entry}: {err.strerror}")
                continue
            with contextlib.suppress(OSError):  # not empty: another entry or something else is there
                entry.parent.rmdir()
        return removed


def _well_typed(result: object) -> bool:
    """Whether a decoded value is a result whose fields have the types the reports read."""
    if not isinstance(result, CheckResult):
        return False
    texts = (result.id, result.name, result.reason, result.proof, result.where)
    cex = result.counterexample
    return (
        all(isinstance(t, str) for t in texts)
        and isinstance(result.verdict, Verdict)
        and isinstance(result.seconds, int | float)
        and (cex is None or (isinstance(cex, Counterexample) and all(isinstance(s, Step) for s in cex.steps)))
        and (result.synthesis is None or isinstance(result.synthesis, Synthesis))
        and (result.accepted is None or isinstance(result.accepted, Acceptance))
    )


def timed(result: CheckResult) -> bool:
    """Whether the wall-clock safety net stopped an engine on the way to `result` (an UNKNOWN it cut short, or an
    answer marked as reached after it fired: `checker.run.CLOCKED`): such a result may differ on another machine,
    so it is not a function of the key, and its spec is not kept."""
    return "wall-clock safety net" in result.reason


def encode(value: object) -> object:
    """`value` as JSON with its types kept: `Fraction` exactly, tuples, dicts, the result classes and verdicts."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Fraction):
        return {"q": f"{value.numerator}/{value.denominator}"}
    if isinstance(value, Verdict):
        return {"verdict": value.value}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"dict": [[k, encode(v)] for k, v in value.items()]}
    if is_dataclass(value) and type(value).__name__ in _CLASSES:
        kept = {f.name: encode(getattr(value, f.name)) for f in fields(value)}
        return {"class": type(value).__name__, "fields": kept}
    raise TypeError(f"cannot keep a {type(value).__name__} in the cache")


def decode(doc: Any) -> Any:
    """The value `encode` gave `doc` for; a ValueError for anything else."""
    if doc is None or isinstance(doc, bool | int | float | str):
        return doc
    if isinstance(doc, list):
        return [decode(v) for v in doc]
    if not isinstance(doc, dict) or len(doc) not in (1, 2):
        raise ValueError("an unknown value")
    if set(doc) == {"q"}:
        return Fraction(doc["q"])
    if set(doc) == {"verdict"}:
        return Verdict(doc["verdict"])
    if set(doc) == {"tuple"}:
        return tuple(decode(v) for v in doc["tuple"])
    if set(doc) == {"dict"}:
        return {str(k): decode(v) for k, v in doc["dict"]}
    if set(doc) == {"class", "fields"} and doc["class"] in _CLASSES:
        cls = _CLASSES[doc["class"]]
        names = {f.name for f in fields(cls)}
        given = doc["fields"]
        if not isinstance(given, dict) or set(given) != names:
            raise ValueError(f"a {doc['class']} with other fields")
        return cls(**{name: decode(v) for name, v in given.items()})
    raise ValueError("an unknown value")
