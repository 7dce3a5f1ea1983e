"""The result cache (`solvent check --cache DIR`, checker/cache.py).

What this protects: a report taken from the cache is the report a new check would give (field for
field, durations aside), it comes without asking any solver, and anything the answers depend on (the
spec's bytes, an option, an engine's version, solvent's code) makes it a miss that is checked anew.
A damaged or hostile entry is a miss with a warning, never a wrong report and never code run.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from benchmarks_loaded import load
from checking import cli

from checker import cache as cache_module
from checker.cache import decode, encode
from checker.core.results import CheckResult, Counterexample, Region, Step, Synthesis, Verdict

ROOT = Path(__file__).resolve().parent.parent
# A violation with a replayed single-state counterexample and a multi-step trace, and plenty of proofs.
BAD = ROOT / "examples" / "bad" / "binance_leverage_above_mmr.margin"
without_times = load("cache", strict=True).without_times  # a report without durations and `cached` marks


def check_json(capsys: Any, *argv: object) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli(capsys, "check", *argv, "--format", "json", "--jobs", "1")
    return code, json.loads(out), err


class NoSolver(Exception):
    pass


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "bad.margin"
    shutil.copy(BAD, path)
    return path


def forbid_solving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any query from now on fails the test: a report must come from the cache alone."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NoSolver("a solver was asked")

    monkeypatch.setattr("checker.core.context.Context.solve", refuse)
    monkeypatch.setattr("checker.core.context.Context.local", refuse)


def test_a_second_run_gives_the_same_report_from_the_cache_without_a_solver(
    capsys: Any, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "cache"
    code, cold, _ = check_json(capsys, spec, "--cache", store)
    assert code == 1
    checks = cold["specs"][0]["checks"]
    assert any(c["counterexample"] and c["counterexample"]["replayed"] for c in checks)
    assert any(c["counterexample"] and len(c["counterexample"]["steps"]) >= 2 for c in checks)
    assert "cached" not in cold["specs"][0]
    assert (store / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")

    forbid_solving(monkeypatch)
    code, warm, err = check_json(capsys, spec, "--cache", store)
    assert code == 1, err
    assert warm["specs"][0]["cached"] is True
    assert without_times(warm) == without_times(cold)
    import jsonschema

    schema = json.loads((ROOT / "spec" / "report.schema.json").read_text(encoding="utf-8"))
    for doc in (cold, warm):
        jsonschema.Draft202012Validator(schema).validate(doc)
    broken = {**warm, "specs": [{**warm["specs"][0], "cached": False}]}  # present only as true
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
    # The human report says where its results came from.
    code, out, _ = cli(capsys, "check", spec, "--cache", store, "--jobs", "2")
    assert code == 1
    assert "[from the cache]" in out.splitlines()[0]
    assert "; 1 from the cache)" in out.splitlines()[-1]


@pytest.mark.parametrize(
    "change",
    ["spec", "option", "engine", "code"],
)
def test_what_the_answers_depend_on_makes_a_miss(
    capsys: Any, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    store = tmp_path / "cache"
    assert check_json(capsys, spec, "--cache", store, "--only", "requirement-nonnegative")[0] == 0
    extra: list[str] = []
    if change == "spec":
        spec.write_text(spec.read_text() + "\n# a comment changes the bytes\n")
    elif change == "option":
        extra = ["--rlimit", "99000000"]
    elif change == "engine":
        monkeypatch.setattr("checker.solve.engine_versions", lambda: {"z3": "0.0.0", "cvc5": "1.4.2"})
    else:
        monkeypatch.setattr(cache_module, "code_digest", lambda: "another solvent")
    asked: list[int] = []
    real = __import__("checker.core.context", fromlist=["Context"]).Context.solve

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr("checker.core.context.Context.solve", counting)
    code, doc, _ = check_json(capsys, spec, "--cache", store, "--only", "requirement-nonnegative", *extra)
    assert code == 0
    assert "cached" not in doc["specs"][0]
    assert asked, "the solver must be asked again"


def test_a_damaged_or_hostile_entry_is_a_miss_that_is_checked_and_replaced(
    capsys: Any, spec: Path, tmp_path: Path
) -> None:
    store = tmp_path / "cache"
    argv = [spec, "--cache", store, "--only", "requirement-nonnegative"]
    code, cold, _ = check_json(capsys, *argv)
    (entry,) = (store / "v1").glob("*/*.json")
    good = entry.read_text()
    key = json.loads(good)["key"]
    hostile = {"key": key, "title": "t", "results": [{"class": "os.system", "fields": {"command": "touch x"}}]}
    mistyped = json.loads(good)
    mistyped["results"][0]["fields"]["verdict"] = "PROVED"  # a plain string where a verdict belongs
    damaged_entries = [
        "{not json",
        json.dumps({**json.loads(good), "key": "0" * 64}),
        json.dumps(hostile),
        json.dumps(mistyped),
    ]
    for damaged in damaged_entries:
        entry.write_text(damaged)
        code, doc, err = check_json(capsys, *argv)
        assert code == 0
        assert "is damaged" in err and "checking" in err
        assert "cached" not in doc["specs"][0]
        assert without_times(doc) == without_times(cold)
        # Replaced by the new run's report (the same, durations aside).
        assert without_times(json.loads(entry.read_text())) == without_times(json.loads(good))
        code, doc, err = check_json(capsys, *argv)
        assert doc["specs"][0]["cached"] is True and err == ""


def test_a_directory_that_is_not_a_cache_is_refused(capsys: Any, spec: Path, tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine\n")
    code, _, err = cli(capsys, "check", spec, "--cache", mine)
    assert code == 2
    assert "not a solvent cache" in err and "Traceback" not in err
    assert sorted(p.name for p in mine.iterdir()) == ["todo.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _, err = cli(capsys, "check", spec, "--cache", a_file)
    assert code == 2 and "not a directory" in err


def test_an_unwritable_cache_warns_and_the_run_goes_on(
    capsys: Any, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.tempfile, "mkstemp", no_room)
    code, doc, err = check_json(capsys, spec, "--cache", tmp_path / "cache", "--only", "requirement-nonnegative")
    assert code == 0 and doc["specs"][0]["checks"]
    assert "cannot write to" in err and "No space left on device" in err


def test_results_the_clock_had_a_hand_in_are_not_kept(tmp_path: Path) -> None:
    from checker.cache import Cache
    from checker.core.options import Options
    from checker.run import CLOCKED

    store = Cache(tmp_path / "c", Options(), (), print)
    path = tmp_path / "s.margin"
    path.write_text('spec "x"\n')
    key = store.key_of(path)
    assert key is not None
    clocked = CheckResult("gap-safety", "gap-safety", Verdict.PROVED, 1.0, reason=CLOCKED)
    store.put(path, key, "x", [clocked])
    assert store.get(path, key) is None
    store.put(path, key, "x", [CheckResult("gap-safety", "gap-safety", Verdict.PROVED, 1.0)])
    assert store.get(path, key) is not None
    other = tmp_path / "t.margin"
    other.write_text('spec "y"\n')
    before = store.key_of(other)
    assert before is not None
    other.write_text('spec "z"\n')  # changed while it was checked: the results may be of either text
    store.put(other, before, "y", [CheckResult("gap-safety", "gap-safety", Verdict.PROVED, 1.0)])
    assert store.get(other, before) is None


def test_the_setting_in_pyproject_is_a_path_from_its_directory(
    capsys: Any, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.solvent]\ncache = "build/solvent-cache"\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert cli(capsys, "check", spec, "--only", "requirement-nonnegative")[0] == 0
    assert (tmp_path / "build" / "solvent-cache" / "CACHEDIR.TAG").is_file()
    code, out, _ = cli(capsys, "check", spec, "--only", "requirement-nonnegative", "--no-cache")
    assert code == 0 and "from the cache" not in out


def test_every_result_of_a_real_report_round_trips_exactly(capsys: Any, spec: Path) -> None:
    import dsl
    from checker import Options, configure
    from checker.run import run_checks

    configure(0)
    results = list(run_checks(dsl.load(spec), Options()))
    assert any(r.counterexample is not None for r in results)
    assert [decode(json.loads(json.dumps(encode(r)))) for r in results] == results


def test_values_of_every_kind_round_trip() -> None:
    step = Step(
        "after liquidate",
        {"q": Fraction(-1, 3)},
        {"size": Fraction(0), "open": True, "bal": {"BTC": Fraction(7, 2), "ETH": Fraction(0)}},
        {"mark": Fraction(10**30 + 1, 10**12)},
        {"note": "a string value", "flags": {"BTC": False}},
    )
    region = Region("max_move <= 0.0034", True, "anywhere in their ranges", "max_move > 0.0034", "VIOLATED", joint=True)
    result = CheckResult(
        "gap-safety",
        'gap-safety: "quoted" and \\ back',
        Verdict.VIOLATED,
        0.123456789,
        reason="why",
        counterexample=Counterexample({"mmr": Fraction(1, 30)}, (step, step), replayed=True),
        where="x.margin:3:1",
        synthesis=Synthesis("bounds", (region,), ("a note",)),
    )
    assert decode(json.loads(json.dumps(encode(result)))) == result
    with pytest.raises(ValueError):
        decode({"class": "Path", "fields": {}})
    with pytest.raises(ValueError):
        decode({"class": "Step", "fields": {"label": "x", "__class__": 1}})


def test_ctrl_c_keeps_the_specs_finished_before_it_and_nothing_else(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    small, large = ROOT / "tests" / "data" / "perpetual.margin", ROOT / "examples" / "cross_margin_portfolio.margin"
    store = tmp_path / "cache"
    argv = [sys.executable, "-m", "checker", "check", str(small), str(large), "--cache", str(store), "--jobs", "1"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # a progress line per spec (stderr is not a terminal)
        if line.startswith(f"checked {small}"):
            proc.send_signal(signal.SIGINT)  # while the large spec is being checked
            break
    assert proc.wait(timeout=120) == 130
    assert len(list((store / "v1").glob("*/*.json"))) == 1
    # The one entry is the small spec's, taken from the cache by a run of it alone.
    again = subprocess.run([*argv[:5], "--cache", str(store)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "[from the cache]" in again.stdout.splitlines()[0], again.stderr[-2000:]


def test_prune_removes_the_entries_the_run_did_not_use_and_nothing_else(capsys: Any, tmp_path: Path) -> None:
    store = tmp_path / "cache"
    one, two = tmp_path / "one.margin", tmp_path / "two.margin"
    shutil.copy(BAD, one)
    shutil.copy(ROOT / "tests" / "data" / "perpetual.margin", two)
    only = ["--only", "requirement-nonnegative"]
    assert cli(capsys, "check", one, two, "--cache", store, *only)[0] == 0
    old_version = store / "v0" / ("ab" * 32)[:2] / f"{'ab' * 32}.json"  # an entry of an older format
    old_version.parent.mkdir(parents=True)
    old_version.write_text("{}")
    mine = store / "v1" / "notes.txt"
    mine.write_text("not an entry\n")
    assert len(list(store.glob("v1/*/*.json"))) == 2

    code, out, err = cli(capsys, "check", one, "--cache", store, *only, "--cache-prune")
    assert code == 0 and "[from the cache]" in out
    assert "removed 2 entries this run did not use" in err
    (left,) = store.glob("v*/*/*.json")
    assert mine.read_text() == "not an entry\n" and not old_version.parent.exists()
    # What is left is the entry of the spec this run used.
    assert cli(capsys, "check", one, "--cache", store, *only)[1].splitlines()[0].endswith("[from the cache]")
    assert json.loads(left.read_text())["title"]

    code, _, err = cli(capsys, "check", one, *only, "--cache-prune")
    assert code == 2 and "--cache-prune: give the cache with --cache DIR" in err
