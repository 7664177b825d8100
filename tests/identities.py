"""Valid ID numbers for tests, made with the real check character."""

from services.identity import check_character


def id_number(birth: str, sex: str, area: str = "110101", serial: int = 12) -> str:
    """Return a valid ID number born on `birth` (YYYYMMDD) of `sex` ("1" man, "2" woman)."""
    sequence = serial * 10 + (1 if sex == "1" else 2)
    first17 = f"{area}{birth}{sequence:03d}"
    return first17 + check_character(first17)


def with_wrong_check(number: str) -> str:
    """Return the number with a check character that does not fit."""
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong
