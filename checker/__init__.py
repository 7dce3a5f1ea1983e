"""solvent's checker: the Z3 back end, the built-in checks, reports and the CLI."""
