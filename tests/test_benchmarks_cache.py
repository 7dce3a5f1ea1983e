"""benchmarks/cache.py: the three runs recorded, the cache used where nothing changed, and a cache that changes an
answer failing the benchmark. It asserts what the benchmark records, never how long anything took."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks_loaded import load

bench = load("cache", strict=True)
ARGS = ["--specs", "tests/data", "--change", "tests/data/perpetual.margin"]


def test_a_run_records_cold_warm_and_changed(tmp_path: Path) -> None:
    assert bench.main([*ARGS, "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "cache.json").read_text(encoding="utf-8"))
    assert [(r["from_cache"], r["specs"]) for r in payload["rows"]] == [(0, 1), (1, 1), (0, 1)]
    assert payload["same"] is True
    assert "| warm: nothing changed |" in (tmp_path / "cache.md").read_text(encoding="utf-8")


def test_a_report_that_differs_fails_the_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench.run
    calls: list[int] = []

    def tampered(where: Path, specs: str, cache: Path) -> dict[str, object]:
        out = real(where, specs, cache)
        calls.append(1)
        if len(calls) == 2:  # the warm run's report says something else
            out["report"]["specs"][0]["checks"][0]["verdict"] = "UNKNOWN"
        return out

    monkeypatch.setattr(bench, "run", tampered)
    assert bench.main([*ARGS, "--out", str(tmp_path)]) == 1
    assert "**no**" in (tmp_path / "cache.md").read_text(encoding="utf-8")
