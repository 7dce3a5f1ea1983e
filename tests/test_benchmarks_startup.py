"""benchmarks/startup.py: both rows measured in fresh processes, and a run on tables that do not fit refused.

It asserts what the benchmark records, never how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks_loaded import load

bench = load("startup", strict=True)


def test_a_run_writes_both_rows(tmp_path: Path) -> None:
    assert bench.main(["--repeat", "1", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "startup.json").read_text(encoding="utf-8"))
    assert [r["parser"] for r in payload["rows"]] == ["tables", "built"]
    assert all(r["load_cpu_s"] > 0 and r["check_cpu_s"] > 0 for r in payload["rows"])
    text = (tmp_path / "startup.md").read_text(encoding="utf-8")
    assert "loaded from dsl/grammar_tables.json" in text and "built from dsl/grammar.lark" in text


def test_the_tables_row_is_refused_when_the_tables_do_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # The measured process reports whether the shipped tables fit; a row labelled "tables" must not be a build.
    monkeypatch.setattr(bench, "_LOAD", bench._LOAD.replace('if sys.argv[1] == "built":', "if True:"))
    with pytest.raises(SystemExit, match="do not fit"):
        bench.load_cpu("tables")
