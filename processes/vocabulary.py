"""The vocabulary handed to the engine's lint: every role, form key, operator and jurisdiction field.

Forms come with the decisions they offer and operators with their parameter schemas; `START_DATA` is what every case
starts with (see casework.submit and the dry run's sample starts).
"""

from engine.diagram import Vocabulary
from processes.forms import BUILTIN_FORMS, offered_decisions
from processes.jurisdiction import JURISDICTION_FIELDS
from processes.operators import OPERATOR_SCHEMAS
from processes.roles import ROLES

START_DATA = ("same_village",)

VOCABULARY = Vocabulary(roles=ROLES, forms={key: tuple(value for value, _ in offered_decisions(form))
                                                  for key, form in BUILTIN_FORMS.items()},
                        operators=OPERATOR_SCHEMAS, jurisdiction_fields=tuple(JURISDICTION_FIELDS),
                        start_data=START_DATA)
