"""checker.stress.distribute: the same results in shard order in-process, on local processes and on Dask;
Ctrl-C stops every worker and keeps what finished; a failing or dying worker names its shard.

The shard functions live at the top of this module: spawned workers import it by name (multiprocessing
and Dask's nannies pass the parent's `sys.path`)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from checker.stress.distribute import DistributeError, Interrupted, ShardError, run_shards, shard_name
from checker.stress.progress import Progress

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def harmonic(shard: tuple[int, int]) -> tuple[int, Fraction, int]:
    """Deterministic and exact: the shard's start and the sum of 1/k over it (and the worker's pid).
    Later shards are cheaper, so that they tend to finish first on a pool."""
    start, stop = shard
    if start % 3 == 0:
        time.sleep(0.05)
    return start, sum((Fraction(1, k) for k in range(start, stop)), Fraction(0)), os.getpid()


def fails_on_two(shard: int) -> int:
    if shard == 2:
        raise ValueError("a formula no one expected to be undefined")
    return shard


def dies_on_two(shard: int) -> int:
    if shard == 2:
        os._exit(3)
    return shard


def slow_unless_zero(shard: tuple[int, str] | tuple[int, str, float]) -> int:
    """Shard 0 returns at once; the others note their worker's pid in `directory` and sleep (120 s)."""
    index, directory, *seconds = shard
    if index == 0:
        return 0
    Path(directory, f"{os.getpid()}-{index}").write_text(str(index))
    time.sleep(seconds[0] if seconds else 120)
    return index


SHARDS = [(k, k + 40) for k in range(1, 400, 40)]
EXPECTED = [harmonic(s)[:2] for s in SHARDS]


def test_in_process_and_local_processes_agree_in_shard_order() -> None:
    alone = run_shards(SHARDS, harmonic, workers=1)
    pooled = run_shards(SHARDS, harmonic, workers=2)
    assert [r[:2] for r in alone] == EXPECTED
    assert [r[:2] for r in pooled] == EXPECTED  # exact and in shard order, whatever finished first
    assert {r[2] for r in alone} == {os.getpid()}
    assert len({r[2] for r in pooled}) == 2 and os.getpid() not in {r[2] for r in pooled}


def test_a_dask_local_cluster_gives_the_same_results(tmp_path: Path) -> None:
    import dask
    import distributed

    # A task is failed at the first death of its worker (default: after 3), to keep the test short.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
    ):
        progress = Progress(mode="lines", stream=io.StringIO(), every=0)
        results = run_shards(
            SHARDS, harmonic, scheduler=cluster.scheduler_address, progress=progress, work=lambda s: s[1] - s[0]
        )
        assert [r[:2] for r in results] == EXPECTED
        assert os.getpid() not in {r[2] for r in results}
        assert progress.done == len(SHARDS) and progress.work == 40 * len(SHARDS)
        directory = tmp_path
        with pytest.raises(ShardError, match=r"shard 3 of 5 failed on the Dask cluster .*ValueError") as err:
            run_shards(list(range(5)), fails_on_two, scheduler=cluster.scheduler_address)
        assert err.value.index == 2
        _ctrl_c_on_dask(cluster.scheduler_address, directory)
        with pytest.raises(ShardError, match=r"^shard \d of 5: the Dask workers running it died"):
            run_shards(list(range(5)), dies_on_two, scheduler=cluster.scheduler_address)


def _ctrl_c_on_dask(address: str, directory: Path) -> None:
    """Ctrl-C while shards run on Dask: Interrupted with what finished, and the run's tasks cancelled (a
    running task's thread cannot be stopped by Dask: it ends on its own and its result is dropped)."""
    import threading

    import distributed

    def ctrl_c_once_two_shards_run() -> None:
        deadline = time.monotonic() + 30
        while len(list(directory.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_once_two_shards_run, daemon=True).start()
    with pytest.raises(Interrupted) as err:
        run_shards([(i, str(directory), 2.0) for i in range(6)], slow_unless_zero, scheduler=address)
    # Dask may start shard 0 after the slow ones, or tell us of it after the Ctrl-C: done or not, it is right.
    assert err.value.partial[0] in (0, None) and err.value.partial[1:] == [None] * 5
    dask: Any = distributed  # untyped
    with dask.Client(address, set_as_default=False) as client:
        deadline = time.monotonic() + 10
        while (left := client.run_on_scheduler(_stress_tasks)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == []


def _stress_tasks(dask_scheduler: object) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith("solvent-stress-")]  # type: ignore[attr-defined]


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import checker.stress.distribute as distribute

    monkeypatch.setattr(distribute, "CONNECT_TIMEOUT", 1)
    with pytest.raises(DistributeError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        run_shards([1, 2], fails_on_two, scheduler="tcp://127.0.0.1:9")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_shard_that_raises_is_named(workers: int) -> None:
    with pytest.raises(ShardError, match=r"^shard 3 of 5 failed: ValueError: a formula no one") as err:
        run_shards(list(range(5)), fails_on_two, workers=workers)
    assert err.value.index == 2
    assert isinstance(err.value.__cause__, ValueError)
    # On a pool one of shards 0 and 1 may not be done (its worker still starting) when shard 2 fails.
    assert err.value.partial[2] is None and err.value.partial[:2] != [None, None]


def test_a_worker_that_dies_is_named_not_waited_for() -> None:
    start = time.monotonic()
    with pytest.raises(ShardError, match=r"^shard 3 of 5: its worker process \(pid \d+\) died \(exit status 3\)"):
        run_shards(list(range(5)), dies_on_two, workers=2)
    assert time.monotonic() - start < 30


def test_shard_names_use_a_label() -> None:
    class Labelled:
        label = "scenario crash-2020, accounts 1-1000"

    assert shard_name(0, Labelled(), 4) == "shard 1 of 4 (scenario crash-2020, accounts 1-1000)"
    assert shard_name(3, object(), 4) == "shard 4 of 4"


def test_ctrl_c_stops_every_worker_and_keeps_the_partial_results(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(HERE)!r})
        from checker.stress.distribute import Interrupted, run_shards
        from test_stress_distribute import slow_unless_zero

        try:
            run_shards([(i, {str(tmp_path)!r}) for i in range(6)], slow_unless_zero, workers=2)
        except Interrupted as err:
            print(json.dumps(err.partial))
            sys.exit(130)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Its own session, and SIGINT to the whole group: what a terminal's Ctrl-C does.
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    workers = [int(p.name.split("-")[0]) for p in tmp_path.iterdir()]
    assert len(workers) == 2, child.communicate(timeout=5)
    assert all(_alive(pid) for pid in workers)
    os.killpg(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 130, err.decode()
    assert json.loads(out) == [0, None, None, None, None, None]
    assert "Traceback" not in err.decode()  # the workers ignored the Ctrl-C; the parent stopped them
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0) until reaped: look at its state
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_in_process_keeps_the_partial_results() -> None:
    def interrupted_at_two(shard: int) -> int:
        if shard == 2:
            raise KeyboardInterrupt
        return shard * 10

    with pytest.raises(Interrupted) as err:
        run_shards(list(range(4)), interrupted_at_two, workers=1)
    assert err.value.partial == [0, 10, None, None]
    assert isinstance(err.value, KeyboardInterrupt)


def test_progress_hears_of_every_shard() -> None:
    stream = io.StringIO()
    progress = Progress(mode="lines", stream=stream, every=3600)
    run_shards(SHARDS, harmonic, workers=1, progress=progress, work=lambda s: 1000 * (s[1] - s[0]))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "stress: 10 shards, 4.0e5 account-steps"  # said at once: a CI log is never silent
    assert len(lines) == 2 and lines[1].startswith("stress: done, 10/10 shards, 4.0e5 account-steps in ")


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_shards([1], fails_on_two, workers=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_come_at_most_every_n_seconds_then_a_final_line() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(mode="lines", stream=stream, every=10, clock=clock)
    progress.start(40, 40 * 800_000)
    for _ in range(12):
        clock.now += 3.5  # a line at 10.5 s, 21 s, 31.5 s and 42 s; nothing in between
        progress.advance(800_000)
    assert stream.getvalue().splitlines() == [
        "stress: 40 shards, 3.2e7 account-steps",
        "stress: 3/40 shards, 2.4e6 account-steps, 10 s",
        "stress: 6/40 shards, 4.8e6 account-steps, 21 s",
        "stress: 9/40 shards, 7.2e6 account-steps, 32 s",
        "stress: 12/40 shards, 9.6e6 account-steps, 42 s",
    ]
    progress.close()
    assert stream.getvalue().splitlines()[-1] == (
        "stress: stopped, 12/40 shards, 9.6e6 account-steps in 42 s (2.3e5 account-steps/s)"
    )


def test_auto_mode_is_plain_lines_off_a_terminal() -> None:
    assert Progress(stream=io.StringIO()).mode == "lines"


def test_a_terminal_gets_a_bar() -> None:
    stream, clock = io.StringIO(), FakeClock()
    with Progress(mode="bar", stream=stream, clock=clock) as progress:
        progress.start(4, 4_000_000)
        for _ in range(4):
            clock.now += 2
            progress.advance(1_000_000)
        progress.close()
    shown = stream.getvalue()
    assert "\x1b[" in shown  # drawn for a terminal
    assert "4/4" in shown and "shards" in shown and "5.0e5 account-steps/s" in shown
    assert "stress: " not in shown  # no plain lines on a terminal


def test_a_bar_stopped_early_says_so() -> None:
    stream = io.StringIO()
    progress = Progress(mode="bar", stream=stream)
    progress.start(4, 0)
    progress.advance(0)
    progress.close()
    assert stream.getvalue().rstrip().endswith("stress: stopped at 1/4 shards")


def test_counts_for_people() -> None:
    from checker.stress.progress import count_text

    assert [count_text(n) for n in (0, 99_999, 100_000, 31_234_567, 2.6e9)] == ["0", "99999", "1.0e5", "3.1e7", "2.6e9"]


def _real_run() -> tuple[Any, Any, list[Any], Any]:
    """A small run of the real runner: accounts of the Binance USDⓈ-M perpetual through two price paths."""
    import numpy as np

    import checker.stress.run as run
    from checker.stress.model import Column, Population, Scenario, StressOptions

    spec = ROOT / "examples" / "binance_usdm_perp.margin"
    scales = {"wallet": 100, "collateral": 100, "size": 1000, "entry": 10, "insurance": 100, "funding_paid": 100}
    n = 300
    rows = {
        "wallet": [10_000 * (k % 7) for k in range(n)],
        "collateral": [50_000 + 997 * k for k in range(n)],
        "size": [(-1) ** k * (100 + 37 * k) for k in range(n)],
        "entry": [200_000 + 113 * k for k in range(n)],
        "insurance": [0] * n,
        "funding_paid": [0] * n,
    }
    population = Population(
        "generated", n, {k: Column(k, np.array(v, dtype=np.int64), scales[k]) for k, v in rows.items()}
    )
    paths = [[20_000, 19_000, 17_500, 21_000], [20_000, 22_000, 25_000, 18_000, 15_000]]
    scenarios = [Scenario(f"path {j}", ("mark",), tuple((Fraction(p),) for p in path)) for j, path in enumerate(paths)]
    options = StressOptions()
    shards = run.plan(spec.read_text(), str(spec), population, scenarios, options, accounts_per_shard=70)
    return run, (spec, population, scenarios, options), shards, run.run_shard


def test_the_real_runner_gives_the_same_report_wherever_its_shards_run() -> None:
    import distributed
    run, (spec, population, scenarios, options), shards, run_shard = _real_run()
    assert len(shards) > 2

    def report(results: list[Any]) -> Any:
        return run.merge(spec.read_text(), str(spec), population, scenarios, options, results)

    def work(shard: Any) -> int:
        return int(shard.population.size * sum(len(s.steps) for s in shard.scenarios))

    alone = report(run_shards(shards, run_shard, workers=1))
    assert alone == run.stress(spec.read_text(), str(spec), population, scenarios, options)
    assert report(run_shards(shards, run_shard, workers=2, work=work)) == alone
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        assert report(run_shards(shards, run_shard, scheduler=c.scheduler_address)) == alone
    assert sum(s.liquidated for s in alone.scenarios) > 0  # the paths do liquidate: the comparison means something


def test_lines_without_a_size_leave_account_steps_out() -> None:
    stream = io.StringIO()
    run_shards([1, 2, 3], str, workers=1, progress=Progress(mode="lines", stream=stream))
    assert stream.getvalue().splitlines()[0] == "stress: 3 shards"
    assert stream.getvalue().splitlines()[1].startswith("stress: done, 3/3 shards in ")


def test_what_cannot_go_to_a_worker_process_is_named() -> None:
    with pytest.raises(TypeError, match=r"cannot be sent to a worker process .*module-level function"):
        run_shards([1, 2], lambda s: s, workers=2)
    with pytest.raises(ShardError, match=r"^shard 2 of 2 cannot be sent to a worker process"):
        run_shards([1, lambda: 0], str, workers=2)
