"""How far a stress run has got: a progress bar on a terminal, a plain line now and then elsewhere.

`checker.stress.distribute.run_shards` calls `start(shards, account_steps)`,
then `advance(account_steps)` as each shard finishes, and `close()` at the end
(also after Ctrl-C or an error). On a terminal that draws a rich progress bar
(shards done / total, account-steps per second, time); in CI logs and pipes it
prints one line at most every `every` seconds

    stress: 12/40 shards, 3.1e7 account-steps, 41 s

and a final line (`done` or `stopped`). Everything goes to stderr by default, so
that a report written to stdout stays clean. Time is read here for display
only: no result depends on it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

Mode = Literal["auto", "bar", "lines"]


def count_text(n: float) -> str:
    """A count for people: exact below 100,000, else two significant digits (`3.1e7`)."""
    if n < 100_000:
        return str(int(n))
    mantissa, exponent = f"{n:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


class Progress:
    """The display of one run's progress (see the module docstring).

    `mode`: "bar" (rich), "lines" (plain), or "auto": a bar when `stream` is a terminal. `every`:
    seconds between plain lines. `clock`: seconds, monotonic (tests pass their own)."""

    def __init__(
        self,
        *,
        mode: Mode = "auto",
        stream: TextIO | None = None,
        every: float = 10.0,
        label: str = "stress",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if _is_terminal(self.stream) else "lines"
        self.mode: Mode = mode
        self.every = every
        self.label = label
        self.clock = clock
        self.total = 0
        self.total_work = 0
        self.done = 0
        self.work = 0
        self._start = 0.0
        self._last_line = 0.0
        self._bar: Any = None  # rich.progress.Progress while a bar is shown
        self._task: Any = None

    def start(self, shards: int, work: int) -> None:
        """A run of `shards` shards, `work` account-steps in all (0 when unknown), begins."""
        self.total, self.total_work, self.done, self.work = shards, work, 0, 0
        self._start = self._last_line = self.clock()
        if self.mode == "bar":
            self._start_bar()
        elif self.mode == "lines":  # a CI log says at once what is coming, not only after the first shard
            work_text = f", {count_text(work)} account-steps" if work else ""
            self._line(f"{self.label}: {shards} shard{'' if shards == 1 else 's'}{work_text}")

    def advance(self, work: int) -> None:
        """One more shard is done; it was `work` account-steps."""
        self.done += 1
        self.work += work
        now = self.clock()
        if self._bar is not None:
            self._bar.update(self._task, advance=1, rate=self._rate(now))
        elif self.mode == "lines" and now - self._last_line >= self.every and self.done < self.total:
            self._last_line = now
            self._line(f"{self.label}: {self.done}/{self.total} shards{self._work_text()}, {self._seconds(now)}")

    def close(self) -> None:
        """The run is over (finished, stopped by Ctrl-C, or failed): the final line, or the bar left as it is."""
        now = self.clock()
        if self._bar is not None:
            self._bar.update(self._task, rate=self._rate(now))
            self._bar.stop()
            self._bar = None
            if self.done < self.total:
                self._line(f"{self.label}: stopped at {self.done}/{self.total} shards")
            return
        if self.mode != "lines":
            return
        how = "done" if self.done >= self.total else "stopped"
        rate = self._rate(now)
        tail = f" ({rate})" if rate else ""
        self._line(
            f"{self.label}: {how}, {self.done}/{self.total} shards{self._work_text()} in {self._seconds(now)}{tail}"
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self.close()

    # -- helpers

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        console = Console(file=self.stream, force_terminal=True)
        self._bar = Bar(
            TextColumn(f"[bold]{self.label}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("shards"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._bar.add_task(self.label, total=self.total, rate="")
        self._bar.start()

    def _rate(self, now: float) -> str:
        elapsed = now - self._start
        if self.work == 0 or elapsed <= 0:
            return ""
        return f"{count_text(self.work / elapsed)} account-steps/s"

    def _work_text(self) -> str:
        return f", {count_text(self.work)} account-steps" if self.total_work or self.work else ""

    def _seconds(self, now: float) -> str:
        return f"{now - self._start:.0f} s"

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no bar
        return False
