"""The one configured case engine of the product."""

from engine.runtime import Runtime
from processes.hooks import CaseHooks
from processes.operators import OPERATORS
from processes.vocabulary import VOCABULARY
from services.assignments import rules

RUNTIME = Runtime(VOCABULARY, OPERATORS, CaseHooks(), assignments=rules)
