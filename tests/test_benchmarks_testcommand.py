"""benchmarks/testcommand.py: it measures exactly the README's test command, phase by phase, as CI runs it.

It asserts what the benchmark records (phases, exit statuses, the pytest summary, the history), never
how long anything took. The full command is not run here: a stand-in command in a small git
repository takes its place.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from benchmarks_loaded import load

bench = load("testcommand", strict=True)
ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = bench.readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(readme) == 2, readme  # the quick start's two commands
    ci = bench.ci_command((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert ci == readme[1]
    assert " && ".join(bench.phases(ci)) == ci
    assert bench.phases(ci)[-2:] == [".venv/bin/ruff check dsl checker", ".venv/bin/mypy dsl checker"]


def test_a_run_script_with_two_commands_is_refused() -> None:
    try:
        bench.ci_command("#!/usr/bin/env bash\nset -e\ncd x\nmake\nmake test\n")
    except SystemExit as err:
        assert "found 2" in str(err)
    else:
        raise AssertionError("two command lines were accepted")


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "marker.txt").write_text("committed\n", encoding="utf-8")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], cwd=repo, check=True)
    return repo


def test_a_run_records_each_phase_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    repo, out = _repo(tmp_path), tmp_path / "out"
    command = "test -f marker.txt && echo '= 3 passed in 0.50s =' && exit 3 && echo never"
    assert bench.main(["--source", str(repo), "--command", command, "--out", str(out)]) == 1
    (run,) = json.loads((out / "testcommand.json").read_text(encoding="utf-8"))
    assert [(p["command"], p["exit"]) for p in run["phases"]] == [
        ("test -f marker.txt", 0),  # the clone holds the committed file
        ("echo '= 3 passed in 0.50s ='", 0),
        ("exit 3", 3),
    ]
    assert run["phases"][1]["summary"] == "3 passed in 0.50s"
    assert not run["ok"] and not run["goal_met"]
    assert "the command failed" in (out / "testcommand.md").read_text(encoding="utf-8")


def test_a_green_run_is_measured_against_the_goal_and_kept_in_the_history(tmp_path: Path) -> None:
    repo, out = _repo(tmp_path), tmp_path / "out"
    command = 'test "$CI" = true && test ! -t 0 && echo "1 passed in 0.01s"'
    for _ in range(2):
        assert bench.main(["--source", str(repo), "--command", command, "--out", str(out)]) == 0
    history = json.loads((out / "testcommand.json").read_text(encoding="utf-8"))
    assert len(history) == 2 and all(r["ok"] and r["goal_met"] for r in history)
    assert [p["exit"] for p in history[-1]["phases"]] == [0, 0, 0]
    text = (out / "testcommand.md").read_text(encoding="utf-8")
    assert text.count("**met**") == 2


def test_a_folder_that_is_not_a_repository_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert bench.main(["--source", str(tmp_path), "--command", "true", "--out", str(tmp_path / "out")]) == 2
    assert "not a git repository" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
