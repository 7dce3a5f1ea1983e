"""`solvent check --jobs N`: the same report whatever N, progress lines in CI logs, a clean Ctrl-C.

What this protects: checks run as units in worker processes (checker/parallel.py)
give exactly the results of the sequential `run_checks`, in the same order and
with the same names; a CI log gets a line per finished spec; Ctrl-C with a
pool leaves no worker process behind. The pool starts only after a second of
in-process work, so the tests that must exercise it either pass
`in_process_for=0` to `Run` or check enough specs to run past that second.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import checker.parallel
import checker.run
from checker.checks import SINGLE_STATE
from checker.core.context import Context
from checker.core.options import Options
from checker.core.results import CheckResult, Verdict
from checker.parallel import Run, Unit, _descendants, _renumber, run_unit
from checker.report.render import SpecReport, to_json
from dsl.diagnostics import InternalError

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "tests" / "cli"
# Fast specs (each under about 1.5 s) with proofs, skips, violations with replayed counterexamples, a
# bounded trace of several steps and a spec error.
SPECS = [
    "tests/cli/proved.margin",
    "tests/cli/violated.margin",
    "tests/cli/spec_error.margin",
    "tests/data/perpetual.margin",
    "examples/bad/aave_bonus_spiral.margin",
    "examples/bad/binance_leverage_above_mmr.margin",
]
# Long enough that Ctrl-C lands while the pool is busy.
SLOW = [
    "examples/bad/cross_collateral_haircut_too_small.margin",
    "examples/bad/bitmex_linear_gap_assumption.margin",
    "examples/bad/binance_uncapped_liquidation_fee.margin",
]
SECONDS = re.compile(r'("seconds": )[-+0-9.eE]+')


def solvent(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m checker ARGV` from the repository root, output piped (so stderr is no terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "checker", *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def canonical(reports: list[SpecReport]) -> str:
    """A JSON report with every duration zeroed: what must not depend on the number of jobs."""
    return SECONDS.sub(r"\g<1>0", to_json(reports, 0.0))


def check(files: list[str], jobs: int, only: tuple[str, ...] = (), **kw: float) -> list[SpecReport]:
    run = Run([Path(f) for f in files], Options(), only, jobs, **kw)
    for _ in run.events():
        pass
    return run.so_far()


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # report paths as a user types them


# ---------------------------------------------------------------- the same results whatever the jobs


@pytest.mark.parametrize("only", [(), ("maintenance-le-initial", "gap-safety"), ("invariant", "vacuity")])
def test_units_in_a_pool_give_the_sequential_report(only: tuple[str, ...]) -> None:
    files = SPECS[:4] if only else SPECS
    sequential = check(files, jobs=1, only=only)
    pooled = check(files, jobs=2, only=only, in_process_for=0.0)  # every unit in a worker
    assert canonical(pooled) == canonical(sequential)
    assert [r.path for r in pooled] == files


def test_units_in_process_give_the_sequential_report() -> None:
    files = SPECS[:4]
    assert canonical(check(files, jobs=2, in_process_for=1e9)) == canonical(check(files, jobs=1))


@pytest.fixture(scope="module")
def runs() -> dict[int, subprocess.CompletedProcess[str]]:
    """The fast specs checked once with --jobs 1 and once with --jobs 2 (long enough to start the pool)."""
    return {jobs: solvent("check", *SPECS, "--format", "json", "--jobs", str(jobs)) for jobs in (1, 2)}


def test_jobs_2_prints_the_report_of_jobs_1(runs: dict[int, subprocess.CompletedProcess[str]]) -> None:
    one, two = runs[1], runs[2]
    assert one.returncode == two.returncode == 2  # spec_error.margin
    assert SECONDS.sub(r"\g<1>0", two.stdout) == SECONDS.sub(r"\g<1>0", one.stdout)
    doc = json.loads(two.stdout)
    assert [s["path"] for s in doc["specs"]] == SPECS  # the order of the command line, not of finishing
    assert any(c["counterexample"] and c["counterexample"]["replayed"] for s in doc["specs"] for c in s["checks"])


def test_progress_lines_on_a_pipe(runs: dict[int, subprocess.CompletedProcess[str]]) -> None:
    for jobs, result in runs.items():
        lines = [line for line in result.stderr.splitlines() if line.startswith(("checked ", "tests/", "examples/"))]
        progress = [line for line in lines if line.startswith("checked ") or line.endswith(": spec error")]
        assert len(progress) == len(SPECS), result.stderr
        assert "tests/cli/spec_error.margin: spec error" in progress
        doc = json.loads(result.stdout)
        for spec in doc["specs"]:
            if spec["error"]:
                continue
            n = {v: sum(c["verdict"] == v for c in spec["checks"]) for v in ("PROVED", "VIOLATED", "UNKNOWN")}
            pattern = (
                rf"checked {re.escape(spec['path'])}: {n['PROVED']} proved, {n['VIOLATED']} violated, "
                rf"{n['UNKNOWN']} unknown, \d+ skipped \(\d+\.\d s\)"
            )
            assert any(re.fullmatch(pattern, line) for line in progress), (pattern, progress)
        if jobs == 1:  # one at a time: in file order
            assert [line.split()[1 if line.startswith("checked") else 0].rstrip(":") for line in progress] == SPECS
        # the spec error's diagnostics still reach stderr (the JSON report goes to stdout)
        assert "tests/cli/spec_error.margin:9:33: error: undefined name `mrak`" in result.stderr


def test_results_pickle_with_exact_counterexamples() -> None:
    done = run_unit(Unit(0, Path("tests/cli/violated.margin"), "maintenance-le-initial"), Options())
    cex = [r.counterexample for r in done.results if r.counterexample is not None]
    assert cex and cex[0].replayed
    assert pickle.loads(pickle.dumps(done)) == done


def test_names_numbered_across_checks() -> None:
    """A check run alone numbers repeated names from 1; the report numbers them as one shared Context would."""

    def named(*names: str) -> list[CheckResult]:
        return [CheckResult("well-defined", n, Verdict.PROVED, 0.0) for n in names]

    renamed = _renumber(named("x", "x #2", "y", "skip"), {"x": 2, "y": 1}, {"x": 1, "z": 4})
    assert [r.name for r in renamed] == ["x #2", "x #3", "y", "skip"]


def test_a_bug_in_one_check_stops_its_spec_as_in_a_sequential_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = dict(SINGLE_STATE)["conservation"]

    def broken(cx: Context) -> Iterator[CheckResult]:
        yield next(iter(real(cx)))
        raise InternalError("conservation broke")

    catalogue = tuple((cid, broken if cid == "conservation" else fn) for cid, fn in SINGLE_STATE)
    monkeypatch.setattr(checker.run, "SINGLE_STATE", catalogue)
    monkeypatch.setattr(checker.parallel, "_CHECKS", dict(catalogue))
    files = ["tests/cli/proved.margin", "tests/cli/violated.margin"]
    sequential = check(files, jobs=1)
    units = check(files, jobs=2, in_process_for=1e9)  # in-process: workers would not see the patch
    assert canonical(units) == canonical(sequential)
    assert all(r.bug and "conservation broke" in r.bug for r in units)
    assert units[0].results[-1].id == "conservation"


def test_an_edited_spec_is_loaded_again(tmp_path: Path) -> None:
    """Specs are cached per process, and the test process outlives many runs: an edit must show."""
    spec = tmp_path / "rules.margin"
    spec.write_text((CLI / "violated.margin").read_text())
    unit = Unit(0, spec, "maintenance-le-initial")
    assert [r.verdict for r in run_unit(unit, Options()).results] == [Verdict.VIOLATED]
    spec.write_text((CLI / "proved.margin").read_text())
    assert [r.verdict for r in run_unit(unit, Options()).results] == [Verdict.PROVED]


def test_jobs_must_be_positive() -> None:
    result = solvent("check", "tests/cli/proved.margin", "--jobs", "0")
    assert result.returncode == 2 and "--jobs" in result.stderr


# ---------------------------------------------------------------- Ctrl-C


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"  # a zombie has stopped: only unreaped
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("whom", ["solvent", "its process group", "SIGTERM", "its group, workers starting"])
def test_ctrl_c_with_jobs_leaves_no_process_behind(whom: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "checker", "check", *SLOW, "--jobs", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a shell gives a job: a terminal's Ctrl-C signals the group
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        wanted = 1 if whom.endswith("starting") else 2  # Ctrl-C while a worker imports, or once both work
        while len(workers) < wanted and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            workers = [p for p in _descendants(proc.pid) if "spawn_main" in _cmdline(p)]
        assert len(workers) >= wanted, "the pool never started"
        # Into the workers' checks, or into a worker's imports (where it printed a traceback before
        # workers were born with SIGINT blocked: seen 0.1-0.2 s after the worker process appears).
        time.sleep(1.0 if wanted == 2 else 0.15)
        children = _descendants(proc.pid)
        if whom == "solvent":
            proc.send_signal(signal.SIGINT)
        elif whom == "SIGTERM":  # a cancelled CI job: stopped like Ctrl-C, nothing left behind
            proc.send_signal(signal.SIGTERM)
        else:  # a terminal's Ctrl-C: the whole group, workers included
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "interrupted" in out and "summary:" in out
    deadline = time.monotonic() + 10  # the resource tracker exits when it sees its parent's pipe close
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [(p, _cmdline(p)) for p in children if _alive(p)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
