"""The base of every form: Flask-WTF with CSRF, WTForms' own messages in Simplified Chinese."""

import unicodedata

from flask_wtf import FlaskForm
from wtforms.meta import DefaultMeta


class BaseForm(FlaskForm):
    """A form with a CSRF token (WTF_CSRF_ENABLED) whose built-in messages are in Chinese."""

    class Meta(FlaskForm.Meta):
        locales = ("zh",)

        def get_translations(self, form):
            # Flask-WTF translates only through Flask-Babel, which this product does not use; WTForms ships zh.
            return DefaultMeta.get_translations(self, form)


def normalized(value: str | None) -> str | None:
    """Return `value` in NFKC form, without control or format characters, stripped.

    Full-width digits typed with a Chinese IME become ASCII; NULs, escapes and direction overrides (categories Cc
    and Cf) are dropped, so a value shown again in the form is plain text.
    """
    if value is None:
        return None
    value = unicodedata.normalize("NFKC", value)
    return "".join(c for c in value if unicodedata.category(c) not in {"Cc", "Cf"}).strip()


def without_spaces(value: str | None) -> str | None:
    """Return `value` without spaces and hyphens (phones are often typed as 138 0000 0000 or 138-0000-0000)."""
    if value is None:
        return None
    return "".join(c for c in value if c not in " -")


def plain_text(value: str | None) -> str | None:
    """Return free text without control or format characters (line breaks kept), stripped.

    Unlike `normalized`, no NFKC: Chinese punctuation such as ，and ：must stay full width in prose.
    """
    if value is None:
        return None
    return "".join(c for c in value if c in "\n\t" or unicodedata.category(c) not in {"Cc", "Cf"}).strip()
