"""Same answer whatever the process did before: a query's text, and a spec's report, are functions of the spec.

What this protects: with `--jobs N` a worker process checks whatever units the
scheduler hands it, in an order that depends on timing, so a unit's results
must not depend on the units the process ran before. They did: Z3's printer
decides which subterms to name by their reference counts and numbers in Z3's
main context, which hold everything the process made before, and the deep
search translated its objectives from that context. With `--jobs 2`, on an
idle machine, examples/bad/perp_venue_fund_pays_every_shortfall.margin's
`fund_solvent` came out violated at depth 5 in one run and depth 7 in the next.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import z3

from checker.solve import z3engine
from checker.solve.z3engine import Session, smt2

ROOT = Path(__file__).resolve().parent.parent


def _query() -> tuple[list[z3.BoolRef], list[z3.ExprRef]]:
    """A query and some of its subterms (as a caller would hold them while it asks)."""
    x, y, mark, mmr = z3.Reals("x y mark mmr")
    gap = x - y
    size = z3.If(gap >= 0, gap, -gap)
    requirement = size * mark * mmr * 2
    query = [z3.And(requirement <= y, z3.Not(requirement < x), z3.Or(y > 3, x < requirement))]
    return query, [gap, size, requirement]


@pytest.fixture(autouse=True)
def _printed_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    """No text from the cache of the latest print: every `smt2` here prints."""
    monkeypatch.setattr(z3engine, "_last", None)


def _anew(query: list[z3.BoolRef], session: Session | None = None) -> str:
    z3engine._last = None
    return smt2(query, session)


def test_a_query_prints_the_same_whatever_else_refers_to_its_terms() -> None:
    query, (gap, *_) = _query()
    before = _anew(query)
    held = gap >= 0  # one more reference to a subterm, from outside the query
    assert _anew(query) == before
    del held
    assert _anew(query) == before


def _unit_of_queries() -> list[list[z3.BoolRef]]:
    """Queries one unit of work might print in turn: sharing subterms, and each query again later."""
    query, (gap, size, requirement) = _query()
    return [query, [size > 1, gap < requirement], query, [requirement * requirement > size, gap != 0], query]


def test_a_unit_s_texts_depend_on_its_own_queries_only() -> None:
    """The printing context of a unit's session holds the unit's earlier prints only: two sessions that
    print the same queries in the same order print the same texts, whatever the process made and held
    in between (in Z3's main context) and whatever else printed meanwhile."""
    first = Session()
    texts = [_anew(q, first) for q in _unit_of_queries()]
    others = [z3.Real(f"other{i}") * i + 1 for i in range(3000)]
    held = _query()[1]  # references from outside, to terms equal to the queries' subterms
    second = Session()
    again = []
    for q in _unit_of_queries():
        _anew([z3.Real("elsewhere") > len(again)])  # a print outside the session, in between
        again.append(_anew(q, second))
    assert again == texts
    del others, held


def test_a_query_prints_the_same_in_a_new_process_and_after_many_other_terms() -> None:
    script = "import test_history as t; from checker.solve.z3engine import smt2; print(smt2(t._query()[0]), end='')"
    fresh = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    others = [z3.Real(f"other{i}") * i + 1 for i in range(3000)]  # Z3's numbering of terms moves on
    assert _anew(_query()[0]) == fresh
    del others


# One spec's units, as a worker process runs them (its model checker last, told what its single-state
# checks left unproved, as the parent does), alone or after another spec's.
_SCRIPT = """
import json, sys
from pathlib import Path
from checker import Options, Verdict, configure
from checker.parallel import SINGLE_STATE, Unit, run_unit
configure(0)
options = Options()

def check(i, path):
    unproved, seen = set(), {}
    for check_id, _ in SINGLE_STATE:
        for r in run_unit(Unit(i, path, check_id), options).results:
            if r.verdict in (Verdict.VIOLATED, Verdict.UNKNOWN):
                unproved.add(r.id)
            seen[r.name] = seen.get(r.name, 0) + 1
    return run_unit(Unit(i, path, None, (), frozenset(unproved), tuple(seen.items())), options).results

for i, before in enumerate(sys.argv[1:], 1):
    check(i, Path(before))
done = check(0, Path("examples/bad/perp_venue_fund_pays_every_shortfall.margin"))
print(json.dumps([[r.name, r.verdict.name, r.proof, r.reason, repr(r.counterexample)] for r in done]))
"""


@pytest.mark.slow
def test_a_model_checking_unit_reports_the_same_after_another_spec_s() -> None:
    def run(*before: str) -> object:
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT, *before], cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    alone = run()
    # Two histories, each of which changed the result before (depth 7 alone, 5 after keeper_tip's units;
    # with only the auxiliary questions kept in-process, 5 alone and 7 after the waterfall's).
    assert run("examples/bad/binance_keeper_tip_drains_fund.margin") == alone
    assert run("examples/perp_venue_waterfall.margin") == alone
    found = {name: (verdict, proof) for name, verdict, proof, _, _ in alone}  # type: ignore[attr-defined]
    assert found["invariant: fund_solvent"][0] == "VIOLATED"
