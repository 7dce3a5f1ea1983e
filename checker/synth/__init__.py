"""Safe-parameter synthesis: where in the parameter space a violated single-state check holds.

Takes a violated check's query (its assertions; satisfiable = a violation) and the
shared `Context`; returns a `Synthesis` of parameter regions, each in the spec's own
syntax. A region is reported as safe only when the check's own query, restricted
to it, is unsat (`checker.synth.search.prove`); an UNKNOWN is said, never counted.

Method (`checker.synth.driver` runs the two in order):

- `checker.synth.search`: a search over the parameter box, one parameter (or one
  per-asset parameter, all assets together) at a time, by bisection on a bound,
  with every step a proof or a violation from the solver;
- `checker.synth.joint`: for two parameters, a condition `p * (k0 + k1 r) <= m0 + m1 r`
  with small integer coefficients fitted to boundary points that bisection finds,
  then proved like every region; "iff" only when one quantified question proves
  every value outside it violated.

Quantifier elimination was measured and is not used: on these nonlinear queries
(parameter times state) Z3's `qe` and `qe2` give no answer within 20 s, `qe_rec`
leaves the quantifier in place, `nlqsat` refuses division and `if`, and a tactic
applied from Python is not bounded by `rlimit`, which every query here must be.
"""

from checker.synth.driver import synthesize

__all__ = ["synthesize"]
