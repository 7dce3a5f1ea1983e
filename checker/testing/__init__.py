"""Testing from a spec: Hypothesis strategies biased towards the solver's boundary points.

`checker.testing.strategies.strategies(spec)` (also `checker.strategies`) is the entry point.
"""
