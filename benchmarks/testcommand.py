"""Test-command benchmark: the README's test command in a fresh clone, phase by phase.

Run from the repository root (it takes as long as the command: about eight minutes idle):

    .venv/bin/python benchmarks/testcommand.py                # idle
    .venv/bin/python benchmarks/testcommand.py --burners 2    # beside two CPU-spinning processes
    .venv/bin/python benchmarks/testcommand.py --dry-run      # only print the phases

DESIGN.md sets a goal for it: "the README's test command under 3 minutes, green
on a busy machine". The command is the one `.ci/run` runs, read from that file
(a test keeps it equal to the README's second quick-start command), so this
measures exactly what CI and a new user run. It clones the repository's
committed HEAD into a temporary folder, as CI's fresh clone, and runs each
phase of the command (the parts joined by `&&`) there with `CI=true` and no
stdin, one after another, stopping at the first that fails, as the shell
would. For each phase it records the wall time, the CPU time of everything the
phase started, and its exit status; for pytest, the summary line.

It prints a Markdown table and adds the run to a history: every run is kept in
benchmarks/results/testcommand.json, and testcommand.md shows them, newest
first. Wall-clock, `time.perf_counter`; never asserted by a test. The machine's
speed moves from day to day (benchmarks/machine.py): compare runs only with a
machine benchmark of the same day.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
GOAL_S = 180.0  # DESIGN.md, Performance: the README's test command under 3 minutes
_PYTEST_SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed)\b.*? in [\d.]+s.*?)\s*=*$", re.MULTILINE)


@dataclass(frozen=True)
class Phase:
    command: str
    wall_s: float
    cpu_s: float  # user + system time of every process the phase started (and waited for)
    exit: int
    summary: str = ""  # pytest's last line ("1610 passed in 398.12s"), for the pytest phase


def ci_command(run_script: str) -> str:
    """The command `.ci/run` runs: its one line that is neither a comment, `set`, nor `cd`."""
    lines = [
        line.strip()
        for line in run_script.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))
    ]
    if len(lines) != 1:
        raise SystemExit(f".ci/run: expected one command line besides comments, `set` and `cd`, found {len(lines)}")
    return lines[0]


def readme_commands(readme: str) -> list[str]:
    """The `sh` blocks of the README's "Quick start" section, in order."""
    section = readme.split("\n## Quick start", 1)[-1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def phases(command: str) -> list[str]:
    """The parts of a shell `a && b && c` command, in order."""
    return [part.strip() for part in command.split(" && ")]


def run_phases(parts: list[str], cwd: Path, log: Path) -> list[Phase]:
    """Each part in `bash -c` in `cwd`, as CI runs it (`CI=true`, no stdin), until one fails."""
    env = dict(os.environ, CI="true")
    done: list[Phase] = []
    with log.open("w", encoding="utf-8") as out:
        for part in parts:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(
                ["bash", "-c", part], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            out.write(f"$ {part}\n{proc.stdout}{proc.stderr}\n[exit {proc.returncode}, {wall:.1f} s]\n")
            found = _PYTEST_SUMMARY.findall(proc.stdout)
            done.append(Phase(part, round(wall, 2), round(cpu, 2), proc.returncode, found[-1] if found else ""))
            if proc.returncode != 0:
                break
    return done


def measure(command: str, burners: int, source: Path, keep: bool) -> dict[str, Any]:
    """Clone `source` into a temporary folder and run `command` there, phase by phase, beside `burners`."""
    folder = Path(tempfile.mkdtemp(prefix="solvent-testcommand-"))
    clone = folder / "solvent"
    try:
        subprocess.run(["git", "clone", "--quiet", str(source), str(clone)], check=True, capture_output=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True, capture_output=True, text=True
        ).stdout.strip()
        spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
        try:
            done = run_phases(phases(command), clone, folder / "log.txt")
        finally:
            for p in spinning:
                p.kill()
            for p in spinning:
                p.wait()
        if keep:
            print(f"the clone and its log are kept in {folder}", file=sys.stderr)
        elif done and done[-1].exit != 0:
            print((folder / "log.txt").read_text(encoding="utf-8")[-4000:], file=sys.stderr)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    total = sum(p.wall_s for p in done)
    ok = len(done) == len(phases(command)) and all(p.exit == 0 for p in done)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "burners": burners,
        "machine": f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.release()}",
        "phases": [asdict(p) for p in done],
        "total_s": round(total, 2),
        "ok": ok,
        "goal_met": ok and total < GOAL_S,
    }


def _short(command: str) -> str:
    return command if len(command) <= 48 else command[:45] + "..."


def render_run(run: dict[str, Any]) -> list[str]:
    """One run as a Markdown table, a phase per row."""
    lines = [
        f"### {run['date']}, commit {run['commit']}, {run['burners']} burner(s), {run['machine']}",
        "",
        "| phase | wall s | CPU s | exit | |",
        "|---|---:|---:|---:|---|",
    ]
    for p in run["phases"]:
        lines.append(
            f"| `{_short(p['command'])}` | {p['wall_s']:.1f} | {p['cpu_s']:.1f} | {p['exit']} | {p['summary']} |"
        )
    verdict = "met" if run["goal_met"] else ("not met" if run["ok"] else "the command failed")
    lines += ["", f"Total {run['total_s']:.1f} s; the goal (under {GOAL_S:.0f} s, green): **{verdict}**.", ""]
    return lines


def render(history: list[dict[str, Any]]) -> str:
    lines = [
        "# Test-command benchmark: the README's test command in a fresh clone",
        "",
        "`python benchmarks/testcommand.py [--burners N]`: the command of `.ci/run` (the README's second "
        "quick-start command), phase by phase, in a fresh clone of the committed HEAD, with `CI=true` and no "
        "stdin. CPU s is the user and system time of every process the phase started. DESIGN.md's goal: "
        "under 3 minutes, green on a busy machine. Runs newest first; compare a run only with one from a day "
        "the machine was as fast (benchmarks/machine.py).",
        "",
    ]
    for run in reversed(history):
        lines += render_run(run)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--burners", type=int, default=0, help="CPU-spinning processes beside the command (default 0)")
    ap.add_argument("--command", help="run this command instead of .ci/run's (phases joined by ' && ')")
    ap.add_argument("--source", type=Path, default=ROOT, help="the git repository to clone (default: this one)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for testcommand.md and testcommand.json")
    ap.add_argument("--keep", action="store_true", help="keep the clone and the command's log")
    ap.add_argument("--dry-run", action="store_true", help="print the phases and stop")
    args = ap.parse_args(argv)
    if args.burners < 0:
        ap.error("--burners must be 0 or more")
    command = args.command or ci_command((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    if args.dry_run:
        print("\n".join(phases(command)))
        return 0
    if not (args.source / ".git").exists():
        print(f"testcommand: {args.source} is not a git repository (a fresh clone is made from one)", file=sys.stderr)
        return 2
    try:
        run = measure(command, args.burners, args.source, args.keep)
    except subprocess.CalledProcessError as err:
        print(
            f"testcommand: `{' '.join(map(str, err.cmd))}` failed: {(err.stderr or b'').decode(errors='replace')}",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "testcommand.json"
    history = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    history.append(run)
    path.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    (args.out / "testcommand.md").write_text(render(history), encoding="utf-8")
    print("\n".join(render_run(run)))
    return 0 if run["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
