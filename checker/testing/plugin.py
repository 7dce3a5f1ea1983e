"""A pytest plugin: `*.margin` specs collected as tests, one test item per check result.

Installed with solvent (the `pytest11` entry point `solvent`) and inert until a
project opts in, with `solvent_specs = true` in its pytest ini options (or
`--solvent` on the command line): until then it only declares its options and
compares each collected file's suffix with `.margin`, and imports nothing else
of solvent's (no Z3, no Lark). `-p no:solvent` turns it off altogether.

Opted in, each `*.margin` file pytest collects is checked once, at collection,
with the options and baseline of `[tool.solvent]` in the pyproject.toml nearest
pytest's rootdir (as `solvent check` would run it; `jobs` is `solvent_jobs`), and
gives one item per result, named as in JUnit (the check's line-free name, e.g.
`gap-safety: move`), so that a node id survives moved lines:

- PROVED passes; SKIPPED is skipped with its reason;
- VIOLATED fails with the reason and the counterexample, one value per line,
  unless the baseline accepts it (checker/report/baseline.py): then xfail,
  with the entry's reason;
- UNKNOWN fails, or is skipped or xfailed (`solvent_unknown` / `--solvent-unknown`);
- a stale baseline entry is an item too: skipped, or failed with `fail-stale`;
- a spec that does not compile is a collection error showing the diagnostics
  (no traceback), and a spec where nothing was checked a failing item.

The session's header line names solvent's and the engines' versions, the work
limit and the engines, as every report does (`tool`).

Under pytest-xdist every worker collects every file; the controller gives the
workers a private directory in which the first worker to reach a spec checks it
and leaves the results, under a lock, for the others to read: each spec is
checked once per run however many workers there are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from checker.cache import Cache
    from checker.core.results import CheckResult
    from checker.report.baseline import Stale
    from checker.report.render import SpecReport

UNKNOWN_POLICIES = ("fail", "skip", "xfail")


def pytest_addoption(parser: pytest.Parser) -> None:
    """The opt-in switch and what an UNKNOWN verdict does."""
    group = parser.getgroup("solvent", "solvent: *.margin specs as tests")
    group.addoption(
        "--solvent", action="store_true", default=False, help="collect *.margin files as tests (solvent_specs = true)"
    )
    group.addoption(
        "--solvent-unknown",
        choices=UNKNOWN_POLICIES,
        default=None,
        help="what an UNKNOWN verdict does: fail (default), skip or xfail",
    )
    parser.addini("solvent_specs", "collect *.margin files as tests, one item per check result", type="bool")
    parser.addini("solvent_unknown", "what an UNKNOWN verdict does: fail (default), skip or xfail", default="fail")
    parser.addini("solvent_jobs", "worker processes per spec (solvent check --jobs; default 1)", default="1")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("solvent") or config.getini("solvent_specs"))


_SETUP = pytest.StashKey["_Setup"]()


class _Setup:
    """What every spec of the session is checked with: `[tool.solvent]`, the baseline, the plugin's options."""

    def __init__(self, config: pytest.Config) -> None:
        from checker.cli_check import check_settings
        from checker.report.baseline import for_run

        start = config.rootpath
        args, self.options = check_settings(start)
        self.only: tuple[str, ...] = tuple(args.only)
        self.fail_stale: bool = args.fail_stale
        self.baseline = for_run(args.baseline, None, start)
        unknown = config.getoption("solvent_unknown") or config.getini("solvent_unknown")
        if unknown not in UNKNOWN_POLICIES:
            raise pytest.UsageError(f"solvent_unknown = {unknown!r}: choose one of {', '.join(UNKNOWN_POLICIES)}")
        self.unknown: str = unknown
        jobs = str(config.getini("solvent_jobs"))
        if not jobs.isdigit() or int(jobs) < 1:
            raise pytest.UsageError(f"solvent_jobs = {jobs!r}: a positive whole number")
        # Under xdist the workers are the parallelism: one process each.
        self.jobs = 1 if hasattr(config, "workerinput") else int(jobs)
        self.shared: Path | None = None
        if hasattr(config, "workerinput"):
            folder = config.workerinput.get("solvent_cache")
            self.shared = Path(folder) if folder else None
        self.made: Path | None = None  # the controller's shared directory, removed at the end
        self.cache: Cache | None = None  # `cache` in [tool.solvent]: results kept between sessions (checker.cache)
        if args.cache:
            from checker.cache import Cache

            self.cache = Cache(Path(args.cache), self.options, self.only, _warn)


def pytest_configure(config: pytest.Config) -> None:
    """Read the settings and the baseline once, when opted in: a bad one stops the session, located."""
    if not _enabled(config):
        return
    from dsl.diagnostics import SpecError

    try:
        config.stash[_SETUP] = _Setup(config)
    except SpecError as err:
        raise pytest.UsageError(f"solvent settings or baseline:\n{err.render()}") from None
    except ValueError as err:
        raise pytest.UsageError(f"solvent: {err}") from None
    for entry in config.stash[_SETUP].baseline.entries:  # in no spec's items: said once, here
        if not entry.spec.exists():
            message = f"solvent: stale baseline entry at {entry.where} ({entry.name}): the spec does not exist"
            config.issue_config_time_warning(pytest.PytestWarning(message), stacklevel=2)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Opted in: what checks the specs (solvent's and the engines' versions, the work limit, the engines)."""
    setup = config.stash.get(_SETUP, None)
    if setup is None:
        return None
    from checker import version
    from checker.solve import engines_said

    options = setup.options
    return f"solvent {version()} ({engines_said()}): rlimit {options.rlimit:,}, engines {', '.join(options.engines)}"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the controller: a private directory the workers share results in (removed at the end)."""
    setup = node.config.stash.get(_SETUP, None)
    if setup is None:
        return
    if setup.made is None:
        import tempfile

        setup.made = Path(tempfile.mkdtemp(prefix="solvent-pytest-"))  # mode 0700: only this user reads it
    node.workerinput["solvent_cache"] = str(setup.made)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the directory the xdist workers shared."""
    setup = config.stash.get(_SETUP, None)
    if setup is not None and setup.made is not None:
        import shutil

        shutil.rmtree(setup.made, ignore_errors=True)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A `*.margin` file, when the project opted in."""
    if file_path.suffix != ".margin" or _SETUP not in parent.config.stash:
        return None
    spec: SpecFile = SpecFile.from_parent(parent, path=file_path)
    return spec


class SpecProblem(Exception):
    """A spec that cannot give items (it does not compile, or solvent hit a bug): shown as it is, no traceback."""


class SpecFile(pytest.File):
    """One spec: checked once, at collection, into one item per result."""

    def collect(self) -> list[pytest.Item]:
        """Check the spec (or read a worker's results) and make its items."""
        from checker.report.baseline import apply_baseline
        from checker.report.render import junit_names, nothing_checked

        setup = self.config.stash[_SETUP]
        report = _checked(self.path, setup)
        if report.error is not None:
            raise SpecProblem(f"{report.path}: the spec does not compile\n\n{report.error}")
        if report.bug is not None:
            raise SpecProblem(f"{report.path}: {report.bug}")
        if not setup.only:  # with `only`, a spec without the chosen checks is normal (the CLI asks it of the run)
            nothing_checked([report], setup.only)
        apply_baseline([report], setup.baseline, setup.only, setup.fail_stale)
        items: list[pytest.Item] = []
        for result, name in zip(report.results, junit_names(report.results), strict=True):
            items.append(ResultItem.from_parent(self, name=name.replace("::", ": :"), result=result))
        for stale in report.stale:
            items.append(StaleItem.from_parent(self, name=f"stale baseline entry: {stale.entry.name}", stale=stale))
        if report.unchecked is not None:
            items.append(NothingChecked.from_parent(self, name="nothing checked", why=report.unchecked))
        return items

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        """A spec's own problem as solvent prints it; anything else as pytest would."""
        if isinstance(excinfo.value, SpecProblem):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class CheckFailed(Exception):
    """A VIOLATED (or, under `fail`, UNKNOWN) result: its text is the whole failure report."""


class ResultItem(pytest.Item):
    """One check result of a spec; running it replays the verdict found at collection."""

    def __init__(self, *, result: CheckResult, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result

    def runtest(self) -> None:
        """Pass, fail, skip or xfail as the verdict (and the baseline, and `solvent_unknown`) says."""
        from checker.core.results import Verdict

        r = self.result
        if r.verdict is Verdict.PROVED:
            return
        if r.verdict is Verdict.SKIPPED:
            _skip(r.reason or "skipped")
        if r.verdict is Verdict.VIOLATED:
            if r.accepted is not None:
                pytest.xfail(f"accepted ({r.accepted.where}): {r.accepted.reason}")
            raise CheckFailed(failure_text(r))
        policy = self.config.stash[_SETUP].unknown
        if policy == "skip":
            _skip(f"UNKNOWN: {r.reason}")
        if policy == "xfail":
            pytest.xfail(f"UNKNOWN: {r.reason}")
        raise CheckFailed(failure_text(r))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The verdict, the reason and the counterexample; not a traceback into solvent."""
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int, str]:
        """The spec and the line of the construct the result is about (pytest counts lines from 0)."""
        line = _line(self.result.where)
        return self.path, 0 if line is None else line - 1, f"{self.path.name}: {self.name}"


class StaleItem(pytest.Item):
    """A baseline entry for this spec that matched no violation: skipped, or a failure with `fail-stale`."""

    def __init__(self, *, stale: Stale, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stale = stale

    def runtest(self) -> None:
        """Skip with the message, or fail with it (`fail-stale`)."""
        if self.stale.fails:
            raise CheckFailed(self.stale.message())
        _skip(self.stale.message())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The entry and why it is stale."""
        return str(excinfo.value) if isinstance(excinfo.value, CheckFailed) else super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int, str]:
        """The spec the entry is about."""
        return self.path, 0, f"{self.path.name}: {self.name}"


class NothingChecked(pytest.Item):
    """A spec in which every check was skipped or held vacuously: a failure, as `solvent check` exits 2."""

    def __init__(self, *, why: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.why = why

    def runtest(self) -> None:
        """Always fails: a spec that checks nothing is almost never the file that was meant."""
        raise CheckFailed(f"nothing was checked: {self.why}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """Why nothing was checked."""
        return str(excinfo.value) if isinstance(excinfo.value, CheckFailed) else super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int, str]:
        """The spec."""
        return self.path, 0, f"{self.path.name}: nothing checked"


def failure_text(result: CheckResult) -> str:
    """A failing result for a person: verdict, name, place, reason, then the counterexample one value per line."""
    import dataclasses

    from checker.core.results import show
    from checker.report.render import counterexample_table
    from checker.report.text import printable

    lines = [f"{result.verdict.value} {result.name}" + (f" ({result.where})" if result.where else "")]
    if result.reason:
        lines.append(result.reason)
    cex = result.counterexample
    if cex is not None:
        if cex.params:
            lines.append("parameters:")
            lines += [f"    {name} = {show(value)}" for name, value in cex.params.items()]
        lines += counterexample_table(dataclasses.replace(cex, params={}), "")
    return printable("\n".join(lines))


def _skip(reason: str) -> None:
    """Skip, reported at the spec (the item's `reportinfo`), as pytest's own skip marks are, not at this module."""
    skipped = pytest.skip.Exception(reason)
    skipped._use_item_location = True
    raise skipped


def _line(where: str) -> int | None:
    _, _, rest = where.rpartition(".margin:")
    line = rest.partition(":")[0]
    return int(line) if line.isdigit() else None


# ---------------------------------------------------------------------------------------- checking


def _warn(message: str) -> None:
    """A warning of the result cache (damaged entry, unwritable directory), as pytest shows warnings."""
    import warnings

    warnings.warn(message, pytest.PytestWarning, stacklevel=2)


def _checked(path: Path, setup: _Setup) -> SpecReport:
    """The report of `path` (before the baseline): from the xdist workers' shared directory, or checked here."""
    if setup.shared is None:
        return _check(path, setup)
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): each worker checks for itself
        return _check(path, setup)
    import hashlib
    import pickle

    data = path.read_bytes() if path.is_file() else b""
    key = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass") + b"\0" + data).hexdigest()[:32]
    done = setup.shared / f"{key}.pickle"
    with open(setup.shared / f"{key}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker checks; the others wait here, then read
        try:
            if done.exists():
                # Written by a worker of this run into the controller's private (0700) directory.
                with open(done, "rb") as f:
                    report: SpecReport = pickle.load(f)
                return report
            report = _check(path, setup)
            partial = done.with_suffix(".partial")
            with open(partial, "wb") as f:
                pickle.dump(report, f)
            partial.replace(done)
            return report
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check(path: Path, setup: _Setup) -> SpecReport:
    """Check one spec as `solvent check` would (the same `Run`, in-process for one job)."""
    from contextlib import closing

    from checker.parallel import Run
    from checker.solve import configure

    configure(setup.options.seed)
    shown = Path(os.path.relpath(path)) if path.is_absolute() else path
    run = Run([shown], setup.options, setup.only, setup.jobs, cache=setup.cache)
    with closing(run.events()) as events:
        for _ in events:
            pass
    report = run.reports[0]
    assert report is not None
    return report
