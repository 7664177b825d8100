"""Division names for lists: many codes named in one query, near the reader's own division or in full."""

from sqlalchemy import event

from services import divisions
from services.db import db


def test_names_come_in_one_query_and_leave_out_what_the_reader_shares(session):
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731 - a counter for this test only
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        names = divisions.full_names(session, ["110101001001", "110101001002", "130623100001", "110101001", None,
                                               "", "abc", "110101999999", "1101010010010"])
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len([s for s in seen if s.startswith("SELECT")]) == 1
    assert names == {
        "110101001001": "北京市东城区东华门街道多福巷社区居委会",
        "110101001002": "北京市东城区东华门街道银闸社区居委会",
        "130623100001": "河北省保定市涞水县涞水镇南关村居民委员会",
        "110101001": "北京市东城区东华门街道",
    }, "unknown and malformed codes are left out; 市辖区 is not written"
    assert names["110101001001"] == divisions.full_name(session, "110101001001")

    near = divisions.full_names(session, ["110101001001", "110101001002", "130623100001", "110101001"],
                                near="110101001001")
    assert near == {"110101001001": "多福巷社区居委会", "110101001002": "银闸社区居委会",
                    "130623100001": "河北省保定市涞水县涞水镇南关村居民委员会", "110101001": "东华门街道"}
    county = divisions.full_names(session, ["110101001001"], near="110101")
    assert county == {"110101001001": "东华门街道多福巷社区居委会"}
    assert divisions.full_names(session, []) == {}
