"""Running a stress run's shards: in this process, in worker processes on this machine, or on Dask.

Takes a sequence of shards and a function (`checker.stress.run.run_shard`, or
any picklable function of one shard); returns the function's results in shard
order, whatever order they finished in, so that merging them gives the same
report wherever they ran. `run_shards` is generic: it never looks inside a
shard or a result.

Where the shards run (`scheduler`, `workers`):

- `workers=1` (or a single shard): in this process, one after the other, no pool.
- default: `workers` processes on this machine (default: its cores), started
  with "spawn" (a forked process would inherit the parent's threads and locks:
  a progress bar's refresh thread, Z3's). This is a small pool of our own
  (`multiprocessing.Process` and a pipe each, one shard at a time per worker)
  rather than `ProcessPoolExecutor` or a Dask `LocalCluster`: the parent knows
  which shard each worker holds, so a worker that dies names its shard and its
  exit status at once (`ProcessPoolExecutor` only says that some process in the
  pool broke), and Ctrl-C kills exactly the processes it started, with no
  private API (before Python 3.14 an executor has no public way to stop running
  work) and without the scheduler, nanny and ports a `LocalCluster` brings.
- `scheduler="tcp://host:8786"`: on that Dask cluster (`distributed.Client`),
  one task per shard. A shard carries the spec as text, never a path, so the
  workers need solvent installed (the same version: checked before any shard is
  sent), not the user's files.

Stress runs on a Dask cluster. Start a scheduler and workers wherever the team
runs them, each worker in an environment with the same solvent version
installed (`pip install solvent==X.Y.Z`; the spec, the population and the
scenarios travel inside the shards):

    dask scheduler                          # listens on tcp://HOST:8786
    dask worker tcp://HOST:8786 --nthreads 1 --nworkers 8   # on each machine

then `solvent stress SPEC ... --scheduler tcp://HOST:8786`. One thread per
worker process suits the work (pure Python and numpy on exact integers). The
results are the same as on one machine: each shard's result is exact and they
are merged in shard order.

Ctrl-C (KeyboardInterrupt): the workers are stopped and `Interrupted` is raised
with the results finished so far, so that the caller can write a partial
report. Local workers are killed and waited for (none is left behind). On Dask
the run's tasks are cancelled; a shard already running on a worker cannot be
stopped there (Dask does not kill a running task's thread, and the workers may
serve others), so it runs to its end and its result is dropped. A shard that
raises, or a worker that dies, is a `ShardError` naming the shard; on Dask a
task whose workers keep dying fails with Dask's `KilledWorker` after the
cluster's `distributed.scheduler.allowed-failures` retries (default 3).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import signal
import traceback
import uuid
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from checker.signals import sigint_held

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from checker.stress.progress import Progress

T = TypeVar("T")
R = TypeVar("R")

CONNECT_TIMEOUT = 30  # seconds to reach a Dask scheduler before saying it cannot be reached


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the workers are stopped; `partial[i]` is shard i's result, or None if unfinished.

    A KeyboardInterrupt, so that a caller that does not catch it stops as on any Ctrl-C."""

    def __init__(self, partial: list[Any]) -> None:
        super().__init__(f"interrupted: {sum(r is not None for r in partial)} of {len(partial)} shards finished")
        self.partial = partial


class ShardError(Exception):
    """A shard that failed (its function raised, or its worker died): `index` is the shard's position,
    `partial` the results finished before the run stopped (None for the others)."""

    def __init__(self, message: str, index: int, partial: list[Any]) -> None:
        super().__init__(message)
        self.index = index
        self.partial = partial


class DistributeError(Exception):
    """The run could not start where it was asked to (no Dask, no scheduler there, workers without solvent)."""


def run_shards(
    shards: Sequence[T],
    fn: Callable[[T], R],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    work: Callable[[T], int] | None = None,
) -> list[R]:
    """`[fn(s) for s in shards]`, computed where asked (see the module docstring), in shard order.

    `workers`: local processes (default: the cores; 1: in this process); with `scheduler`, the
    cluster's workers run the shards and `workers` is not used. `work(shard)`: the shard's size in
    account-steps, for the progress display only. Raises
    `Interrupted` on Ctrl-C, `ShardError` when a shard fails, `DistributeError` when the cluster
    cannot be used."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    sizes = [work(s) if work is not None else 0 for s in shards]
    results: list[Any] = [None] * len(shards)
    if progress is not None:
        progress.start(len(shards), sum(sizes))
    try:
        if scheduler is not None:
            done = _on_dask(shards, fn, scheduler, results)
        else:
            count = min(workers or os.cpu_count() or 1, len(shards))
            done = _in_process(shards, fn, results) if count <= 1 else _in_pool(shards, fn, count, results)
        with contextlib.closing(done):  # closed at once on Ctrl-C: that stops the workers, not the GC later
            for i in done:
                if progress is not None:
                    progress.advance(sizes[i])
    except KeyboardInterrupt as err:
        if isinstance(err, Interrupted):
            raise
        raise Interrupted(results) from None
    finally:
        if progress is not None:
            progress.close()
    return results


def shard_name(index: int, shard: object, total: int) -> str:
    """How errors name a shard: its position, and its `label` where it has one."""
    label = getattr(shard, "label", None)
    return f"shard {index + 1} of {total}" + (f" ({label})" if isinstance(label, str) and label else "")


# ---------------------------------------------------------------------------------------- in this process


def _in_process(shards: Sequence[T], fn: Callable[[T], R], results: list[Any]) -> Generator[int, None, None]:
    for i, shard in enumerate(shards):
        try:
            results[i] = fn(shard)
        except Exception as err:
            raise ShardError(f"{shard_name(i, shard, len(shards))} failed: {_describe(err)}", i, results) from err
        yield i


# ---------------------------------------------------------------------------------------- local processes


def _worker_main(conn: Connection, fn: Callable[[Any], Any]) -> None:
    """A worker process: take (index, shard), send back (index, True, result) or (index, False, error)."""
    # The parent handles Ctrl-C (the terminal signals the whole process group) and stops the workers;
    # a worker interrupted mid-shard would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        index, shard = task
        try:
            try:
                reply = (index, True, fn(shard))
                conn.send(reply)  # pickled whole before anything is written: a result that fails to pickle raises here
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as err:
                conn.send((index, False, (_describe(err), traceback.format_exc(), _picklable(err))))
        except (BrokenPipeError, ConnectionResetError):  # the parent is gone (killed): nobody to answer
            return


@dataclass
class _Worker(Generic[T]):
    process: BaseProcess
    conn: Connection
    index: int | None = None  # the shard it holds


def _in_pool(shards: Sequence[T], fn: Callable[[T], R], count: int, results: list[Any]) -> Generator[int, None, None]:
    context = multiprocessing.get_context("spawn")
    pool: list[_Worker[T]] = []
    todo = iter(range(len(shards)))
    total = len(shards)
    try:
        for _ in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(target=_worker_main, args=(theirs, fn), daemon=True, name="solvent-stress")
            try:
                with sigint_held():
                    process.start()
            except (pickle.PicklingError, AttributeError, TypeError) as err:  # a lambda, a local function
                raise TypeError(
                    f"{fn!r} cannot be sent to a worker process ({err}); pass a module-level function"
                ) from err
            finally:
                theirs.close()
            pool.append(_Worker(process, mine))
        for w in pool:
            _give(w, next(todo, None), shards, results)
        while busy := [w for w in pool if w.index is not None]:
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for w in busy:
                if w.conn not in ready and w.process.sentinel not in ready:
                    continue
                assert w.index is not None
                i = w.index
                try:
                    reply = w.conn.recv() if w.conn.poll() else None
                except (EOFError, OSError):
                    reply = None
                if reply is None:  # the process ended without answering
                    w.process.join(1)
                    raise ShardError(
                        f"{shard_name(i, shards[i], total)}: its worker process (pid {w.process.pid}) "
                        f"died ({_exit_status(w.process.exitcode)}) while running it",
                        i,
                        results,
                    )
                index, ok, value = reply
                assert index == i
                if not ok:
                    message, trace, cause = value
                    error = ShardError(f"{shard_name(i, shards[i], total)} failed: {message}", i, results)
                    error.add_note(f"in the worker process:\n{trace}")
                    raise error from cause
                results[i] = value
                _give(w, next(todo, None), shards, results)
                yield i
        for w in pool:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in pool:
            w.process.join(5)
    finally:
        _stop(pool)


def _give(w: _Worker[T], index: int | None, shards: Sequence[T], results: list[Any]) -> None:
    w.index = index
    if index is None:
        return
    try:
        w.conn.send((index, shards[index]))
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        name = shard_name(index, shards[index], len(shards))
        raise ShardError(f"{name} cannot be sent to a worker process: {_describe(err)}", index, results) from err


def _stop(pool: list[_Worker[T]]) -> None:
    """Kill every worker still running (Ctrl-C, an error), and wait for each so that none is left behind."""
    for w in pool:
        if w.process.is_alive():
            w.process.kill()  # SIGKILL: a worker deep in a shard does not look at its pipe
    for w in pool:
        w.process.join()
        w.conn.close()
        w.process.close()


def _exit_status(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _picklable(err: BaseException) -> BaseException | None:
    """`err` if it survives pickling (to chain it in the parent), else None (its text is sent anyway)."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return None
    return err


# ---------------------------------------------------------------------------------------- Dask


def solvent_version() -> str:
    """The installed solvent version (what a Dask worker reports before it is given shards)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("solvent")
    except PackageNotFoundError:
        return "unknown (not installed as a package)"


def _on_dask(shards: Sequence[T], fn: Callable[[T], R], address: str, results: list[Any]) -> Generator[int, None, None]:
    try:
        import distributed
    except ImportError as err:
        raise DistributeError(f"--scheduler needs dask.distributed: {err} (pip install 'dask[distributed]')") from None
    dask: Any = distributed  # untyped: one Any here rather than an ignore at each call
    try:
        client = dask.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, ValueError, TypeError) as err:
        raise DistributeError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    live: dict[str, Any] = {}  # key -> future, for the tasks submitted and not yet taken in
    total = len(shards)
    try:
        _check_workers(client, address)
        run = uuid.uuid4().hex[:12]  # keys unique per run: a scheduler shared by several runs keeps them apart
        # A window of tasks in flight, each carrying its shard: the scheduler holds a few shards at a time,
        # not the whole population once per scenario, and a task whose worker dies can be run again
        # elsewhere from its own data (a shard scattered to a worker would die with it).
        window = max(4, 2 * sum(client.nthreads().values()))
        todo = iter(range(total))
        position: dict[str, int] = {}
        ready = dask.as_completed(loop=client.loop)

        def submit(i: int) -> None:
            with warnings.catch_warnings():  # "Sending large graph": a shard is data, one at a time (see above)
                warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
                future = client.submit(fn, shards[i], key=f"solvent-stress-{run}-{i}", pure=False, retries=0)
            position[future.key] = i
            live[future.key] = future
            ready.add(future)

        for i in itertools.islice(todo, window):
            submit(i)
        for future in ready:
            i = position[future.key]
            try:
                results[i] = future.result()
            except Exception as err:
                name = shard_name(i, shards[i], total)
                if type(err).__name__ == "KilledWorker":
                    message = f"{name}: the Dask workers running it died ({err})"
                else:
                    message = f"{name} failed on the Dask cluster at {address}: {_describe(err)}"
                raise ShardError(message, i, results) from err
            del live[future.key]  # taken in: the worker may forget it
            following = next(todo, None)
            if following is not None:
                submit(following)
            yield i
    finally:
        if live:
            client.cancel(list(live.values()))  # Ctrl-C or an error: the cluster stops working for this run
        client.close()


def _check_workers(client: Any, address: str) -> None:
    """Every worker imports solvent, at the version here; else a `DistributeError` saying which differ."""
    mine = solvent_version()
    try:
        theirs: dict[str, str] = client.run(solvent_version)
    except Exception as err:
        raise DistributeError(
            f"the Dask workers at {address} cannot run solvent ({_describe(err)}); "
            f"install solvent {mine} in every worker's environment"
        ) from None
    if not theirs:
        raise DistributeError(f"the Dask scheduler at {address} has no workers (start some: `dask worker {address}`)")
    wrong = sorted(f"{w} has {v}" for w, v in theirs.items() if v != mine)
    if wrong:
        raise DistributeError(f"the Dask workers need solvent {mine}, as here: " + "; ".join(wrong))
