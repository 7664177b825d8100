"""A small resource base made through the real flows, for the resource-base tests (processes, web, API, browser).

Three couples, applied for by their own citizen accounts and verified (or not) by the village staff of their cases,
so that the person records are exactly what services.people.confirm_claim made of the claims:

- A: 张丽 and 刘强 of 多福巷社区 (东华门街道). Their first child was registered (both villages verified, the
  township approved); their second-child application, with one child, a new phone and employer for 张丽, was
  verified by the hukou village, which changed her record (history: phone and employer, old → new).
- B: 张芳 of 隆福寺社区 (景山街道) and 张伟, whose own hukou and residence are in 河北涞水 (130623100001):
  he is visible in 110101 only through their case. Verified by 隆福寺's staff.
- C: 孙梅 and 周杰 of 东厂社区, applied, not verified yet: their records hold only what the ID numbers say.
"""

from types import SimpleNamespace

from processes import applying
from processes.roles import (
    CITIZEN,
    POLICY_ADMIN,
    SERVICE_HALL,
    SYSTEM_ADMIN,
    TOWNSHIP_STAFF,
    VILLAGE_STAFF,
)
from services import accounts, applications, people
from tests.applications import MAN_ID, WOMAN_ID, answers, spouse
from tests.fixtures import PASSWORD, decide, forget
from tests.identities import id_number

A_VILLAGE = "110101001001"  # 多福巷社区 (the hukou village of the demo `people`)
A_RESIDENCE = "110101001002"  # 银闸社区
B_VILLAGE = "110101002001"  # 隆福寺社区, 景山街道
B_MAN_HOME = "130623100001"  # 河北省涞水县涞水镇南关村
C_VILLAGE = "110101001005"  # 东厂社区 (the `other` village of the demo `people`)

B_WOMAN_ID = id_number("19950816", "2", serial=33)
B_MAN_ID = id_number("19920202", "1", serial=45)
C_WOMAN_ID = id_number("19970101", "2", area="110102", serial=7)
C_MAN_ID = id_number("19960606", "1", area="110102", serial=8)
A_NEW_PHONE = "13700000009"
B_MAN_PHONE = "13600000002"


def _apply(session, citizen, case_type, given):
    draft = applications.start(session, citizen.id, case_type)
    case = applying.submit(session, citizen, draft.token, given)
    session.commit()
    return case


def build(session, people_, deployed) -> SimpleNamespace:  # noqa: ARG001 - the diagrams must be deployed
    """Make the three couples and the staff around them; return them by name (see the module docstring)."""
    def make(phone, name, role, division):
        return accounts.create_user(session, phone=phone, name=name, role=role, password=PASSWORD,
                                    division_code=division)

    crew = people_
    crew.zhang = make("13800000002", "张芳", CITIZEN, None)
    crew.sun = make("13800000003", "孙梅", CITIZEN, None)
    crew.longfu = make("13900000004", "钱隆福", VILLAGE_STAFF, B_VILLAGE)
    crew.jingshan = make("13900000012", "景山街", TOWNSHIP_STAFF, B_VILLAGE[:9])
    crew.hall = make("13900000011", "刘大厅", SERVICE_HALL, A_VILLAGE[:9])
    crew.policy = make("13900000030", "周流程", POLICY_ADMIN, "11")
    crew.admin = make("13900000040", "吴系统", SYSTEM_ADMIN, "11")
    session.commit()

    first = _apply(session, crew.citizen, "first_child", answers())
    first = decide(session, first, "verify_hukou", crew.hukou, "verified")
    first = decide(session, first, "verify_residence", crew.residence, "verified")
    first = decide(session, first, "township_audit", crew.township, "approved")
    given = answers(children=1)
    given["woman"].update(phone=A_NEW_PHONE, employer="东城区某医院")
    second = _apply(session, crew.citizen, "second_child", given)
    second = decide(session, second, "verify_hukou", crew.hukou, "verified")

    couple_b = {"woman": spouse(B_WOMAN_ID, "张芳", hukou=B_VILLAGE, residence=B_VILLAGE, phone="13800000002"),
                "man": spouse(B_MAN_ID, "张伟", hukou=B_MAN_HOME, residence=B_MAN_HOME, phone=B_MAN_PHONE,
                              ethnicity="03"),
                "after_birth": False, "children": []}
    b_case = _apply(session, crew.zhang, "first_child", couple_b)
    b_case = decide(session, b_case, "verify_both", crew.longfu, "verified")

    couple_c = {"woman": spouse(C_WOMAN_ID, "孙梅", hukou=C_VILLAGE, residence=C_VILLAGE, phone="13800000003"),
                "man": spouse(C_MAN_ID, "周杰", hukou=C_VILLAGE, residence=C_VILLAGE, phone="13500000003"),
                "after_birth": False, "children": []}
    c_case = _apply(session, crew.sun, "first_child", couple_c)
    made = {key: SimpleNamespace(id=case.id, case_number=case.case_number)  # plain values outlive the session
            for key, case in (("a1", first), ("a2", second), ("b", b_case), ("c", c_case))}

    forget(session)
    persons = {key: people.find_person(session, number) for key, number in (
        ("zhang_li", WOMAN_ID), ("liu_qiang", MAN_ID), ("zhang_fang", B_WOMAN_ID), ("zhang_wei", B_MAN_ID),
        ("sun_mei", C_WOMAN_ID), ("zhou_jie", C_MAN_ID))}
    for user in vars(crew).values():  # loaded again, so they stay readable when detached
        session.refresh(user)
    session.commit()
    return SimpleNamespace(people=crew, cases=made,
                           ids={key: person.id for key, person in persons.items()}, persons=persons)
