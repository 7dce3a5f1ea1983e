"""Checking many specs, and the checks within a spec, in worker processes (`solvent check --jobs N`).

Takes the spec files, the options, `--only` and a number of jobs; produces one
`SpecReport` per file, each exactly what the sequential `checker.run.run_checks`
gives (same results, same order, same names), whatever the number of jobs.

A unit of work is one single-state check of one spec (an entry of
`checker.checks.SINGLE_STATE`) or, once all of a spec's single-state units are
in, its model-checking phase, which needs the ids they left unproved. Workers
load each spec themselves (cached per process), build their own `Context` and
send back plain `CheckResult`s; the parent puts each spec's results together
in catalogue order, then the model checker's. Ready model-checking units go
before single-state ones, so that specs finish roughly in file order and the
progress lines of a long run keep coming.

Workers are started with "spawn": a forked Z3 (locks, its own threads) is not
safe, and "forkserver" saved only about 0.1 s of start-up in measurements while
adding a long-lived server process. Starting a worker costs about a second, so
the first second of units runs in-process and a run over by then (most runs of
one small spec, most tests) never starts a pool. `jobs == 1` (or work that
cannot use more than one process) runs in-process with `run_checks`, with no
pool and no units, as `solvent check` always did.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import os
import re
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from checker.cache import Cache
from checker.checks import SINGLE_STATE
from checker.core.context import Context
from checker.core.options import Options
from checker.core.results import CheckResult, Verdict
from checker.report.render import SpecReport
from checker.signals import sigint_held
from checker.solve import configure
from dsl import Spec
from dsl.diagnostics import InternalError, SpecError

_CHECKS = dict(SINGLE_STATE)
_ORDER = {check_id: i for i, (check_id, _) in enumerate(SINGLE_STATE)}


@dataclass(frozen=True, slots=True)
class Finished:
    """A spec whose report is complete: `index` into the files; `at_load`: its error came from loading it."""

    index: int
    at_load: bool = False


@dataclass(frozen=True, slots=True)
class Unit:
    """One piece of work: a single-state check of a spec, or (`check` None) its model-checking phase."""

    spec: int
    path: Path
    check: str | None
    only: tuple[str, ...] = ()
    unproved: frozenset[str] = frozenset()  # for the model checker: single-state ids VIOLATED or UNKNOWN
    seen: tuple[tuple[str, int], ...] = ()  # for the model checker: result names given before it


@dataclass(frozen=True, slots=True)
class Done:
    """What a worker sends back for one unit (errors rendered: `SpecError` does not pickle)."""

    title: str = ""
    results: tuple[CheckResult, ...] = ()
    seen: tuple[tuple[str, int], ...] = ()  # `Context.seen` after the unit: how often each name was asked
    load_error: str | None = None
    error: str | None = None
    bug: str | None = None
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return self.load_error is None and self.error is None and self.bug is None


# ---------------------------------------------------------------------------------------- in a worker

_options: Options | None = None
_specs: OrderedDict[tuple[object, ...], Spec | SpecError] = OrderedDict()
_CACHED_SPECS = 4  # units come roughly spec by spec: a few specs per process are enough


def start_worker(options: Options, recursion_limit: int) -> None:
    """Set up a worker process: the options, Z3's seeds, the parent's recursion limit."""
    global _options
    # The parent handles Ctrl-C and terminates the workers; a worker raising KeyboardInterrupt while
    # it waits for work would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setrecursionlimit(recursion_limit)
    configure(options.seed)
    _options = options


def _load(path: Path) -> Spec:
    import dsl

    try:  # the file as it is now: an in-process cache outlives a run (tests rewrite files in place)
        stat = path.stat()
        # The path as given too: the spec's source keeps it, and reports show it (`tests/x.margin` and
        # its absolute path are one file but two spellings; test_jobs after test_cli saw the other one).
        key: tuple[object, ...] = (path.resolve(), str(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (path,)  # dsl.load reports the error
    if key not in _specs:
        try:
            _specs[key] = dsl.load(path)
        except SpecError as err:
            _specs[key] = err
        while len(_specs) > _CACHED_SPECS:
            _specs.popitem(last=False)
    _specs.move_to_end(key)
    found = _specs[key]
    if isinstance(found, SpecError):
        raise found
    return found


def run_unit(unit: Unit, options: Options | None = None) -> Done:
    """Run one unit (in a worker, or in-process when `options` is given) and collect its results."""
    options = options or _options
    assert options is not None, "start_worker was not called"
    start = time.perf_counter()
    try:
        spec = _load(unit.path)
    except SpecError as err:
        return Done(load_error=err.render(), seconds=time.perf_counter() - start)
    title = spec.program.title
    results: list[CheckResult] = []
    try:
        from checker.run import counted, marked, synthesized  # the same passes as a sequential run

        cx = Context(spec, options)
        cx.fresh_session()  # as `checker.run` starts each unit: after the Context's own queries (pins)
        if unit.check is None:
            cx.seen.update(unit.seen)
            results.extend(counted(spec.program, r) for r in marked(cx, _model_check(cx, unit.unproved, unit.only)))
        else:
            results.extend(counted(spec.program, synthesized(cx, r)) for r in marked(cx, _CHECKS[unit.check](cx)))
    except InternalError as err:  # the results before the bug are kept, as in a sequential run
        return Done(title, tuple(results), bug=str(err), seconds=time.perf_counter() - start)
    except SpecError as err:  # found while building the engine (e.g. nesting too deep for CPython)
        return Done(title, error=err.render(), seconds=time.perf_counter() - start)
    seen = tuple(cx.seen.items())
    return Done(title, tuple(results), seen, seconds=time.perf_counter() - start)


def _model_check(cx: Context, unproved: frozenset[str], only: Sequence[str]) -> Iterator[CheckResult]:
    """The model-checking phase exactly as `checker.run.run_checks` runs it."""
    from checker.mc.bmc import invariants
    from checker.mc.goals import reachable_goals

    reachable = reachable_goals(cx.program, set(unproved)) if cx.program.init else []
    if not only or "invariant" in only:
        yield from invariants(cx, reachable)
    elif reachable:
        yield from invariants(cx, reachable, own=False)


# ---------------------------------------------------------------------------------------- in the parent


@dataclass
class _Progress:
    """One spec's units in the parent: outcomes by catalogue position, and how far its report is built."""

    report: SpecReport
    outcomes: dict[int, Done] = field(default_factory=dict)
    used: int = 0  # outcomes already in the report (a prefix: results keep catalogue order)
    seen: dict[str, int] = field(default_factory=dict)  # names given by the checks in the report so far
    unproved: set[str] = field(default_factory=set)
    phase: str = "single-state"  # then "model checking", then "done"


class Run:
    """Check `files` with up to `jobs` processes; `events()` gives each spec as it finishes.

    `reports` holds one entry per file (None until its first result): after Ctrl-C, `so_far()`
    gives the specs finished and the results of unfinished ones up to the first missing check.
    `on_progress` is called with a short text ("path: check") whenever something is done. With
    `jobs` > 1, units run in-process for the first `in_process_for` seconds (see `_in_pool`), and a
    spec's `seconds` is the time its units took, added up, wherever they ran.
    """

    def __init__(
        self,
        files: Sequence[Path],
        options: Options,
        only: Sequence[str],
        jobs: int,
        on_progress: Callable[[str], None] = lambda text: None,
        in_process_for: float = 1.0,
        cache: Cache | None = None,
    ) -> None:
        self.files = list(files)
        self.options = options
        self.only = tuple(only)
        self.on_progress = on_progress
        self.in_process_for = in_process_for  # seconds of in-process work before a pool is worth starting
        self.checks = [cid for cid, _ in SINGLE_STATE if not only or cid in only]
        # No more workers than units that can ever run at once (a model-checking unit waits for its spec's
        # single-state units); with one, a pool would only add its start-up time.
        self.jobs = max(1, min(jobs, len(self.files) * max(len(self.checks), 1)))
        self.reports: list[SpecReport | None] = [None] * len(self.files)
        self._progress = [_Progress(SpecReport(str(p))) for p in self.files]
        self.cache = cache
        self._cached: dict[int, SpecReport] = {}  # specs whose report came from the cache, by index
        self._keys: dict[int, str | None] = {}  # each spec's cache key, taken before it is checked

    def events(self) -> Generator[Finished, None, None]:
        """Each spec as it finishes; close the generator to stop early (it then stops the workers).

        With a cache, the specs it holds come first, unchecked; the others are checked and kept in it.
        """
        if self.cache is None:
            return self._in_process() if self.jobs == 1 else self._in_pool()
        for i, path in enumerate(self.files):
            start = time.perf_counter()
            key = self._keys[i] = self.cache.key_of(path)
            found = self.cache.get(path, key) if key is not None else None
            if found is not None:
                title, results = found
                took = time.perf_counter() - start
                self._cached[i] = SpecReport(str(path), title, results, seconds=took, cached=True)
        return self._kept(self._in_process() if self.jobs == 1 else self._in_pool())

    def _kept(self, events: Generator[Finished, None, None]) -> Generator[Finished, None, None]:
        """The cached specs, then `events`, keeping each complete report checked now in the cache."""
        cache = self.cache
        assert cache is not None
        try:
            for i, cached in self._cached.items():
                self.reports[i] = cached
                self.on_progress(f"{cached.path}: from the cache")
                yield Finished(i)
            for event in events:
                done, key = self.reports[event.index], self._keys.get(event.index)
                complete = done is not None and not event.at_load and done.error is None and done.bug is None
                if complete and done is not None and key is not None:
                    cache.put(self.files[event.index], key, done.title, done.results)
                yield event
        finally:
            events.close()

    def so_far(self) -> list[SpecReport]:
        """The reports with something in them, in file order."""
        return [r for r in self.reports if r is not None]

    # -- jobs == 1: today's loop, unchanged

    def _in_process(self) -> Generator[Finished, None, None]:
        import dsl
        from checker.run import run_checks

        for i, path in enumerate(self.files):
            if i in self._cached:
                continue
            report = self.reports[i] = SpecReport(str(path))
            t0 = time.perf_counter()
            try:
                spec = dsl.load(path)
            except SpecError as err:
                report.error = err.render()
                yield Finished(i, at_load=True)
                continue
            report.title = spec.program.title
            try:
                for result in run_checks(spec, self.options, self.only):
                    report.results.append(result)
                    self.on_progress(f"{path}: {result.name}")
            except InternalError as err:  # a solvent bug: keep the other specs' results, fail loudly at the end
                report.bug = str(err)
            except SpecError as err:  # found while building the engine (e.g. nesting too deep for CPython)
                report.error = err.render()
                report.results.clear()
            report.seconds = time.perf_counter() - t0
            yield Finished(i)

    # -- jobs > 1

    def _in_pool(self) -> Generator[Finished, None, None]:
        ready = _Queue()
        for i, path in enumerate(self.files):
            if i in self._cached:
                continue
            for check in self.checks:
                ready.push(Unit(i, path, check, self.only))
            if not self.checks:  # `--only invariant`: the model checker at once
                ready.push(Unit(i, path, None, self.only))
                self._progress[i].phase = "model checking"
        # A worker takes about a second to start (Python, Z3, the grammar), more than many whole runs:
        # work in-process first, and start the pool only for a run still going after `in_process_for`.
        start = time.perf_counter()
        while ready and time.perf_counter() - start < self.in_process_for:
            unit = ready.pop()
            if self._progress[unit.spec].phase != "done":
                event = self._record(unit, run_unit(unit, self.options), ready)
                if event is not None:
                    yield event
        if not ready:
            return
        executor = ProcessPoolExecutor(
            self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker,
            initargs=(self.options, sys.getrecursionlimit()),
        )
        running: dict[Future[Done], Unit] = {}
        finished = False
        try:
            while ready or running:
                while ready and len(running) < self.jobs:
                    unit = ready.pop()
                    if self._progress[unit.spec].phase != "done":  # a spec that failed needs no more work
                        with sigint_held():
                            running[executor.submit(run_unit, unit)] = unit
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: _key(running[f])):
                    unit = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as err:
                        raise InternalError(f"a worker process died while checking {unit.path}: {err}") from None
                    event = self._record(unit, outcome, ready)
                    if event is not None:
                        yield event
            finished = True
        finally:
            if finished:
                executor.shutdown(wait=True)
            else:  # Ctrl-C, an error, or the consumer gave up: stop now, leaving no process behind
                _terminate(executor)

    def _record(self, unit: Unit, outcome: Done, ready: _Queue) -> Finished | None:
        """Take in one unit's outcome; a Finished when its spec is complete."""
        i = unit.spec
        progress, report = self._progress[i], self._progress[i].report
        if progress.phase == "done":
            return None
        self.reports[i] = report
        report.title = report.title or outcome.title
        report.seconds += outcome.seconds
        self.on_progress(f"{unit.path}: {unit.check or 'invariants'}")
        if outcome.load_error is not None:  # the same for every unit of the spec: it is finished
            report.error = outcome.load_error
            report.results.clear()
            progress.phase = "done"
            return Finished(i, at_load=True)
        if unit.check is None:
            return self._end(i, outcome)
        progress.outcomes[_ORDER[unit.check]] = outcome
        positions = sorted(_ORDER[c] for c in self.checks)
        while progress.used < len(positions) and positions[progress.used] in progress.outcomes:
            taken = progress.outcomes[positions[progress.used]]
            progress.used += 1
            report.results.extend(_renumber(taken.results, dict(taken.seen), progress.seen))
            for name, count in taken.seen:
                progress.seen[name] = progress.seen.get(name, 0) + count
            failed = [r for r in taken.results if r.verdict in (Verdict.VIOLATED, Verdict.UNKNOWN)]
            progress.unproved.update(r.id for r in failed)
            progress.unproved.update(r.name for r in failed)  # step properties follow up by result name
            if not taken.clean:
                return self._end(i, taken, extended=True)
        if progress.used < len(positions):
            return None
        if self.only and "invariant" not in self.only and not progress.unproved:
            progress.phase = "done"  # nothing for the model checker (`run_checks` would not call it)
            return Finished(i)
        progress.phase = "model checking"
        ready.push(Unit(i, unit.path, None, self.only, frozenset(progress.unproved), tuple(progress.seen.items())))
        return None

    def _end(self, i: int, outcome: Done, extended: bool = False) -> Finished:
        """Finish spec `i` with its last outcome (whose results are already in when `extended`)."""
        progress, report = self._progress[i], self._progress[i].report
        progress.phase = "done"
        if not extended:
            report.results.extend(outcome.results)
        if outcome.error is not None:
            report.error = outcome.error
            report.results.clear()
        elif outcome.bug is not None:
            report.bug = outcome.bug
        return Finished(i)


class _Queue:
    """Units ready to start, the next first: model-checking units (each finishes a spec), then file order."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple[int, int, int], Unit]] = []

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, unit: Unit) -> None:
        heapq.heappush(self._heap, (_key(unit), unit))

    def pop(self) -> Unit:
        return heapq.heappop(self._heap)[1]


def _key(unit: Unit) -> tuple[int, int, int]:
    """Unique per unit, so that the heap never compares two units."""
    return (0 if unit.check is None else 1, unit.spec, -1 if unit.check is None else _ORDER[unit.check])


_NUMBERED = re.compile(r"(?s)(.*) #(\d+)")


def _renumber(results: Sequence[CheckResult], mine: dict[str, int], before: dict[str, int]) -> list[CheckResult]:
    """Results of one check renamed as if its Context had first asked the names in `before`.

    `Context.ask` numbers a repeated name ("x #2") per Context; a check run on its own numbers from 1,
    where the sequential run, sharing one Context, would have counted the earlier checks' names too.
    """
    import dataclasses

    out = []
    for r in results:
        base, number = r.name, 1
        m = _NUMBERED.fullmatch(r.name)
        if r.name not in mine and m is not None and m.group(1) in mine:
            base, number = m.group(1), int(m.group(2))
        if base in mine and before.get(base, 0):
            number += before[base]
            r = dataclasses.replace(r, name=base if number == 1 else f"{base} #{number}")
        out.append(r)
    return out


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop the pool at once: cancel what has not started, kill the workers and whatever they started."""
    # ProcessPoolExecutor has no public way to stop running work before Python 3.14
    # (`terminate_workers`); its private `_processes` map is the only handle on the workers.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    doomed = [pid for p in processes if p.pid is not None for pid in _descendants(p.pid)]
    executor.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    for pid in doomed:  # e.g. solver processes a worker had started: they would outlive it
        with contextlib.suppress(OSError):  # already gone
            os.kill(pid, signal.SIGKILL)
    for p in processes:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()


def _descendants(pid: int) -> list[int]:
    """The processes below `pid` (read from /proc; none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo += children.get(child, [])
    return out
