"""Citizen ID numbers (公民身份号码, GB 11643-1999): checksum, address code, birth date, sequence and sex.

18 characters: 6-digit address code, birth date YYYYMMDD, 3-digit sequence (odd for men, even for women), and a
check character by ISO 7064 MOD 11-2.

The address code is the GB/T 2260 county code of the place of registration when the number was issued, and numbers
are never reissued when a county is renamed or merged, so a valid number may carry a code abolished decades ago.
Only what no real number can contain is refused: a province outside GB/T 2260 and the sequence 000. Codes ending
in 00 are not refused: prefecture-level cities without counties (东莞 441900, 中山 442000, 儋州 460400, 嘉峪关
620200) use theirs as address codes, 香港 810000, 澳门 820000 and 台湾 710000 have no other, and old numbers carry
city-level (xxxx00, xxxx01 市辖区) and Hainan's 1980s 4600xx codes. A code missing from the current and historical
lists is only a warning for staff to check (`address_warning`), since the lists can lag or miss a local code.
"""

import csv
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from pathlib import Path

from engine.calendar import china_today
from services.codes import FEMALE, MALE

ID_PATTERN = re.compile(r"[1-9][0-9]{16}[0-9X]")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)
# GB/T 2260 province-level codes: the mainland's 31, then 台湾 71, 香港 81 and 澳门 82.
PROVINCE_CODES = frozenset(
    f"{code:02d}"
    for first, last in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 82))
    for code in range(first, last + 1)
)
# The current county-level list (NBS 2023) bundled with the demo divisions.
CURRENT_AREAS_CSV = Path(__file__).parent / "data" / "divisions" / "areas.csv"
# County digits 71-80 are NBS statistics-only units (开发区, 管理区), not GB/T 2260 codes.
STATISTICS_ONLY_COUNTY_DIGITS = range(71, 81)
# Lines of python-stdnum's cn/loc.dat: "11 province=..." then indented "  0101 county=..." (a range is "0101-0105").
_LOC_PROVINCE = re.compile(r"(\d{2}) ")
_LOC_COUNTY = re.compile(r" +(\d{4})(?:-(\d{4}))? ")


class InvalidIdNumber(ValueError):
    """The number is not a valid ID number; the message says why, in Chinese."""


@dataclass(frozen=True)
class IdNumber:
    """A checked ID number and what it encodes."""

    number: str
    birth_date: date
    sex: str  # GB/T 2261.1 code
    address_known: bool  # the address code is a current or former GB/T 2260 code (else staff should check it)


def normalize(text: str) -> str:
    """Strip spaces and upper-case a trailing x, as people type it."""
    return "".join((text or "").split()).upper()


def check_character(first17: str) -> str:
    """Return the check character of the first 17 digits."""
    return CHECK_CHARACTERS[sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True)) % 11]


def _historical_codes() -> set[str]:
    """Read the current and former county codes of python-stdnum (from the Chinese Wikipedia lists since 1980)."""
    codes: set[str] = set()
    province = ""
    text = files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if found := _LOC_PROVINCE.match(line):
            province = found[1]
        elif (found := _LOC_COUNTY.match(line)) and province:
            low, high = int(found[1]), int(found[2] or found[1])
            codes.update(f"{province}{code:04d}" for code in range(low, high + 1))
    return codes


def _current_codes() -> set[str]:
    """Read the current county codes, leaving out the statistics-only ones."""
    with CURRENT_AREAS_CSV.open(encoding="utf-8", newline="") as stream:
        return {
            row["code"] for row in csv.DictReader(stream)
            if int(row["code"][4:]) not in STATISTICS_ONLY_COUNTY_DIGITS
        }


@cache
def known_address_codes() -> frozenset[str]:
    """Return every current or former GB/T 2260 code an address code may carry (read once)."""
    return frozenset(_historical_codes() | _current_codes())


def address_warning(number: str) -> str | None:
    """Return a warning for staff when the number's address code is in no current or historical list, else None."""
    code = normalize(number)[:6]
    if len(code) != 6 or not code.isdigit() or code in known_address_codes():
        return None
    return f"身份证号码的地址码 {code} 不在现行或历史行政区划代码中，请核实"


def parse(text: str, today: date | None = None) -> IdNumber:
    """Return the checked ID number, or raise InvalidIdNumber with the reason."""
    number = normalize(text)
    if len(number) != 18 or not ID_PATTERN.fullmatch(number):
        raise InvalidIdNumber("身份证号码应为18位，前17位为数字，最后一位为数字或X")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("身份证号码校验位不正确，请核对后重新输入")
    if number[:2] not in PROVINCE_CODES:
        raise InvalidIdNumber("身份证号码前两位不是有效的省级行政区划代码")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("身份证号码中的出生日期不存在") from None
    if not EARLIEST_BIRTH <= birth <= (today or china_today()):
        raise InvalidIdNumber("身份证号码中的出生日期不合理")
    # Sequence codes are handed out from 001 upwards; 000 is never assigned.
    if number[14:17] == "000":
        raise InvalidIdNumber("身份证号码第15至17位顺序码不能为000")
    return IdNumber(number, birth, MALE if int(number[16]) % 2 else FEMALE, number[:6] in known_address_codes())


def mask(number: str) -> str:
    """Show the first 6 and the last 4 characters only."""
    return f"{number[:6]}{'*' * 8}{number[-4:]}" if len(number) == 18 else "*" * len(number)
