"""Testing from a spec: Hypothesis strategies biased towards the solver's boundary points, and conformance.

`checker.testing.strategies.strategies(spec)` (also `checker.strategies`) gives the strategies;
`checker.testing.conform.conform(spec, impl)` (also `checker.conform`) tests an existing engine
against the spec (spec/conformance.md): `mapping` (names, units, tolerances), `impl` (Python and
JSON-lines adapters), `values` (exact numbers in and out), `runner` (send, call, compare),
`conform_report` (the text and the `solvent conform` command).
"""
