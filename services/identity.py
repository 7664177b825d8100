"""Citizen ID numbers (公民身份号码, GB 11643-1999): checksum, birth date and sex.

18 characters: 6-digit address code, birth date YYYYMMDD, 3-digit sequence (odd for men, even for women), and a
check character by ISO 7064 MOD 11-2.
"""

import re
from dataclasses import dataclass
from datetime import date

from engine.calendar import china_today
from services.codes import FEMALE, MALE

ID_PATTERN = re.compile(r"[1-9][0-9]{16}[0-9X]")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)


class InvalidIdNumber(ValueError):
    """The number is not a valid ID number; the message says why, in Chinese."""


@dataclass(frozen=True)
class IdNumber:
    """A checked ID number and what it encodes."""

    number: str
    birth_date: date
    sex: str  # GB/T 2261.1 code


def normalize(text: str) -> str:
    """Strip spaces and upper-case a trailing x, as people type it."""
    return "".join((text or "").split()).upper()


def check_character(first17: str) -> str:
    """Return the check character of the first 17 digits."""
    return CHECK_CHARACTERS[sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True)) % 11]


def parse(text: str, today: date | None = None) -> IdNumber:
    """Return the checked ID number, or raise InvalidIdNumber with the reason."""
    number = normalize(text)
    if len(number) != 18 or not ID_PATTERN.fullmatch(number):
        raise InvalidIdNumber("身份证号码应为18位，前17位为数字，最后一位为数字或X")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("身份证号码校验位不正确，请核对后重新输入")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("身份证号码中的出生日期不存在") from None
    if not EARLIEST_BIRTH <= birth <= (today or china_today()):
        raise InvalidIdNumber("身份证号码中的出生日期不合理")
    return IdNumber(number, birth, MALE if int(number[16]) % 2 else FEMALE)


def mask(number: str) -> str:
    """Show the first 6 and the last 4 characters only."""
    return f"{number[:6]}{'*' * 8}{number[-4:]}" if len(number) == 18 else "*" * len(number)
