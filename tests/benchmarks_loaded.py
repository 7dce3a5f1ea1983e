"""A benchmark script imported by path for its tests (`benchmarks/` is not a package).

Imported, not run; sys.path is put back as it was afterwards, because `benchmarks/checker.py`
must never shadow the `checker` package for the tests collected later.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str, neighbours: bool = False, strict: bool = False) -> ModuleType:
    """benchmarks/<name>.py as module `bench_<name>`.

    `neighbours`: the script imports other scripts of benchmarks/, whose folder is on sys.path
    while it is imported. `strict`: the script must leave sys.path alone when imported (it
    changes it only when run as `__main__`).
    """
    before = list(sys.path)
    if neighbours:
        sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        if neighbours:
            sys.path.remove(str(BENCHMARKS))
        assert not strict or sys.path == before, f"benchmarks/{name}.py changed sys.path on import"
    finally:
        sys.path[:] = before
    return module
