"""How much work one solver query may do: a deterministic resource limit, and a wall-clock safety net.

A verdict must not depend on the machine. Every query is therefore bounded by
the solver's own count of work (Z3's `rlimit`, cvc5's resource limit), which
is the same on a fast, a slow and a loaded machine, and not by a clock. The
clock remains only as a safety net for work a solver does not meter finely
(nlsat's polynomial arithmetic is the known case); when it fires, the
outcome says so, because that one answer may then differ between machines.

Calibration (this project's 2-core machine, idle, Z3 4.15 / z3-solver 5.4,
`/tmp`-free rerun: `benchmarks/checker.py` and the bundled examples): Z3's
default solver spends 6-10 million resource units per second on our
nonlinear queries (up to 24 M/s on easy ones, 0.3-0.5 M/s where nlsat does
the work), so 100 M units is roughly the 10 s per query the checker used to
allow. The hardest query the bundled examples need (the violation of
`fund_solvent` in `examples/bad/cross_collateral_haircut_too_small.margin`)
takes 47.6 M units: the default leaves twice that margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

DEFAULT_RLIMIT = 100_000_000  # Z3 resource units per query: about 10 s of Z3 on an idle machine of ours
FAST_SHARE = Fraction(1, 20)  # the in-process first try: most queries end far below it
LOCAL_SHARE = Fraction(1, 10)  # Z3 in-process (checker.solve.nra), before the portfolio
DEFAULT_SAFETY_NET = Fraction(60)  # seconds per query; only for work the solvers do not meter


@dataclass(frozen=True, slots=True)
class Budget:
    """One query's allowance: `rlimit` Z3 resource units (engines convert), `wall` seconds as a safety net."""

    rlimit: int
    wall: Fraction

    def share(self, part: Fraction) -> Budget:
        """A part of this budget (for auxiliary queries: lemmas, lookahead steps), at least one unit."""
        return Budget(max(1, int(self.rlimit * part)), self.wall)

    @property
    def wall_ms(self) -> int:
        return max(1, int(self.wall * 1000))


def safety_net_reason(engine: str, wall: Fraction) -> str:
    """What an UNKNOWN says when the clock, not the work limit, stopped `engine`."""
    return (
        f"{engine}: stopped by the wall-clock safety net after {float(wall):g} s before reaching its work limit "
        "(this answer may differ on a faster or less loaded machine)"
    )
