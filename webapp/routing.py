"""URL converters that turn a path value no record can have into 404 before any view or query sees it.

Every id column is a 32-bit INTEGER on PostgreSQL (64-bit on SQLite): Werkzeug's `int` converter takes any run of
digits, so `/staff/tasks/99999999999999999999` reached the database and failed there with a 500. Text values
(tokens, case numbers, codes) never hold control characters, and PostgreSQL refuses a NUL in a query parameter. Their
length is left to the views: a long forged reset token still gets the page that says the link is invalid.
"""

from flask import Flask
from werkzeug.routing import IntegerConverter, UnicodeConverter

# The largest id a PostgreSQL INTEGER column holds; SQLite's are wider, so this bounds both.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:…>` for record ids: ASCII digits only, 0 to MAX_ID; anything else does not match (404)."""

    regex = r"[0-9]+"

    def __init__(self, url_map, fixed_digits: int = 0, min: int | None = 0, max: int | None = MAX_ID,
                 signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class TextConverter(UnicodeConverter):
    """`<name>` / `<string:name>`: a path segment without control characters (NUL included)."""

    def __init__(self, url_map, minlength: int = 1, maxlength: int | None = None, length: int | None = None) -> None:
        super().__init__(url_map, minlength=minlength, maxlength=maxlength, length=length)
        # Werkzeug's `[^/]{1,}`, with C0 controls and DEL also left out.
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]", 1)


def register_converters(app: Flask) -> None:
    """Use the bounded converters for every route of `app` (call before any blueprint is registered)."""
    app.url_map.converters.update(int=IdConverter, default=TextConverter, string=TextConverter)
