"""solvent's checker: the Z3 back end, the built-in checks, the model checker, reports and the CLI.

Layers, bottom up (each imports only the ones below it):

- `checker.solve`: solver processes, budgets, the portfolio and decomposition;
- `checker.core`: the shared context of one spec (options, encoder, transitions, replay, results);
- `checker.checks` (the single-state catalogue) and `checker.mc` (the model checker), side by side;
- `checker.run`: one spec through both; `checker.report`: human, JSON, JUnit, SARIF and emitted tests;
- `checker.testing`: Hypothesis strategies from a spec (`checker.strategies(spec)`) and conformance
  of an existing engine to a spec (`checker.conform(spec, impl)`, spec/conformance.md);
- `checker.cli` on top.

The names below are the public API; they are imported lazily so that `solvent --help` stays fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: the console script imports this package first, keep it light
if TYPE_CHECKING:
    from typing import Any

    from checker.core.options import Options as Options
    from checker.core.options import OptionsError as OptionsError
    from checker.core.results import CheckResult as CheckResult
    from checker.core.results import Counterexample as Counterexample
    from checker.core.results import Verdict as Verdict
    from checker.run import run_checks as run_checks
    from checker.solve import configure as configure
    from checker.testing.conform import ConformError as ConformError
    from checker.testing.conform import ConformResult as ConformResult
    from checker.testing.conform import assert_case as assert_case
    from checker.testing.conform import assert_conforms as assert_conforms
    from checker.testing.conform import conform as conform
    from checker.testing.strategies import strategies as strategies

_PUBLIC = {
    "Options": "checker.core.options",
    "OptionsError": "checker.core.options",
    "CheckResult": "checker.core.results",
    "Counterexample": "checker.core.results",
    "Verdict": "checker.core.results",
    "run_checks": "checker.run",
    "configure": "checker.solve",
    "strategies": "checker.testing.strategies",
    "conform": "checker.testing.conform",
    "assert_conforms": "checker.testing.conform",
    "assert_case": "checker.testing.conform",
    "ConformError": "checker.testing.conform",
    "ConformResult": "checker.testing.conform",
}

__all__ = sorted(_PUBLIC)


def version() -> str:
    """solvent's version as installed (the package metadata), or "unknown" when run from a bare source tree."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("solvent")
    except PackageNotFoundError:
        return "unknown"


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'checker' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
