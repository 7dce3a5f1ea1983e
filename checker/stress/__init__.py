"""Stress testing on the compiled rules: populations of accounts through scenarios, exactly.

`model` holds the values every part shares; the vectorized exact evaluation
of the spec's rules is `dsl.vector`; `run` drives one run; reading
populations and scenarios, running shards on processes or Dask, and the
outputs each have their own module.
"""
