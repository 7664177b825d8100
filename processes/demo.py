"""Demo divisions, accounts and cases for the embedded default (one password for every demo account)."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processes import casework, roles
from services import accounts, divisions

DEMO_PASSWORD = "Demo@2026"
HUKOU_VILLAGE = "110101001001"  # 东城区东华门街道多福巷社区居委会
RESIDENCE_VILLAGE = "110101001002"  # 东城区东华门街道银闸社区居委会
OTHER_VILLAGE = "110101001005"  # 东城区东华门街道东厂社区居委会
TOWNSHIP = "110101001"  # 东城区东华门街道

DEMO_USERS = (
    ("13800000001", "张丽", roles.CITIZEN, None),
    ("13900000001", "李多福", roles.VILLAGE_STAFF, HUKOU_VILLAGE),
    ("13900000002", "王银闸", roles.VILLAGE_STAFF, RESIDENCE_VILLAGE),
    ("13900000003", "赵东厂", roles.VILLAGE_STAFF, OTHER_VILLAGE),
    ("13900000010", "陈街道", roles.TOWNSHIP_STAFF, TOWNSHIP),
    ("13900000011", "刘大厅", roles.SERVICE_HALL, TOWNSHIP),
    ("13900000020", "孙区县", roles.COUNTY_OFFICIAL, "110101"),
    ("13900000030", "周流程", roles.POLICY_ADMIN, "11"),
    ("13900000040", "吴系统", roles.SYSTEM_ADMIN, "11"),
)


def is_loaded(session: Session) -> bool:
    """Return whether the demo accounts exist."""
    return accounts.find_by_phone(session, DEMO_USERS[0][0]) is not None


def load(session: Session) -> str:
    """Load demo divisions, accounts and two cases (one in parallel verification, one awaiting audit)."""
    if session.scalar(select(func.count()).select_from(divisions.DivisionModel)) == 0:
        divisions.import_demo_divisions(session)
    users = {}
    for phone, name, role, division in DEMO_USERS:
        users[phone] = accounts.find_by_phone(session, phone) or accounts.create_user(
            session, phone=phone, name=name, role=role, password=DEMO_PASSWORD, division_code=division)
    citizen = users["13800000001"]
    waiting = casework.submit(
        session, citizen, case_type="first_child", woman_name="张丽", man_name="刘强", contact_phone=citizen.phone,
        hukou_division=HUKOU_VILLAGE, residence_division=RESIDENCE_VILLAGE,
    )
    audited = casework.submit(
        session, citizen, case_type="second_child", woman_name="张丽", man_name="刘强", contact_phone=citizen.phone,
        hukou_division=HUKOU_VILLAGE, residence_division=HUKOU_VILLAGE,
    )
    task = casework.open_tasks(session, audited)[0]
    casework.decide(session, task.task_guid, users["13900000001"], "verified")
    return (f"演示数据已载入：{len(DEMO_USERS)} 个账号（密码 {DEMO_PASSWORD}），"
            f"案件 {waiting.case_number}（待村居核实）、{audited.case_number}（待乡镇审核）")
