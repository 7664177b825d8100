"""Tests of the ID number validator: format, checksum, address code, birth date and sequence."""

import csv
import dataclasses
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.codes import FEMALE, MALE
from services.identity import (
    CHECK_CHARACTERS,
    CURRENT_AREAS_CSV,
    PROVINCE_CODES,
    InvalidIdNumber,
    address_warning,
    check_character,
    known_address_codes,
    parse,
)
from tests.identities import id_number, with_wrong_check

TODAY = date(2026, 12, 3)
BAD_PROVINCE = "身份证号码前两位不是有效的省级行政区划代码"
BAD_SEQUENCE = "身份证号码第15至17位顺序码不能为000"


def with_check(first17: str) -> str:
    return first17 + check_character(first17)


def test_a_valid_number_gives_its_birth_date_sex_and_known_address():
    parsed = parse(id_number("19930307", "2", area="110101"), today=TODAY)
    assert parsed.birth_date == date(1993, 3, 7)
    assert parsed.sex == FEMALE
    assert parsed.address_known
    assert address_warning(parsed.number) is None


def test_spaces_and_a_lower_case_x_are_accepted():
    number = with_check("11010519491231002")  # its check character is X
    assert number.endswith("X")
    parsed = parse(f" {number[:6]} {number[6:14]} {number[14:].lower()} ", today=TODAY)
    assert parsed.number == number
    assert parsed.sex == FEMALE


def test_the_result_is_immutable():
    parsed = parse(id_number("19910512", "1"), today=TODAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.address_known = False  # type: ignore[misc]


@pytest.mark.parametrize("check", list(CHECK_CHARACTERS))
def test_every_check_character_but_the_right_one_is_refused(check):
    first17 = "11010119900307152"
    if check == check_character(first17):
        assert parse(first17 + check, today=TODAY).number == first17 + check
    else:
        with pytest.raises(InvalidIdNumber, match="校验位不正确"):
            parse(first17 + check, today=TODAY)


def test_a_wrong_check_character_is_refused_before_anything_else():
    # Province 99 and sequence 000 too: the typo is the likelier cause, so it is named first.
    with pytest.raises(InvalidIdNumber, match="校验位不正确"):
        parse(with_wrong_check(with_check("99010119900307000")), today=TODAY)


@pytest.mark.parametrize("province", ["10", "16", "20", "24", "30", "38", "40", "47", "49", "55", "60", "66", "70",
                                      "72", "80", "83", "90", "99"])
def test_a_province_outside_gb_t_2260_is_refused(province):
    with pytest.raises(InvalidIdNumber, match=BAD_PROVINCE):
        parse(id_number("19900307", "2", area=f"{province}0101"), today=TODAY)


def test_the_province_codes_are_those_of_gb_t_2260():
    assert len(PROVINCE_CODES) == 34
    assert {"11", "15", "21", "23", "31", "37", "41", "46", "50", "54", "61", "65", "71", "81", "82"} <= PROVINCE_CODES


@pytest.mark.parametrize("province", sorted(PROVINCE_CODES))
def test_every_province_code_is_accepted(province):
    assert parse(id_number("19900307", "1", area=f"{province}0000"), today=TODAY).sex == MALE


def test_sequence_000_is_refused():
    with pytest.raises(InvalidIdNumber, match=BAD_SEQUENCE):
        parse(with_check("11010119900307000"), today=TODAY)


@pytest.mark.parametrize(("sequence", "sex"), [("001", MALE), ("002", FEMALE), ("999", MALE), ("010", FEMALE)])
def test_every_other_sequence_is_accepted(sequence, sex):
    assert parse(with_check(f"11010119900307{sequence}"), today=TODAY).sex == sex


@pytest.mark.parametrize(("area", "what"), [
    ("110103", "崇文区, merged into 东城区 in 2010"),
    ("130182", "藁城市, a district of 石家庄 since 2014"),
    ("110100", "北京市市辖区, on numbers issued at city level"),
    ("441900", "东莞市, a prefecture-level city without counties"),
    ("460001", "通什市, Hainan's 1980s code"),
    ("810000", "香港特别行政区"),
])
def test_former_and_city_level_codes_are_known(area, what):
    parsed = parse(id_number("19800101", "2", area=area), today=TODAY)
    assert parsed.address_known, what
    assert address_warning(parsed.number) is None


def test_a_current_code_newer_than_the_historical_list_is_known():
    assert parse(id_number("20210601", "1", area="330114"), today=TODAY).address_known  # 钱塘区, 2021


@pytest.mark.parametrize("area", [
    "340524",  # from the often-quoted example 34052419800101001X: plausible, yet in no list
    "320594",
    "130171",  # 石家庄高新技术产业开发区: an NBS statistics code, not GB/T 2260
])
def test_an_unknown_address_code_is_a_warning_not_a_refusal(area):
    number = id_number("19800101", "1", area=area)
    parsed = parse(number, today=TODAY)
    assert not parsed.address_known
    assert address_warning(number) == f"身份证号码的地址码 {area} 不在现行或历史行政区划代码中，请核实"


def test_the_worked_example_still_passes():
    parsed = parse("34052419800101001X", today=TODAY)
    assert (parsed.birth_date, parsed.sex, parsed.address_known) == (date(1980, 1, 1), MALE, False)


@pytest.mark.parametrize("text", ["", "abc", "11010", "ABCDEF19900307", None])
def test_address_warning_leaves_malformed_input_to_parse(text):
    assert address_warning(text) is None


def test_the_code_lists_are_loaded():
    codes = known_address_codes()
    assert isinstance(codes, frozenset)
    assert known_address_codes() is codes, "read once"
    # Thousands of former codes besides the 2023 counties: a format change in python-stdnum's data would show here.
    assert len(codes) > 6500
    with CURRENT_AREAS_CSV.open(encoding="utf-8", newline="") as stream:
        current = {row["code"] for row in csv.DictReader(stream) if not 71 <= int(row["code"][4:]) <= 80}
    assert current <= codes
    assert {code[:2] for code in codes} <= PROVINCE_CODES


@pytest.mark.parametrize(("first17", "message"), [
    ("11010119900230002", "出生日期不存在"),
    ("11010121000101002", "出生日期不合理"),
    ("11010118991231002", "出生日期不合理"),
])
def test_impossible_birth_dates_are_still_refused(first17, message):
    with pytest.raises(InvalidIdNumber, match=message):
        parse(with_check(first17), today=TODAY)


@given(
    area=st.sampled_from(sorted(known_address_codes())),
    birth=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(min_value=1, max_value=999),
)
def test_any_number_made_of_valid_parts_is_accepted(area, birth, sequence):
    number = with_check(f"{area}{birth:%Y%m%d}{sequence:03d}")
    parsed = parse(number, today=TODAY)
    assert (parsed.birth_date, parsed.sex, parsed.address_known) == (birth, MALE if sequence % 2 else FEMALE, True)
    with pytest.raises(InvalidIdNumber, match="校验位不正确"):
        parse(with_wrong_check(number), today=TODAY)
