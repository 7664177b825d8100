"""The jurisdiction rule: 12-digit statistical division codes nest by prefix."""

# Case fields a diagram may name as a user task's jurisdiction; each holds a village code.
JURISDICTION_FIELDS = {
    "hukou_division": "户籍地村（居）",
    "residence_division": "现居住地村（居）",
}


def contains(outer: str | None, inner: str | None) -> bool:
    """Return whether division `outer` contains (or is) division `inner`."""
    return bool(outer) and bool(inner) and inner.startswith(outer)


def may_act(user_role: str, user_division: str | None, task_role: str, task_division: str | None) -> bool:
    """A staff member may act on a task when the role matches and their division contains the task's division."""
    return user_role == task_role and contains(user_division, task_division)
