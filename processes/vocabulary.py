"""The vocabulary handed to the engine's lint: every role, form key, operator and jurisdiction field.

Forms come with the decisions they offer and operators with their parameter schemas; `START_DATA` is what every case
starts with (see casework.submit and the dry run's sample starts).
"""

from engine.diagram import Vocabulary
from processes.forms import FORMS
from processes.jurisdiction import JURISDICTION_FIELDS
from processes.operators import OPERATOR_SCHEMAS
from processes.roles import ROLES

START_DATA = ("same_village",)

VOCABULARY = Vocabulary(roles=ROLES, forms={key: tuple(form.decisions) for key, form in FORMS.items()},
                        operators=OPERATOR_SCHEMAS, jurisdiction_fields=tuple(JURISDICTION_FIELDS),
                        start_data=START_DATA)
