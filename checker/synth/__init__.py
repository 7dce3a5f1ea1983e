"""Safe-parameter synthesis: where in the parameter space a violated single-state check holds.

Takes a violated check's query (its assertions; satisfiable = a violation) and the
shared `Context`; returns a `Synthesis` of parameter regions, each in the spec's own
syntax. A region is reported as safe only when the check's own query, restricted
to it, is unsat (`checker.synth.search.prove`); an UNKNOWN is said, never counted.

Method (`checker.synth.search`): a search over the parameter box, one parameter
(or one per-asset parameter, all assets together) at a time, by bisection on a
bound, with every step a proof or a violation from the solver. Quantifier
elimination was measured first and is not used: Z3's `qe` tactic leaves the
quantifier in place on these nonlinear queries (parameter times state), and a
tactic applied from Python is not bounded by `rlimit`, which every query here must be.
"""

from checker.synth.driver import synthesize

__all__ = ["synthesize"]
