"""China's statistical administrative divisions (统计用区划代码): model, import and lookups."""

import csv
import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from sqlalchemy import CheckConstraint, ColumnElement, SmallInteger, String, and_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base

DEMO_DIVISIONS_DIR = Path(__file__).parent / "data" / "divisions"
DEMO_FILES = ("provinces.csv", "cities.csv", "areas.csv", "streets.csv", "villages.csv")

LEVEL_NAMES = {1: "省", 2: "市", 3: "县", 4: "乡镇（街道）", 5: "村（居）"}
CODE_LENGTHS = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
_LEVEL_BY_LENGTH = {length: level for level, length in CODE_LENGTHS.items()}


def next_prefix(prefix: str) -> str | None:
    """Return the smallest digit string of the same length above `prefix` ("119" -> "120"); None for all nines."""
    digits = prefix.rstrip("9")
    if not digits:
        return None
    return digits[:-1] + str(int(digits[-1]) + 1) + "0" * (len(prefix) - len(digits))


def within(column, prefix: str) -> ColumnElement[bool]:
    """Return "the division code in `column` starts with `prefix`" as a range an ordinary btree index can serve.

    Every code starting with the digits P lies in [P, P+1), where P+1 is the same-length digit string one greater
    ("110101001" -> "110101002", "1109" -> "1110"), and every other digit code lies outside it. Unlike
    `LIKE 'P%'`, which PostgreSQL can only serve from an index under the C collation or with text_pattern_ops,
    the range uses the plain index on any collation. The upper bound is the incremented prefix rather than
    prefix + ':' (':' follows '9' in ASCII) because linguistic collations may ignore punctuation when comparing;
    pure digit strings compare the same under every collation.
    """
    upper = next_prefix(prefix)
    lower_bound = column >= prefix
    return lower_bound if upper is None else and_(lower_bound, column < upper)

# The header of each official file, and the ancestor column each level names (its parent is the last one).
HEADERS: dict[tuple[str, ...], int] = {
    ("code", "name"): 1,
    ("code", "name", "provinceCode"): 2,
    ("code", "name", "cityCode", "provinceCode"): 3,
    ("code", "name", "areaCode", "provinceCode", "cityCode"): 4,
    ("code", "name", "streetCode", "provinceCode", "cityCode", "areaCode"): 5,
}
_ANCESTOR_COLUMNS = {"provinceCode": 1, "cityCode": 2, "areaCode": 3, "streetCode": 4}

# City-level names people leave out when writing an address (北京市东城区, not 北京市市辖区东城区).
_OMITTED_CITY_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})

NAME_MAX_LENGTH = 100
BATCH_SIZE = 5000


class DivisionModel(Base):
    """One administrative division, from province (level 1) down to village (level 5)."""

    __tablename__ = "division"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 5", name="level"),)

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)

    def __repr__(self) -> str:
        return f"DivisionModel(code={self.code!r}, name={self.name!r}, level={self.level})"


def level_of(code: str) -> int:
    """Return the level (1 province … 5 village) of a division code from its length."""
    level = _LEVEL_BY_LENGTH.get(len(code))
    if level is None or not code.isascii() or not code.isdigit():
        raise ValueError(f"invalid division code {code!r}: expected 2, 4, 6, 9 or 12 digits")
    return level


def _open_text(path: Path) -> TextIO:
    """Open a plain or gzip-compressed CSV file as text, telling them apart by the gzip magic number."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    # utf-8-sig: files saved from Excel start with a byte order mark.
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _is_code(value: str, level: int) -> bool:
    return len(value) == CODE_LENGTHS[level] and value.isascii() and value.isdigit()


def _read_divisions(path: Path) -> Iterator[dict[str, str | int | None]]:
    """Yield the validated rows of an official division file, raising ValueError at the first bad one."""
    with _open_text(path) as file:
        reader = csv.reader(file)
        header = tuple(field.strip() for field in next(reader, ()))
        level = HEADERS.get(header)
        if level is None:
            expected = "；".join(",".join(known) for known in HEADERS)
            raise ValueError(f"{path.name}：无法识别的表头「{','.join(header)}」，应为以下之一：{expected}")
        ancestors = [(index, column, _ANCESTOR_COLUMNS[column]) for index, column in enumerate(header[2:], start=2)]
        parent_index = next((index for index, _, ancestor in ancestors if ancestor == level - 1), None)
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            where = f"{path.name} 第 {reader.line_num} 行"
            if len(fields) != len(header):
                raise ValueError(f"{where}：应有 {len(header)} 列，实际为 {len(fields)} 列")
            values = [field.strip() for field in fields]
            code, name = values[0], values[1]
            if not _is_code(code, level):
                raise ValueError(
                    f"{where}：代码「{code}」无效，{LEVEL_NAMES[level]}级代码应为 {CODE_LENGTHS[level]} 位数字"
                )
            if not name:
                raise ValueError(f"{where}：名称不能为空")
            if len(name) > NAME_MAX_LENGTH:
                raise ValueError(f"{where}：名称超过 {NAME_MAX_LENGTH} 个字符")
            for index, column, ancestor in ancestors:
                value = values[index]
                if not _is_code(value, ancestor):
                    raise ValueError(f"{where}：{column}「{value}」无效，应为 {CODE_LENGTHS[ancestor]} 位数字")
                if not code.startswith(value):
                    raise ValueError(f"{where}：代码「{code}」不以其上级代码 {column}「{value}」开头")
            yield {
                "code": code,
                "name": name,
                "level": level,
                "parent_code": None if parent_index is None else values[parent_index],
            }


def read_division_file(path: Path | str) -> Iterator[dict[str, str | int | None]]:
    """Yield the rows (code, name, level, parent_code) of an official division file, checked as on import."""
    return _read_divisions(Path(path))


def _validate(path: Path) -> int:
    """Validate a whole division file without writing and return its number of rows."""
    # Duplicates must be rejected up front: PostgreSQL refuses to upsert the same key twice in one statement.
    seen: set[int] = set()  # ints take about half the memory of 620,000 code strings
    for row in _read_divisions(path):
        number = int(row["code"])
        if number in seen:
            raise ValueError(f"{path.name}：代码「{row['code']}」重复出现")
        seen.add(number)
    return len(seen)


def _upsert(session: Session, batch: list[dict[str, str | int | None]]) -> None:
    """Insert a batch of divisions, replacing those whose code already exists."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql_insert(DivisionModel.__table__)
    elif dialect == "sqlite":
        stmt = sqlite_insert(DivisionModel.__table__)
    else:
        raise NotImplementedError(f"division import supports PostgreSQL and SQLite, not {dialect}")
    stmt = stmt.on_conflict_do_update(
        index_elements=[DivisionModel.code],
        set_={"name": stmt.excluded.name, "level": stmt.excluded.level, "parent_code": stmt.excluded.parent_code},
    )
    session.execute(stmt, batch)


def import_divisions(session: Session, path: Path | str) -> int:
    """Upsert the divisions of one official file (.csv or .csv.gz) and return the number of rows.

    The level comes from the header. The whole file is validated before the first write, so a bad file writes
    nothing; it is read twice rather than held in memory because the village file has 620,000 rows. The rows are
    written with Core statements, so divisions already loaded in the session keep their old values until expired.
    The session is flushed, not committed.
    """
    path = Path(path)
    count = _validate(path)
    # Pending ORM changes go first, so the Core statements below see them.
    session.flush()
    batch: list[dict[str, str | int | None]] = []
    for row in _read_divisions(path):
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            _upsert(session, batch)
            batch = []
    if batch:
        _upsert(session, batch)
    return count


def import_demo_divisions(session: Session) -> int:
    """Import the bundled demo divisions (every province, city and county; two counties' townships and villages)."""
    return sum(import_divisions(session, DEMO_DIVISIONS_DIR / name) for name in DEMO_FILES)


def get_division(session: Session, code: str) -> DivisionModel | None:
    """Return the division with this code, or None."""
    return session.get(DivisionModel, code)


def children(session: Session, code: str | None) -> list[DivisionModel]:
    """Return the divisions directly under `code` ordered by code; the provinces when `code` is None."""
    parent = DivisionModel.parent_code.is_(None) if code is None else DivisionModel.parent_code == code
    return list(session.scalars(select(DivisionModel).where(parent).order_by(DivisionModel.code)))


def path_of(session: Session, code: str) -> list[DivisionModel]:
    """Return the divisions from the province down to `code` itself; empty when the code is unknown."""
    level = level_of(code)
    prefixes = [code[: CODE_LENGTHS[ancestor]] for ancestor in range(1, level + 1)]
    divisions = list(
        session.scalars(select(DivisionModel).where(DivisionModel.code.in_(prefixes)).order_by(DivisionModel.level))
    )
    if not divisions or divisions[-1].code != code:
        return []
    return divisions


def full_name(session: Session, code: str) -> str:
    """Return the division's full name as written in an address, e.g. 北京市东城区东华门街道多福巷社区居委会."""
    divisions = path_of(session, code)
    if not divisions:
        raise LookupError(f"unknown division code {code!r}")
    return "".join(
        division.name for division in divisions if not (division.level == 2 and division.name in _OMITTED_CITY_NAMES)
    )


def full_names(session: Session, codes: Iterable[str | None], near: str | None = None) -> dict[str, str]:
    """Return the full name of each known code, reading every division the names need at once.

    Lists name many places per page; one query for all of them instead of one per row. With `near` (the reader's
    own division), the levels a code shares with it are left out, as a reader working there says them: for staff
    of 多福巷社区, 银闸社区居委会 rather than 北京市东城区东华门街道银闸社区居委会; a code that is `near` itself, or
    lies inside it, keeps at least its own name.
    """
    wanted = {code for code in codes if code and code.isascii() and code.isdigit() and len(code) in _LEVEL_BY_LENGTH}
    prefixes = sorted({code[:CODE_LENGTHS[level]] for code in wanted for level in range(1, level_of(code) + 1)})
    found: dict[str, str] = {}
    for start in range(0, len(prefixes), BATCH_SIZE):
        found.update(session.execute(select(DivisionModel.code, DivisionModel.name).where(
            DivisionModel.code.in_(prefixes[start:start + BATCH_SIZE]))).all())
    names = {}
    for code in wanted:
        if code not in found:
            continue
        path = [prefix for length in CODE_LENGTHS.values() if length <= len(code)
                and (prefix := code[:length]) in found]
        if near:
            path = [prefix for prefix in path if not near.startswith(prefix)] or path[-1:]
        names[code] = "".join(found[prefix] for prefix in path
                              if not (len(prefix) == CODE_LENGTHS[2] and found[prefix] in _OMITTED_CITY_NAMES))
    return names


def township_office(session: Session, village_code: str) -> str:
    """Return the health office of the township over a village, e.g. 北京市东城区东华门街道卫生健康办公室."""
    try:
        return f"{full_name(session, village_code[:9])}卫生健康办公室"
    except LookupError:
        return "乡镇（街道）卫生健康办公室"
