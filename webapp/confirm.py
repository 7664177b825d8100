"""Confirmation before a destructive or policy-changing action, without relying on JavaScript.

Every such action is a POST. Its first POST (the button on the list or page) does nothing: it answers with a page
that says what will happen and a second button that posts the same fields plus ``confirm=1``. Only that second POST
acts, so a script-less browser, a double click or a forged request without the field changes nothing.
"""

from flask import render_template, request

CONFIRM_FIELD = "confirm"
# Fields of the first POST that the confirmation page does not carry over: it adds its own token and answer.
_NOT_CARRIED = frozenset({"csrf_token", CONFIRM_FIELD})


def confirmed() -> bool:
    """Return whether this POST carries the administrator's confirmation."""
    return request.form.get(CONFIRM_FIELD) == "1"


def ask_confirmation(title: str, consequences: list[str], button: str, back: str):
    """Return the page that asks to confirm the POST just received, saying what it will do.

    :param title: the action, as a heading (e.g. "启用 birth_registration v3").
    :param consequences: sentences saying what will happen, one per line.
    :param button: the label of the confirming button.
    :param back: where 取消 leads (the page the action was started from).
    """
    carried = [(name, value) for name, values in request.form.lists() if name not in _NOT_CARRIED
               for value in values]
    return render_template("_confirm.html", title=title, consequences=consequences, button=button, back=back,
                           action=request.path, carried=carried)
