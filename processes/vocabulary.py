"""The vocabulary handed to the engine's lint: every role, form key, operator and jurisdiction field."""

from engine.diagram import Vocabulary
from processes.forms import FORMS
from processes.jurisdiction import JURISDICTION_FIELDS
from processes.operators import OPERATORS
from processes.roles import ROLES

VOCABULARY = Vocabulary(roles=ROLES, forms=tuple(FORMS), operators=tuple(OPERATORS),
                        jurisdiction_fields=tuple(JURISDICTION_FIELDS))
