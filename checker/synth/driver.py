"""The synthesis of one violated check: joint conditions first, then one-parameter bounds.

Takes the check's query (satisfiable = a violation) and the shared `Context`; returns a
`Synthesis`. The one-parameter search (`checker.synth.search`) runs first: the parameters it
bounds are the ones worth relating, two at a time (`checker.synth.joint`). Joint regions are
listed first, since one of them usually says the whole rule ("lt * (1 + bonus) <= 1") where
the bounds say its slices; the bounds stay, as the fallback when no joint form is proved.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

from checker.core.context import Context
from checker.core.results import Synthesis
from checker.synth.joint import pairs, relate
from checker.synth.search import bounds, searchable

METHOD = (
    "conditions relating two parameters fitted to the boundary, and bisection on one parameter at a time; "
    "each region proved by this check's query restricted to it"
)


def synthesize(cx: Context, query: Sequence[z3.BoolRef]) -> Synthesis:
    """The regions of the parameter space in which the violated check with query `query` holds."""
    regions, notes, bounded = bounds(cx, query)
    tried: list[str] = []
    joint = [r for pair in pairs(bounded, searchable(cx)) if (r := relate(cx, query, pair, tried)) is not None]
    # Which other pairs fitted no form matters when no joint condition was found (the fallback is then
    # the bounds alone); next to a proved one it is noise. An UNKNOWN is always said.
    notes += tried if not joint else [n for n in tried if "UNKNOWN" in n]
    return Synthesis(METHOD, (*joint, *regions), tuple(notes))
