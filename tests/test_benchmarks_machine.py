"""benchmarks/machine.py: its reference work is fixed, and each run is added to the history, never replacing it.

It asserts what the benchmark records, never how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks_loaded import load

bench = load("machine", strict=True)


def test_each_reference_query_spends_exactly_its_limit() -> None:
    """The Z3 reference is fixed work: every query runs to its limit (Z3 may overshoot a check by a few units)."""
    _, spent = bench.z3_reference(bench.REFERENCE[:2], units=200_000)
    assert 2 * 200_000 <= spent < 2 * 200_000 + 10_000


def test_a_query_that_answers_before_its_limit_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "easy.smt2").write_text("(declare-const x Real)\n(assert (> x 1.0))\n", encoding="utf-8")
    monkeypatch.setattr(bench, "QUERIES", tmp_path)
    with pytest.raises(bench.NotFixedWork, match=r"easy\.smt2: sat"):
        bench.z3_reference(("easy.smt2",), units=200_000)
    assert bench.main(["--repeat", "1", "--out", str(tmp_path)]) == 2  # the bundled names are not there either
    assert not (tmp_path / "machine.json").exists()


def test_runs_are_added_to_the_history(tmp_path: Path) -> None:
    small = ["--repeat", "1", "--units", "200000", "--python-steps", "100", "--out", str(tmp_path)]
    assert bench.main(small) == 0
    assert bench.main(small) == 0
    history = json.loads((tmp_path / "machine.json").read_text(encoding="utf-8"))
    assert len(history) == 2
    assert all(run["z3_units"] >= len(bench.REFERENCE) * 200_000 and "bundle" not in run for run in history)
    report = (tmp_path / "machine.md").read_text(encoding="utf-8")
    table = [line for line in report.splitlines() if line.startswith("| 2")]
    assert len(table) == 2 and all("| — | — |" in line for line in table)  # no bundle in these runs
