"""solvent's front end: parse, check and compile margin rule specs.

The pipeline, one module per pass: `parser` (text to AST), `elaborate` (names,
types and units; AST to IR), `codegen` (IR to Python). `api` chains them.
"""

from dsl.api import EngineRef, Spec, load, loads
from dsl.diagnostics import Diagnostic, InternalError, SpecError

__all__ = ["Diagnostic", "EngineRef", "InternalError", "Spec", "SpecError", "load", "loads"]
