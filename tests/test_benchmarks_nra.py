"""benchmarks/nra.py: it records the queries the cheap try leaves and solves each three ways, agreeing.

It asserts what the run finds (counts, agreement), never how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks_loaded import load

ROOT = Path(__file__).resolve().parent.parent

bench = load("nra", strict=True)


def test_a_small_spec_is_recorded_and_every_engine_answers_the_same(tmp_path: Path) -> None:
    assert bench.main([str(ROOT / "tests" / "data" / "perpetual.margin"), "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "nra.json").read_text())
    assert data["queries"] > 0 and data["disagreements"] == []
    assert [r["engine"] for r in data["rows"]] == list(bench.ENGINES)
    answered = {r["answered"] for r in data["rows"]}
    assert answered == {data["queries"]}  # this spec's queries are all easy: every engine answers each
    assert "| ladder, rungs in threads (solvent) |" in (tmp_path / "nra.md").read_text()
