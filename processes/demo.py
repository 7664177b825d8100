"""Demo divisions, accounts and cases for the embedded default (one password for every demo account)."""

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processes import applying, casework, roles
from processes.jurisdiction import may_act
from services import accounts, applications, divisions, identity

DEMO_PASSWORD = "Demo@2026"
HUKOU_VILLAGE = "110101001001"  # 东城区东华门街道多福巷社区居委会
RESIDENCE_VILLAGE = "110101001002"  # 东城区东华门街道银闸社区居委会
OTHER_VILLAGE = "110101001005"  # 东城区东华门街道东厂社区居委会
TOWNSHIP = "110101001"  # 东城区东华门街道

DEMO_USERS = (
    ("13800000001", "张丽", roles.CITIZEN, None),
    ("13800000002", "王芳", roles.CITIZEN, None),
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


# Two couples: 张丽 and 刘强 registered their first child and apply for the second; 王芳 and 李建国 for their first.
DEMO_COUPLES = {
    "13800000001": (
        {"name": "张丽", "id_number": "110101199303071227", "ethnicity": "01"},
        {"name": "刘强", "id_number": "110101199105121211", "ethnicity": "01"},
        HUKOU_VILLAGE, RESIDENCE_VILLAGE,
    ),
    "13800000002": (
        {"name": "王芳", "id_number": "110101199508160223", "ethnicity": "03"},
        {"name": "李建国", "id_number": "110101199202020113", "ethnicity": "01"},
        HUKOU_VILLAGE, HUKOU_VILLAGE,
    ),
}
FIRST_CHILD = {"name": "刘小雨", "sex": "2", "birth_date": date(2024, 5, 1), "document_number": "O110456789",
               "relation": "both"}


def _answers(phone: str, children: list[dict]) -> dict:
    woman, man, hukou, residence = DEMO_COUPLES[phone]

    def spouse(given: dict) -> dict:
        parsed = identity.parse(given["id_number"])
        return {**given, "birth_date": parsed.birth_date, "phone": phone, "employer": "北京市东城区某单位",
                "employer_phone": "010-65120000", "marital_status": "21", "hukou_division": hukou,
                "residence_division": residence}

    return {"woman": spouse(woman), "man": spouse(man), "after_birth": False, "children": children}


def _apply(session: Session, citizen: accounts.UserModel, case_type: str, children: list[dict]):
    draft = applications.start(session, citizen.id, case_type)
    return applying.submit(session, citizen, draft.token, _answers(citizen.phone, children))


def _decide_all(session: Session, case, users: dict, decision: str, *roles_deciding: str) -> None:
    for task in casework.open_tasks(session, case):
        if task.role in roles_deciding:
            worker = next(u for u in users.values()
                          if may_act(u.role, u.division_code, task.role, task.division_code))
            casework.decide(session, task.task_guid, worker, decision)


def load(session: Session) -> str:
    """Load demo divisions, accounts and cases: one registered, one in parallel verification, one awaiting audit."""
    if session.scalar(select(func.count()).select_from(divisions.DivisionModel)) == 0:
        divisions.import_demo_divisions(session)
    users = {}
    for phone, name, role, division in DEMO_USERS:
        users[phone] = accounts.find_by_phone(session, phone) or accounts.create_user(
            session, phone=phone, name=name, role=role, password=DEMO_PASSWORD, division_code=division)
        if phone in DEMO_COUPLES:
            accounts.bind_id_number(users[phone], DEMO_COUPLES[phone][0]["id_number"])
    zhang, wang = users["13800000001"], users["13800000002"]
    registered = _apply(session, zhang, "first_child", [])
    _decide_all(session, registered, users, "verified", roles.VILLAGE_STAFF)
    _decide_all(session, registered, users, "approved", roles.TOWNSHIP_STAFF)
    waiting = _apply(session, zhang, "second_child", [FIRST_CHILD])
    audited = _apply(session, wang, "first_child", [])
    _decide_all(session, audited, users, "verified", roles.VILLAGE_STAFF)
    return (f"演示数据已载入：{len(DEMO_USERS)} 个账号（密码 {DEMO_PASSWORD}），"
            f"案件 {registered.case_number}（登记成功）、{waiting.case_number}（待村居核实）、"
            f"{audited.case_number}（待乡镇审核）")
