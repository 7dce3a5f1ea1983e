"""The solver portfolio: one query to several engines in separate processes, one deterministic answer.

Engines, in rank order: Z3 (`z3`: the work-bounded ladder of `checker.solve.nra` for
nonlinear real queries, Z3's default solver for the others), cvc5 (`cvc5`), and Z3's
nlsat behind a preprocessing pipeline (`z3-nlsat`; left out for queries with
integer terms, which it cannot take). Each runs in a long-lived worker process
(`checker.solve.worker`), so that a member can be stopped from outside: cvc5
and nlsat overrun their own resource limits, by tens of seconds or for good.

The choice: by default the portfolio is z3 + cvc5 (`MEMBERS`). Measured with
benchmarks/portfolio.py on the 30 queries of benchmarks/queries/ (the slowest
checker queries of the examples and of the generated tiered and multi-asset
specs), budget 100 M Z3 units, safety net 30 s, this 2-core machine shared
with another benchmark (load 3-4); results in benchmarks/results/portfolio.md:

    answered / 30   seconds   safety net
    z3 alone            21      171        0
    cvc5 alone          17      174        0
    z3-nlsat alone      18      192        3   (overran its rlimit: multi10_4, multi10_9, multi25_5)
    z3 + cvc5           25      179        1   (tiered250_8: z3 alone 6.7 s, not done in 30 s under load)
    z3 + cvc5 + nlsat   25      287        4   (an earlier run, load 4-5)

cvc5 answers five cross-margin queries Z3 cannot within the budget (multi10_6:
2.6 s) and two that Z3 takes 24 s for (multi10_4: 0.4 s). nlsat answered
nothing the other two did not: it is fastest on the tiered tables' sat
queries (tiered50_35: 0.18 s, Z3 4.8 s), but the rank rule below waits for
Z3's model anyway, and a third process on two cores slows the other two
(multi10_7: cvc5 2.1 s alone, 14.6 s in the three-member portfolio). It stays
available as `Portfolio(RANK)`. Options (worker.py): cvc5 with nl-cov=false
and logic ALL; nlsat after simplify, propagate-values, solve-eqs,
purify-arith, elim-term-ite, simplify, tseitin-cnf.

Calibration (`UNITS_PER_Z3_UNIT`): median resource units per second over the
runs that ran out of their limit (`benchmarks/portfolio.py --calibrate
--rlimit 30000000`): Z3 9.5 M/s (12 runs), cvc5 0.36 M/s (16 runs), nlsat
8.6 M/s (15 runs); so 0.038 cvc5 units per Z3 unit (0.052 in an earlier run
at 50 M, 0.045 with logic QF_NRA): 1/25; nlsat 0.9: 1. Per query the rates
spread tenfold (Z3 0.9-14.6 M/s, cvc5 0.05-0.7 M/s), so "the same time" holds
for the median only, and cvc5 stops late: up to 2.4 times its limit in units.

Cancelling: a killed worker is restarted on the next query; a cold start
costs 0.12-0.16 s to the first answer (5-20 ms warm). On 80 easy queries from
two bundled examples, Z3 alone took 4.4 s and the three-member portfolio
18.5 s (148 members killed): the portfolio is for the queries the checker's
cheap in-process try leaves, where a restart is small against the query.

The answer does not depend on which process was faster:

- `unsat` from any member wins at once;
- `sat` is taken from the highest-ranked member that answers sat: after a
  lower-ranked member's sat, the portfolio waits for the members above it
  (bounded by their resource limits and by the safety net), so the model
  reported is the same on a fast and a slow machine;
- when every member answers unknown, the answer is unknown with every reason.

Two definitive answers that differ (sat and unsat) mean a bug in an engine or
in the translation: `InternalError`. Members still running once the answer is
decided get a short grace (`CANCEL_GRACE`), then are killed.

Every member gets the same budget, converted from Z3 resource units into its
own. The wall clock (`wall`) is only a safety net: a member still running
when it fires is killed, and the answer says so (`PortfolioAnswer.safety_net`),
because that one answer may then depend on the machine. Members share the
cores, so the net must leave room for that (the one net above was load).

A member that is missing or dies is named in the answer's reason and in a
one-line warning (`Portfolio.warnings`); the other members answer the query.
`Portfolio` is not meant to be shared between threads (a lock serialises
`solve`). Worker processes die with the thread that started them (Linux
`PR_SET_PDEATHSIG`), so `solve` should be called from a long-lived thread.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from dsl.diagnostics import InternalError

RANK = ("z3", "cvc5", "z3-nlsat")  # whose model is reported when several answer sat
MEMBERS = ("z3", "cvc5")  # the default portfolio: see the docstring for why nlsat sits out

# Engine resource units per Z3 resource unit, so that every member stops after roughly the time Z3
# takes to spend its budget. Measured with benchmarks/portfolio.py --calibrate: see the docstring.
UNITS_PER_Z3_UNIT: Mapping[str, Fraction] = {
    "z3": Fraction(1),
    "z3-nlsat": Fraction(1),
    "cvc5": Fraction(1, 25),  # cvc5's resource units (rlimit-per) per Z3 unit
}

# Once the answer is decided, members still running get this long (at most as long as the query took so
# far) to finish before they are killed: killing costs a restart (measured: see the docstring).
CANCEL_GRACE = Fraction(1, 10)

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory that holds `checker`


@dataclass(frozen=True, slots=True)
class EngineRun:
    """What one member did on one query (for the benchmark and for `--verbose` reports)."""

    engine: str
    status: str  # "sat", "unsat" or "unknown"
    seconds: float  # wall-clock, from sending the query to the answer; never used for a verdict
    reason: str  # why unknown; "" for sat and unsat
    rlimit_used: int | None = None  # the engine's own resource units spent, when it says


@dataclass(frozen=True, slots=True)
class PortfolioAnswer:
    """The portfolio's answer to one query."""

    status: str  # "sat", "unsat" or "unknown"
    reason: str  # for unknown: every member's reason, "z3: ...; cvc5: ..."
    engine: str  # the member whose answer this is; "" for unknown
    values: dict[str, Fraction | bool] = field(default_factory=dict)  # for sat: declared constants, exact
    approx: dict[str, str] = field(default_factory=dict)  # for sat: irrational values, as decimals
    safety_net: bool = False  # did the wall clock stop a member (so the answer may depend on the machine)?
    runs: tuple[EngineRun, ...] = ()


def safety_net_reason(engine: str, wall: float | Fraction) -> str:
    """What an unknown says when the clock, not the work limit, stopped `engine`."""
    return f"{engine}: stopped by the wall-clock safety net after {float(wall):g} s"


def _tagged(engine: str, reason: str) -> str:
    """`reason` prefixed with the member's name once (the worker may already have named its engine)."""
    for tag in (engine, engine.removeprefix("z3-")):
        if reason.startswith(tag + ":"):
            return f"{engine}:{reason[len(tag) + 1 :]}"
        if reason.startswith(tag + " "):
            return reason
    return f"{engine}: {reason}" if reason else f"{engine}: no reason given"


class _Member:
    """One engine's worker process and the state of the query it is working on."""

    def __init__(self, engine: str, argv: Sequence[str]) -> None:
        self.engine = engine
        self.argv = list(argv)
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self.answered = False  # has this process answered a request (so it did start)?
        self.unavailable = ""  # why this member cannot run at all (it failed before answering anything)
        # per query
        self.outgoing = memoryview(b"")
        self.sent = 0
        self.incoming = bytearray()

    def start(self) -> None:
        env = dict(os.environ)
        # `-m checker.solve.worker` must import this very package, whatever the caller's directory.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        if self.stderr is not None:
            self.stderr.close()
        # Lives as long as the worker: its last line explains a crash.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env, bufsize=0
        )
        assert self.process.stdin is not None
        os.set_blocking(self.process.stdin.fileno(), False)
        self.answered = False

    def kill(self) -> int | None:
        """Kill the process (if any) and reap it; its exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        status = process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return status

    def stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        lines = [line for line in self.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        self.stderr.close()
        self.stderr = None
        return lines[-1].strip() if lines else ""


class Portfolio:
    """Long-lived worker processes, one per engine, answering queries together.

    `engines` names the members (default: `MEMBERS`), ranked by `RANK` whatever their order;
    `commands` replaces a member's command line (tests inject fake workers that way).
    """

    def __init__(self, engines: Sequence[str] = MEMBERS, commands: Mapping[str, Sequence[str]] | None = None) -> None:
        commands = commands or {}
        # The rank is fixed whatever order the caller lists the engines in (unknown names rank last).
        ranked = sorted(engines, key=lambda e: RANK.index(e) if e in RANK else len(RANK))
        self._members = [_Member(e, commands.get(e, [sys.executable, "-m", "checker.solve.worker", e])) for e in ranked]
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._at_exit = False

    def pids(self) -> list[int]:
        """The process ids of the running workers (for tests)."""
        return [m.process.pid for m in self._members if m.process is not None]

    def close(self) -> None:
        """Kill every worker. The portfolio can still be used: workers restart on the next query."""
        for member in self._members:
            member.kill()
            if member.stderr is not None:
                member.stderr.close()
                member.stderr = None
        atexit.unregister(self.close)
        self._at_exit = False

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def solve(self, smt2: str, rlimit: int, wall: float | Fraction, seed: int, integers: bool) -> PortfolioAnswer:
        """Is the query `smt2` satisfiable? Every member works on it at once; see the module docstring.

        `rlimit` is the budget in Z3 resource units, `wall` the safety net in seconds, `integers`
        whether the query has integer terms (then nlsat sits out).
        """
        members = [m for m in self._members if not (integers and m.engine == "z3-nlsat")]
        with self._lock:
            if not self._at_exit:
                atexit.register(self.close)  # no worker outlives the program, even without close()
                self._at_exit = True
            try:
                return _Query(self, members, smt2, rlimit, Fraction(wall), seed).run()
            except BaseException:
                # Ctrl-C or a bug: leave no worker behind, not even an idle one.
                for member in self._members:
                    member.kill()
                raise


class _Query:
    """One query's round trip through the members."""

    def __init__(
        self, portfolio: Portfolio, members: list[_Member], smt2: str, rlimit: int, wall: Fraction, seed: int
    ) -> None:
        self.portfolio = portfolio
        self.members = members
        self.order = [m.engine for m in members]
        self.smt2 = smt2
        self.rlimit = rlimit
        self.wall = wall
        self.seed = seed
        self.answers: dict[str, dict[str, Any]] = {}
        self.seconds: dict[str, float] = {}
        self.safety_net = False

    def run(self) -> PortfolioAnswer:
        start = time.monotonic()
        deadline = start + float(self.wall)
        with selectors.DefaultSelector() as selector:
            for member in self.members:
                self._send(member, selector)
            decided = self._decide()
            while decided is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._safety_net(selector, start)
                    decided = self._decide()
                    break
                self._pump(selector, remaining, start)
                decided = self._decide()
            # The members still running may be about to answer: a moment's grace is cheaper than a
            # restart (see the docstring), and an answer that arrives is checked for disagreement.
            now = time.monotonic()
            grace_end = min(now + min(now - start, float(CANCEL_GRACE)), deadline)
            while len(self.answers) < len(self.members) and (remaining := grace_end - time.monotonic()) > 0:
                self._pump(selector, remaining, start)
                self._decide()
        for member in self.members:
            if member.engine not in self.answers:
                # Decided without it: stop its work (a restart costs less than a query left running).
                member.kill()
                self.seconds[member.engine] = time.monotonic() - start
                self.answers[member.engine] = _unknown(f"cancelled: {decided or 'another member'} answered first")
        return self._answer(decided)

    # --- talking to the members --------------------------------------------------------------------

    def _pump(self, selector: selectors.BaseSelector, timeout: float, start: float) -> None:
        """Wait up to `timeout` seconds for the members' pipes, and move what is ready."""
        for key, events in selector.select(timeout):
            member = key.data
            if member.engine in self.answers or member.process is None:
                continue  # its other pipe's event, in this batch, ended it
            if events & selectors.EVENT_WRITE:
                self._write(member, selector)
            if events & selectors.EVENT_READ:
                self._read(member, selector, start)

    def _send(self, member: _Member, selector: selectors.BaseSelector) -> None:
        if member.unavailable:
            self._record(member, _unknown(member.unavailable), 0.0)
            return
        if member.process is None or member.process.poll() is not None:
            member.kill()
            try:
                member.start()
            except OSError as e:
                self._gone(member, f"cannot be started ({e})", 0.0, permanent=True)
                return
        assert member.process is not None and member.process.stdin and member.process.stdout
        units = UNITS_PER_Z3_UNIT.get(member.engine, Fraction(1))
        request = {"smt2": self.smt2, "rlimit": max(1, int(self.rlimit * units)), "seed": self.seed}
        member.outgoing = memoryview(json.dumps(request).encode() + b"\n")
        member.sent = 0
        member.incoming = bytearray()
        # Writes are non-blocking and driven by the selector: a member that does not read its
        # input (busy, or broken) must not hold up the others.
        selector.register(member.process.stdin, selectors.EVENT_WRITE, member)
        selector.register(member.process.stdout, selectors.EVENT_READ, member)

    def _write(self, member: _Member, selector: selectors.BaseSelector) -> None:
        assert member.process is not None and member.process.stdin is not None
        try:
            member.sent += os.write(member.process.stdin.fileno(), member.outgoing[member.sent :])
        except BlockingIOError:
            return
        except OSError:  # the worker is gone (EPIPE): reading its stdout will say so
            member.sent = len(member.outgoing)
        if member.sent == len(member.outgoing):
            selector.unregister(member.process.stdin)

    def _read(self, member: _Member, selector: selectors.BaseSelector, start: float) -> None:
        assert member.process is not None and member.process.stdout is not None
        chunk = os.read(member.process.stdout.fileno(), 1 << 16)
        if not chunk:
            self._unregister(member, selector)
            status = member.kill()
            tail = member.stderr_tail()
            detail = f"its worker exited with status {status}" + (f": {tail}" if tail else "")
            # A worker that never answered and exited by itself could not start at all (no such
            # module, a broken install): do not try it again. A crash on a query (a signal) may be
            # that query's alone: restart it for the next one.
            permanent = not member.answered and status is not None and status >= 0
            self._gone(member, detail, time.monotonic() - start, permanent)
            return
        member.incoming += chunk
        if b"\n" not in member.incoming:
            return
        line = bytes(member.incoming).split(b"\n", 1)[0]
        self._unregister(member, selector)
        try:
            answer = json.loads(line)
            if answer.get("status") not in ("sat", "unsat", "unknown"):
                raise ValueError(f"no status in {line[:200]!r}")
        except ValueError as e:
            member.kill()
            self._gone(member, f"answered something that is not an answer ({e})", time.monotonic() - start, False)
            return
        member.answered = True
        reason = str(answer.get("reason", ""))
        if reason.startswith(f"{member.engine} is not installed"):
            member.unavailable = reason
            self.portfolio._warn(f"solver portfolio: {reason}; the other engines answer without it")
        self._record(member, answer, time.monotonic() - start)

    def _unregister(self, member: _Member, selector: selectors.BaseSelector) -> None:
        assert member.process is not None
        for pipe in (member.process.stdin, member.process.stdout):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(pipe)  # type: ignore[arg-type]

    def _gone(self, member: _Member, detail: str, seconds: float, permanent: bool) -> None:
        reason = f"{member.engine} is unavailable: {detail}"
        if permanent:
            member.unavailable = reason
        self.portfolio._warn(f"solver portfolio: {reason}; the other engines answer without it")
        self._record(member, _unknown(reason), seconds)

    def _record(self, member: _Member, answer: dict[str, Any], seconds: float) -> None:
        self.answers[member.engine] = answer
        self.seconds[member.engine] = seconds

    def _safety_net(self, selector: selectors.BaseSelector, start: float) -> None:
        for member in self.members:
            if member.engine not in self.answers:
                self._unregister(member, selector)
                member.kill()
                self.safety_net = True
                reason = safety_net_reason(member.engine, self.wall)
                self._record(member, _unknown(reason), time.monotonic() - start)

    # --- deciding ---------------------------------------------------------------------------------

    def _decide(self) -> str | None:
        """The member whose answer is the portfolio's, "" for unknown, or None to keep waiting."""
        statuses = {e: a["status"] for e, a in self.answers.items()}
        sat = [e for e in self.order if statuses.get(e) == "sat"]
        unsat = [e for e in self.order if statuses.get(e) == "unsat"]
        if sat and unsat:
            answers = "; ".join(f"{e}: {json.dumps(self.answers[e])[:500]}" for e in (*sat, *unsat))
            raise InternalError(
                f"the solvers disagree on one query: {', '.join(sat)} answered sat, {', '.join(unsat)} answered "
                f"unsat ({answers})"
            )
        if unsat:
            return unsat[0]
        for engine in self.order:
            if engine not in statuses:
                return None  # a higher-ranked member may still answer sat (or unsat)
            if statuses[engine] == "sat":
                return engine
        return ""

    def _answer(self, decided: str | None) -> PortfolioAnswer:
        runs = tuple(
            EngineRun(
                e,
                a["status"],
                round(self.seconds[e], 6),
                _tagged(e, str(a.get("reason", ""))) if a["status"] == "unknown" else "",
                a.get("rlimit_used"),
            )
            for e, a in ((e, self.answers[e]) for e in self.order)
        )
        if not decided:
            reason = "; ".join(run.reason for run in runs) or "no solver engine to ask"
            return PortfolioAnswer("unknown", reason, "", {}, {}, self.safety_net, runs)
        answer = self.answers[decided]
        if answer["status"] == "unsat":
            return PortfolioAnswer("unsat", "", decided, {}, {}, self.safety_net, runs)
        values: dict[str, Fraction | bool] = {}
        approx: dict[str, str] = {}
        for name, value in (answer.get("values") or {}).items():
            if isinstance(value, dict):
                approx[name] = str(value["approx"])
            elif value in ("true", "false"):
                values[name] = value == "true"
            else:
                values[name] = Fraction(value)
        return PortfolioAnswer("sat", "", decided, values, approx, self.safety_net, runs)


def _unknown(reason: str) -> dict[str, Any]:
    return {"status": "unknown", "reason": reason, "values": None}


_shared: dict[tuple[str, ...], Portfolio] = {}


def shared(engines: Sequence[str] = MEMBERS) -> Portfolio:
    """The process's portfolio of `engines` (in rank order), created on first use."""
    key = tuple(engines)
    if key not in _shared:
        _shared[key] = Portfolio(key)
    return _shared[key]


def shutdown() -> None:
    """Kill the shared portfolios' workers (they restart if a portfolio is used again)."""
    for portfolio in _shared.values():
        portfolio.close()
