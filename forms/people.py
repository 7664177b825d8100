"""The resource-base forms: a search (by ID number, phone or name), a reveal, an export.

All three are POSTed, so an ID number or phone typed into the search never appears in a URL (URLs end up in access
logs and browser history). What the search text means is decided by processes.resource_base, which explains any
refusal in Chinese; these forms carry the CSRF token and trim the input.
"""

from wtforms import BooleanField, HiddenField, StringField

from forms.base import BaseForm, normalized, without_spaces

QUERY_MAX_LENGTH = 50
DIVISION_CODE_MAX_LENGTH = 12


class PersonSearchForm(BaseForm):
    """One box for a whole ID number, a whole phone or the start of a name; optionally a division inside one's own."""

    query = StringField("身份证号码、手机号码或姓名", filters=[normalized])
    division = StringField("区划代码（可选）", filters=[normalized, without_spaces])
    page = HiddenField(filters=[normalized])


class RevealForm(BaseForm):
    """Show one person's whole numbers (and, for officials, the name); the view writes the audit row."""


class PeopleExportForm(BaseForm):
    """Download the persons of the jurisdiction, optionally by the start of the name and a division."""

    name = StringField("姓名开头（可选）", filters=[normalized])
    division = StringField("区划代码（可选）", filters=[normalized, without_spaces])
    file_format = HiddenField(filters=[normalized])
    full_numbers = BooleanField("导出完整的身份证号码和电话（记入审计日志）")
