"""What an installed wheel holds: every package of `dsl` and `checker`, the grammar and the spec pages.

Tests run from the repository root, where `import checker.synth` works whether or not the wheel
ships it; a user's `solvent` runs from the installed copy. `checker.synth` was missing from the
wheel (`--synthesize` failed on an installed solvent), which this test would have caught.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def test_every_module_directory_is_declared() -> None:
    # setuptools ships exactly the listed packages (some of checker's layers have no __init__.py).
    found = {
        ".".join(module.parent.relative_to(ROOT).parts)
        for top in ("dsl", "checker")
        for module in (ROOT / top).rglob("*.py")
    }
    assert found <= _declared(), f"packages missing from pyproject.toml: {sorted(found - _declared())}"
