"""Tests of the administrative division import and lookups."""

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.divisions import (
    DEMO_DIVISIONS_DIR,
    DEMO_FILES,
    DivisionModel,
    children,
    full_name,
    get_division,
    import_demo_divisions,
    import_divisions,
    level_of,
    path_of,
)

VILLAGE = "110101001001"  # 北京市东城区东华门街道多福巷社区居委会
RURAL_VILLAGE = "130623100001"  # 河北省保定市涞水县涞水镇南关村居民委员会


@pytest.fixture
def session(memory_session) -> Iterator[Session]:
    with memory_session(DivisionModel) as session:
        yield session


@pytest.fixture
def demo(session: Session) -> Session:
    import_demo_divisions(session)
    session.commit()
    return session


def data_rows(path: Path) -> int:
    with open(path, encoding="utf-8") as file:
        return sum(1 for line in file if line.strip()) - 1


def division_count(session: Session, level: int | None = None) -> int:
    query = select(func.count()).select_from(DivisionModel)
    if level is not None:
        query = query.where(DivisionModel.level == level)
    return session.scalar(query)


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_level_of() -> None:
    assert [level_of(code) for code in ("11", "1101", "110101", "110101001", VILLAGE)] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="2, 4, 6, 9 or 12 digits"):
        level_of("1101011")
    with pytest.raises(ValueError, match="digits"):
        level_of("11a1")


def test_import_demo_files_counts_match_the_files(session: Session) -> None:
    expected = {level: data_rows(DEMO_DIVISIONS_DIR / name) for level, name in enumerate(DEMO_FILES, start=1)}
    assert expected[1] == 31
    total = import_demo_divisions(session)
    session.commit()
    assert total == sum(expected.values())
    assert division_count(session) == total
    for level, count in expected.items():
        assert division_count(session, level) == count


def test_import_returns_the_row_count_of_one_file(session: Session) -> None:
    assert import_divisions(session, DEMO_DIVISIONS_DIR / "provinces.csv") == 31


def test_path_of_a_village_has_five_levels(demo: Session) -> None:
    path = path_of(demo, VILLAGE)
    assert [division.level for division in path] == [1, 2, 3, 4, 5]
    assert [division.code for division in path] == ["11", "1101", "110101", "110101001", VILLAGE]
    assert path[-1].parent_code == path[-2].code
    assert path[0].parent_code is None


def test_path_of_an_unknown_code_is_empty(demo: Session) -> None:
    assert path_of(demo, "110101001999") == []


def test_full_name(demo: Session) -> None:
    assert full_name(demo, VILLAGE) == "北京市东城区东华门街道多福巷社区居委会"
    assert full_name(demo, RURAL_VILLAGE) == "河北省保定市涞水县涞水镇南关村居民委员会"
    assert full_name(demo, "110101") == "北京市东城区"
    assert full_name(demo, "11") == "北京市"
    with pytest.raises(LookupError):
        full_name(demo, "999999")


def test_children(demo: Session) -> None:
    streets = children(demo, "110101")
    assert len(streets) == 17
    assert [street.code for street in streets] == sorted(street.code for street in streets)
    assert streets[0].name == "东华门街道"
    assert all(street.level == 4 and street.parent_code == "110101" for street in streets)
    towns = children(demo, "130623")
    assert any(town.name.endswith("镇") for town in towns)
    assert len(children(demo, None)) == 31
    assert children(demo, VILLAGE) == []


def test_get_division(demo: Session) -> None:
    division = get_division(demo, "130623")
    assert division is not None
    assert (division.name, division.level, division.parent_code) == ("涞水县", 3, "1306")
    assert get_division(demo, "999999") is None


def test_reimport_is_idempotent(demo: Session) -> None:
    before = division_count(demo)
    assert import_demo_divisions(demo) == before
    demo.commit()
    assert division_count(demo) == before


def test_reimport_replaces_an_existing_name(demo: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "provinces.csv", "code,name", '11,"北京"')
    assert import_divisions(demo, path) == 1
    demo.commit()
    demo.expire_all()
    assert get_division(demo, "11").name == "北京"


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        ('11010100100,"短代码村",110101001,11,1101,110101', "12 位数字"),
        ('110101002001,"错挂村",110101001,11,1101,110101', "不以其上级代码 streetCode"),
        ('110101001099,"",110101001,11,1101,110101', "名称不能为空"),
        ('110101001099,"少一列",110101001,11,1101', "列"),
        ('110101001001,"重复村",110101001,11,1101,110101', "重复"),
    ],
)
def test_bad_village_row_raises_and_writes_nothing(
    session: Session, tmp_path: Path, bad_row: str, problem: str
) -> None:
    path = write_csv(
        tmp_path / "villages.csv",
        "code,name,streetCode,provinceCode,cityCode,areaCode",
        '110101001001,"多福巷社区居委会",110101001,11,1101,110101',
        '110101001002,"银闸社区居委会",110101001,11,1101,110101',
        bad_row,
    )
    with pytest.raises(ValueError, match=problem) as raised:
        import_divisions(session, path)
    if problem != "重复":
        assert "第 4 行" in str(raised.value)
    assert division_count(session) == 0


def test_bad_row_in_a_later_batch_writes_nothing(session: Session, tmp_path: Path) -> None:
    # More rows than one batch, spread over several townships since a township has at most 999 villages.
    streets = [f"1101010{n // 999 + 1:02d}" for n in range(5001)]
    good = [f'{street}{n % 999 + 1:03d},"村{n}",{street},11,1101,110101' for n, street in enumerate(streets)]
    path = write_csv(
        tmp_path / "villages.csv",
        "code,name,streetCode,provinceCode,cityCode,areaCode",
        *good,
        '120101001001,"外省村",110101001,11,1101,110101',
    )
    with pytest.raises(ValueError, match="第 5003 行"):
        import_divisions(session, path)
    assert division_count(session) == 0


def test_unknown_header_is_rejected(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "divisions.csv", "code,name,parent", '11,"北京市",')
    with pytest.raises(ValueError, match="无法识别的表头"):
        import_divisions(session, path)
    assert division_count(session) == 0


def test_gzip_file_is_imported(session: Session, tmp_path: Path) -> None:
    source = DEMO_DIVISIONS_DIR / "streets.csv"
    path = tmp_path / "streets.csv.gz"
    with open(source, "rb") as plain, gzip.open(path, "wb") as compressed:
        shutil.copyfileobj(plain, compressed)
    assert import_divisions(session, path) == data_rows(source)
    assert get_division(session, "130623100").name == "涞水镇"
