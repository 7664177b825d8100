"""Synthetic cases for statistics at province scale: realistic spreads over real village codes, ages, ethnic groups,
statuses and processing times, written in bulk straight into `birth_case` (no process instances).

The numbers are plausible, not official: first children slightly more than half of the registrations, mothers
around 29 to 33 by parity, fathers a little older, most people Han with each province's larger minorities, a few
villages far busier than most, fewer submissions at weekends, most cases done within a few working days.
"""

import itertools
import random
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from engine.calendar import CST, WorkCalendar
from services import accounts
from services.case_timing import WorkingDays
from services.cases import PARITY_OF_TYPE, CaseModel
from services.crypto import blind

BATCH_SIZE = 5000
SYNTHETIC_PHONE = "10000000000"  # not a mobile number: nobody can sign in with it
TYPE_WEIGHTS = {"first_child": 0.52, "second_child": 0.38, "third_child": 0.10}
PROCESS_OF_TYPE = {"first_child": "birth_registration", "second_child": "birth_registration",
                   "third_child": "third_child_approval"}
MOTHER_AGE_MEAN = {"first_child": 28.5, "second_child": 31.5, "third_child": 33.5}
# Larger minorities by province (GB/T 3304 code: share); the rest of the people are Han (01).
MINORITIES = {
    "11": {"03": 0.02, "11": 0.02, "02": 0.005}, "13": {"11": 0.03, "03": 0.01, "02": 0.005},
    "15": {"02": 0.17, "11": 0.02, "03": 0.01, "31": 0.003}, "21": {"11": 0.12, "10": 0.02, "02": 0.02},
    "22": {"10": 0.04, "11": 0.03}, "23": {"11": 0.02, "10": 0.01}, "43": {"15": 0.04, "06": 0.03, "12": 0.01},
    "45": {"08": 0.32, "13": 0.03, "06": 0.01}, "46": {"19": 0.15}, "50": {"15": 0.05, "06": 0.02},
    "51": {"07": 0.03, "04": 0.02, "33": 0.004}, "52": {"06": 0.12, "09": 0.07, "12": 0.04, "37": 0.02},
    "53": {"07": 0.11, "14": 0.03, "16": 0.04, "18": 0.03, "08": 0.03, "06": 0.03},
    "54": {"04": 0.9}, "62": {"03": 0.05, "26": 0.02, "04": 0.02}, "63": {"04": 0.24, "03": 0.15, "30": 0.04},
    "64": {"03": 0.36}, "65": {"05": 0.45, "17": 0.07, "03": 0.04},
}
OTHER_MINORITIES = {"03": 0.005, "11": 0.005, "08": 0.002, "15": 0.002}


def _status_and_completion(rng: random.Random, case_type: str, submitted: datetime, calendar: WorkCalendar,
                           now: datetime) -> tuple[str, datetime | None]:
    """Draw how far a case got: done after some working days (if that lies before `now`), or still open."""
    days = rng.choices((0, 1, 2, 3, 4, 5, 7, 10, 15), (8, 22, 28, 20, 9, 6, 4, 2, 1))[0]
    if days == 0:
        end_of_day = datetime.combine(submitted.astimezone(CST).date(), time(18), tzinfo=CST)
        completed = submitted + (end_of_day - submitted) * rng.random() if end_of_day > submitted else submitted
    else:
        day = calendar.deadline(submitted, days).astimezone(CST).date()
        completed = datetime.combine(day, time(9), tzinfo=CST) + timedelta(minutes=rng.randrange(8 * 60))
    approved = rng.random() < 0.95
    if completed > now:
        return rng.choices(("办理中", "核实有误", "待现场确认"), (85, 8, 7))[0], None
    if case_type == "third_child":
        return ("已批准" if approved else "不予批准"), completed
    return ("登记成功" if approved else "不予登记"), completed


def _ethnicity(rng: random.Random, province: str) -> str:
    shares = MINORITIES.get(province, OTHER_MINORITIES)
    draw = rng.random()
    for code, share in shares.items():
        if draw < share:
            return code
        draw -= share
    return "01"


def synthetic_applicant(session: Session) -> int:
    """Return the id of the account the synthetic cases are filed under (created, unable to sign in, if missing)."""
    found = session.scalar(select(accounts.UserModel.id).where(accounts.UserModel.phone_hash == blind(SYNTHETIC_PHONE)))
    if found is not None:
        return found
    user = accounts.UserModel(phone=SYNTHETIC_PHONE, name="统计样本", role="citizen", password_hash="!")  # noqa: S106 - matches no password
    session.add(user)
    session.flush()
    return user.id


def generate(session: Session, count: int, villages: Sequence[str], *, start: datetime, end: datetime,
             calendar: WorkCalendar, now: datetime, seed: int = 2026) -> int:
    """Insert `count` synthetic cases registered in `villages` (12-digit codes), submitted in [start, end).

    Returns the number written; flushed in batches, not committed.
    """
    if count < 1 or not villages:
        return 0
    rng = random.Random(seed)
    working_days = WorkingDays(calendar)
    applicant = synthetic_applicant(session)
    # A few busy places and many quiet ones: each village's weight is log-normal.
    weights = list(itertools.accumulate(rng.lognormvariate(0, 1) for _ in villages))
    type_weights = list(itertools.accumulate(TYPE_WEIGHTS.values()))
    first_number = (session.scalar(select(func.count()).select_from(CaseModel)) or 0) + 1
    span = (end - start).total_seconds()
    batch: list[dict] = []
    written = 0
    for offset in range(count):
        case_type = rng.choices(tuple(TYPE_WEIGHTS), cum_weights=type_weights)[0]
        submitted = start + timedelta(seconds=rng.random() * span)
        while submitted.astimezone(CST).weekday() >= 5 and rng.random() < 0.7:  # fewer at weekends
            submitted = start + timedelta(seconds=rng.random() * span)
        hukou = rng.choices(villages, cum_weights=weights)[0]
        residence = hukou if rng.random() < 0.8 else rng.choice(villages)
        mother_age = max(18, min(49, round(rng.gauss(MOTHER_AGE_MEAN[case_type], 4))))
        father_age = max(20, min(60, mother_age + round(rng.gauss(2, 3))))
        mother_ethnicity = _ethnicity(rng, hukou[:2])
        father_ethnicity = mother_ethnicity if rng.random() < 0.85 else _ethnicity(rng, hukou[:2])
        status, completed = _status_and_completion(rng, case_type, submitted, calendar, now)
        number = first_number + offset
        batch.append({
            "case_number": f"{submitted.astimezone(CST):%Y%m%d}{number:010d}", "case_type": case_type,
            "process_key": PROCESS_OF_TYPE[case_type], "status": status, "applicant_id": applicant,
            "woman_name": "样本女方", "man_name": "样本男方", "contact_phone": SYNTHETIC_PHONE,
            "hukou_division": hukou, "residence_division": residence, "submitted_at": submitted,
            "status_changed_at": completed or submitted, "completed_at": completed,
            "parity": PARITY_OF_TYPE[case_type], "mother_age": mother_age, "father_age": father_age,
            "mother_ethnicity": mother_ethnicity, "father_ethnicity": father_ethnicity,
            **(working_days.stamp(submitted, completed) if completed else
               {"processing_days": None, "on_time_within": None}),
        })
        if len(batch) >= BATCH_SIZE:
            session.execute(insert(CaseModel), batch)
            written += len(batch)
            batch = []
    if batch:
        session.execute(insert(CaseModel), batch)
        written += len(batch)
    return written


def villages_in(session: Session, prefix: str) -> list[str]:
    """Return the codes of the villages (level 5) in the division table under `prefix`."""
    from services.divisions import DivisionModel

    return list(session.scalars(select(DivisionModel.code).where(
        DivisionModel.level == 5, DivisionModel.code.startswith(prefix, autoescape=True)).order_by(DivisionModel.code)))
