"""Citizens and staff over HTTP against a served stack (tests/services_harness.py): seeded accounts, citizens
submitting whole applications with four photos through the pages, staff deciding tasks through the JSON API or the
inbox and task pages, every request timed and its answer counted; then what the database (and the fake SMS service,
when there is one) holds, checked against what the clients saw.

Shared by the fault tests and the load benchmark.
"""

import random
import re
import secrets
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import func, select
from urllib3.util import Retry
from werkzeug.security import generate_password_hash

from engine.db import utcnow
from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE, TOWNSHIP
from processes.roles import CITIZEN, TOWNSHIP_STAFF, VILLAGE_STAFF
from services import accounts, api_tokens
from services.accounts import UserModel
from tests.identities import id_number
from tests.samples import photo

PASSWORD = "Load@2026"
FINAL_STATUS = "登记成功"
DECISIONS = {"village_verification": "verified", "township_audit": "approved"}
REQUIRED_MATERIALS = ("id_card", "hukou_book", "marriage_certificate", "couple_photo")
DECIDED_STEPS = {"verify_hukou", "verify_residence", "township_audit"}  # the path of two villages, then approval
SMS_TEMPLATES = {"application_submitted", "audit_approved"}
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_CASE_URL = re.compile(r"/my/cases/([0-9]+)$")


@dataclass
class Accounts:
    citizens: list[str]  # phones
    staff_tokens: list[str]  # API tokens of the hukou village, residence village and township staff, in turn
    staff_phones: list[str]  # the same accounts' phones, in the same order


def seed(stack, citizens: int, staff_per_office: int = 2, first: int = 0) -> Accounts:
    """Create `citizens` citizen accounts (phones 137…, numbered from `first`) and staff with API tokens."""
    shared_hash = generate_password_hash(PASSWORD)  # one scrypt for all: the sign-in still checks it per request
    phones = [f"137{number:08d}" for number in range(first, first + citizens)]
    tokens, staff_phones = [], []
    with stack.app_context() as session:
        for phone in phones:
            session.add(UserModel(phone=phone, name=f"市民{phone[-4:]}", role=CITIZEN, password_hash=shared_hash))
        offices = [(VILLAGE_STAFF, HUKOU_VILLAGE), (VILLAGE_STAFF, RESIDENCE_VILLAGE), (TOWNSHIP_STAFF, TOWNSHIP)]
        for seat in range(staff_per_office):  # seat by seat: three tokens in a row cover the three offices
            for office, (role, division) in enumerate(offices):
                phone = f"139{first + office:04d}{seat:04d}"
                user = accounts.find_by_phone(session, phone) or accounts.create_user(
                    session, phone=phone, name=f"工作人员{office}{seat}", role=role, password=PASSWORD,
                    division_code=division)
                tokens.append(api_tokens.issue_token(session, user, "负载与故障测试", days=1))
                staff_phones.append(phone)
        session.commit()
    return Accounts(phones, tokens, staff_phones)


def read_staff_code(stack, phone: str) -> str:
    """Return a live sign-in code for a staff phone, as its owner would read it from the SMS.

    The recording provider keeps the text masked, and the web workers' memory is out of reach: the newest code
    counts, so a code stored now for the phone is the one the sign-in accepts.
    """
    from services.crypto import blind
    from services.sms_codes import STAFF_LOGIN, SmsCodeModel

    code = f"{secrets.randbelow(10**6):06d}"
    with stack.app_context() as session:
        now = utcnow()
        session.add(SmsCodeModel(phone_hash=blind(phone), purpose=STAFF_LOGIN, code_hash=generate_password_hash(code),
                                 attempts=0, created_at=now, expires_at=now + timedelta(minutes=5)))
        session.commit()
    return code


@dataclass
class Tally:
    """Every answer the clients got: its kind, status (0: no answer at all) and duration."""

    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)
    cases: dict[str, str] = field(default_factory=dict)  # case number -> the phone that submitted it
    abandoned: list[str] = field(default_factory=list)
    completions: int = 0
    last_completion: float | None = None  # time.monotonic() of the latest completion
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, status: int, seconds: float, detail: str = "") -> None:
        with self._lock:
            self.timings[kind].append(seconds)
            self.statuses[kind][status] += 1
            if status == 0 or status >= 500:
                self.failures.append(f"{kind}: {status} {detail[:300]}")

    def server_errors(self) -> list[str]:
        return list(self.failures)

    def report(self) -> str:
        lines = [f"{'request':22s} {'count':>6s} {'p50 ms':>8s} {'p95 ms':>8s}  statuses"]
        for kind, values in sorted(self.timings.items()):
            ordered = sorted(values)
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            shown = ", ".join(f"{status}×{count}" for status, count in sorted(self.statuses[kind].items()))
            lines.append(f"{kind:22s} {len(values):6d} {statistics.median(values) * 1000:8.0f} "
                         f"{p95 * 1000:8.0f}  {shown}")
        return "\n".join(lines)


_TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL)


def _gist(response: requests.Response) -> str:
    """What an error answer says in a line: a page's title, or the start of any other body."""
    title = _TITLE.search(response.text)
    return f"{response.headers.get('Content-Type', '')} {title.group(1).strip() if title else response.text[:160]}"


class Client:
    """One browser or API client: a requests session whose every answer goes into the tally."""

    def __init__(self, base_url: str, tally: Tally, token: str | None = None):
        self.base_url, self.tally = base_url, tally
        self.http = requests.Session()
        # A keep-alive connection the server closes as a request goes out on it (gunicorn drops idle ones after a
        # few seconds) is reset: a browser sends an idempotent GET again on a new connection, and so does this
        # client; anything else, and any answer the server did give, counts as it came.
        self.http.mount(base_url, HTTPAdapter(max_retries=Retry(
            total=1, connect=1, read=1, other=0, status=0, allowed_methods=frozenset({"GET"}),
            raise_on_status=False)))
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, kind: str, method: str, path: str, **kwargs) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.http.request(method, self.base_url + path, allow_redirects=False, timeout=60, **kwargs)
        except requests.RequestException as exc:
            self.tally.note(kind, 0, time.perf_counter() - started, repr(exc))
            return None
        self.tally.note(kind, response.status_code, time.perf_counter() - started,
                        f"{method} {path}: {_gist(response)}" if response.status_code >= 500 else "")
        return response

    def page(self, kind: str, path: str) -> str | None:
        """GET a page; return its CSRF token (None if the page did not come)."""
        response = self.call(kind, "GET", path)
        if response is None or response.status_code != 200:
            return None
        found = _CSRF.search(response.text)
        return (found.group(1) or found.group(2)) if found else None


def _answers(number: int) -> dict[str, str]:
    """The application form of couple `number`: ID numbers no other couple of the run has."""
    day, month, serial = 1 + number % 28, 1 + number // 28 % 12, 1 + number // 336 % 99
    fields = {}
    for side, name, year, sex in (("woman", "张丽", 1993, "2"), ("man", "刘强", 1991, "1")):
        number_id = id_number(f"{year}{month:02d}{day:02d}", sex, serial=serial)
        fields.update({f"{side}-{key}": value for key, value in {
            "name": name, "id_number": number_id, "birth_date": f"{year}-{month:02d}-{day:02d}",
            "ethnicity": "01", "phone": "13800000001", "employer": "东城区某公司", "employer_phone": "010-12345678",
            "marital_status": "21", "hukou_division": HUKOU_VILLAGE, "residence_division": RESIDENCE_VILLAGE,
        }.items()})
    return fields


PHOTO = photo(1024, 768, noise=True)  # about what a phone sends after the page's resize: tens of kB


def _retrying(step, attempts: int = 4, pause: float = 1.0):
    """Run one step of a journey again when it got no useful answer, as a person reloads; None after `attempts`."""
    for _ in range(attempts):
        result = step()
        if result is not None:
            return result
        time.sleep(pause)
    return None


def citizen_journey(client: Client, phone: str, number: int) -> str | None:
    """Sign in, read the notice, open a draft, fill it, upload four photos, review and submit; return the case
    number (None when the journey could not finish)."""
    def signed_in():
        token = client.page("page: sign-in", "/auth/login")
        response = token and client.call("sign in", "POST", "/auth/login",
                                         data={"csrf_token": token, "phone": phone, "password": PASSWORD})
        return response if response is not None and response.status_code == 302 else None

    def notice_read():
        token = client.page("page: notice", "/apply")
        response = token and client.call("read notice", "POST", "/apply", data={"csrf_token": token, "read": "y"})
        return response if response is not None and response.status_code == 302 else None

    def draft_url():
        token = client.page("page: types", "/apply/types")
        response = token and client.call("new draft", "POST", "/apply/new/first_child", data={"csrf_token": token})
        return response.headers["Location"] if response is not None and response.status_code == 302 else None

    if not _retrying(signed_in) or not _retrying(notice_read):
        return None
    url = _retrying(draft_url)
    if url is None:
        return None
    application_token = url.rsplit("/", 1)[1]

    def answered():
        token = client.page("page: application", url)
        response = token and client.call("application form", "POST", url,
                                         data={"csrf_token": token, "action": "next", **_answers(number)})
        return response if response is not None and response.status_code == 302 else None

    def uploaded(kind):
        def step():
            token = client.page("page: materials", f"/apply/{application_token}/materials")
            response = token and client.call(
                "upload photo", "POST", f"/apply/{application_token}/materials",
                data={"csrf_token": token, "kind": kind}, headers={"Accept": "application/json"},
                files={"file": (f"{kind}.jpg", PHOTO, "image/jpeg")})
            return response if response is not None and response.status_code == 200 else None
        return step

    if not _retrying(answered) or not all(_retrying(uploaded(kind)) for kind in REQUIRED_MATERIALS):
        return None

    def submitted():
        # A second click after an error must land on the same case (the submit is idempotent per draft).
        token = client.page("page: review", f"/apply/{application_token}/review")
        response = token and client.call("submit", "POST", f"/apply/{application_token}/submit",
                                         data={"csrf_token": token})
        found = response is not None and response.status_code == 302 and \
            _CASE_URL.search(response.headers.get("Location", ""))
        return found.group(1) if found else None

    return _retrying(submitted)


def staff_round(client: Client) -> int:
    """Decide every task in one page of the inbox; return how many this client completed."""
    response = client.call("api: inbox", "GET", "/api/v1/tasks", params={"view": "todo", "page_size": 20})
    if response is None or response.status_code != 200:
        return 0
    completed = 0
    # Colleagues of one office see the same inbox: each takes its tasks in an order of its own, as people pick
    # different rows, rather than all racing for the first.
    items = response.json()["items"]
    random.shuffle(items)
    for item in items:
        decided = client.call("api: complete task", "POST", f"/api/v1/tasks/{item['id']}/complete",
                              json={"decision": DECISIONS[item["form_key"]]})
        completed += decided is not None and decided.status_code == 200
    return completed


_TASK_LINK = re.compile(r'href="/staff/tasks/([0-9]+)"')
_DECISION = re.compile(r'value="(verified|approved)"')


def staff_page_sign_in(stack, client: Client, phone: str) -> bool:
    """Sign a staff account in through the pages: password, then the SMS code."""
    token = client.page("page: sign-in", "/auth/login")
    response = token and client.call("sign in", "POST", "/auth/login",
                                     data={"csrf_token": token, "phone": phone, "password": PASSWORD})
    if response is None or response.status_code != 302:
        return False
    token = client.page("page: staff code", "/auth/verify")
    response = token and client.call("staff code", "POST", "/auth/verify",
                                     data={"csrf_token": token, "code": read_staff_code(stack, phone)})
    return response is not None and response.status_code == 302


def staff_page_round(client: Client) -> int:
    """Open the inbox page and decide each task listed on its task page; return how many were completed."""
    inbox = client.call("page: staff inbox", "GET", "/staff/")
    if inbox is None or inbox.status_code != 200:
        return 0
    completed = 0
    listed = list(dict.fromkeys(_TASK_LINK.findall(inbox.text)))
    random.shuffle(listed)
    for task_id in listed:
        page = client.call("page: staff task", "GET", f"/staff/tasks/{task_id}")
        found = page is not None and page.status_code == 200 and _CSRF.search(page.text)
        decision = found and _DECISION.search(page.text)
        if not decision:
            continue
        decided = client.call("page: decide task", "POST", f"/staff/tasks/{task_id}",
                              data={"csrf_token": found.group(1) or found.group(2), "decision": decision.group(1)})
        completed += decided is not None and decided.status_code == 302
    return completed


class Traffic:
    """Citizen threads submitting one application per account until told to stop, and staff threads deciding tasks
    until every case submitted is decided (or told to stop)."""

    def __init__(self, base_url: str, seeded: Accounts, citizens: int, staff: int, first_number: int = 0,
                 max_applications: int | None = None, page_staff: int = 0, stack=None):
        self.base_url, self.seeded = base_url, seeded
        self.tally = Tally()
        self._phones = iter(enumerate(seeded.citizens, start=first_number))
        self._left = max_applications if max_applications is not None else len(seeded.citizens)
        self._lock = threading.Lock()
        self.no_more_submissions = threading.Event()
        self.stop_everything = threading.Event()
        self._citizens = [threading.Thread(target=self._citizen, daemon=True) for _ in range(citizens)]
        # Each staff thread works for one seat of every office (hukou village, residence village, township), a seat
        # of its own while there are enough: its inbox rounds go through the three accounts in turn.
        seats = len(seeded.staff_tokens) // 3

        def seat(thread: int, of: list[str]) -> list[str]:
            return of[thread % seats * 3:thread % seats * 3 + 3]

        self._staff = [threading.Thread(target=self._staff_member, args=(seat(i, seeded.staff_tokens),), daemon=True)
                       for i in range(staff)]
        # Staff on the pages sign in with password and SMS code (read through `stack`), then work like the API ones.
        self._staff += [threading.Thread(target=self._staff_on_pages, daemon=True,
                                         args=(stack, seat(staff + i, seeded.staff_phones))) for i in range(page_staff)]

    def start(self) -> "Traffic":
        for thread in self._citizens + self._staff:
            thread.start()
        return self

    def _next_citizen(self) -> tuple[int, str] | None:
        with self._lock:
            if self._left <= 0 or self.no_more_submissions.is_set():
                return None
            self._left -= 1
            return next(self._phones, None)

    def _citizen(self) -> None:
        while (picked := self._next_citizen()) is not None:
            number, phone = picked
            case_number = citizen_journey(Client(self.base_url, self.tally), phone, number)
            with self.tally._lock:
                if case_number:
                    self.tally.cases[case_number] = phone
                else:
                    self.tally.abandoned.append(phone)

    def _staff_member(self, tokens: list[str]) -> None:
        clients = [Client(self.base_url, self.tally, token) for token in tokens]
        while not self.stop_everything.is_set():
            done = sum(staff_round(client) for client in clients)
            self._completed(done)
            if not done:
                time.sleep(1.0)  # an empty inbox: look again a second later, as a refreshing page would

    def _completed(self, count: int) -> None:
        if count:
            with self.tally._lock:
                self.tally.completions += count
                self.tally.last_completion = time.monotonic()

    def _staff_on_pages(self, stack, phones: list[str]) -> None:
        clients = []
        for phone in phones:
            client = Client(self.base_url, self.tally)
            if _retrying(lambda client=client, phone=phone: staff_page_sign_in(stack, client, phone) or None):
                clients.append(client)
        while not self.stop_everything.is_set():
            done = sum(staff_page_round(client) for client in clients)
            self._completed(done)
            if not done:
                time.sleep(1.0)

    def citizens_done(self) -> bool:
        return not any(thread.is_alive() for thread in self._citizens)

    def wait_for_citizens(self, timeout: float) -> None:
        ends_at = time.monotonic() + timeout
        for thread in self._citizens:
            thread.join(max(0.0, ends_at - time.monotonic()))

    def stop(self) -> None:
        self.no_more_submissions.set()
        self.stop_everything.set()
        for thread in self._citizens + self._staff:
            thread.join(timeout=90)


# -- what the database holds -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """The database against what the clients saw: each list names what is wrong (empty: all well)."""

    lost_cases: list[str]
    duplicate_cases: list[str]
    unfinished: list[str]
    duplicate_decisions: list[str]
    missing_decisions: list[str]
    duplicate_outbox: list[str]
    outbox_lag: int
    duplicate_sms: list[str]
    missing_sms: list[str]
    duplicate_deliveries: list[str]  # at the phone: messages the fake SMS service accepted twice
    missing_deliveries: list[str]

    def problems(self) -> dict[str, object]:
        return {name: value for name, value in vars(self).items() if value}


def outcome(stack, submitted: dict[str, str]) -> Outcome:
    """Read the cases of the phones that submitted, their decisions, outbox rows and SMS."""
    from engine.models import OutboxModel
    from services.cases import CaseModel, VerificationModel
    from services.notifications import SmsMessageModel

    with stack.app_context() as session:
        phones = set(submitted.values())
        rows = session.execute(select(CaseModel.case_number, CaseModel.status, CaseModel.id, CaseModel.instance_id,
                                      UserModel.phone).join(UserModel, UserModel.id == CaseModel.applicant_id)).all()
        ours = [row for row in rows if row.phone in phones]
        per_phone = Counter(row.phone for row in ours)
        numbers = {row.case_number for row in ours}
        case_ids = {row.id: row.case_number for row in ours}
        instances = {row.instance_id: row.case_number for row in ours}
        decisions = session.execute(select(VerificationModel.case_id, VerificationModel.step, func.count())
                                    .group_by(VerificationModel.case_id, VerificationModel.step)).all()
        decided = {(case_ids[c], step): n for c, step, n in decisions if c in case_ids}
        outbox = session.execute(select(OutboxModel.instance_id, OutboxModel.bpmn_id, OutboxModel.status)).all()
        sms = session.execute(select(SmsMessageModel.case_number, SmsMessageModel.template, func.count())
                              .group_by(SmsMessageModel.case_number, SmsMessageModel.template)).all()
    ours_outbox = [row for row in outbox if row.instance_id in instances]
    outbox_count = Counter((instances[row.instance_id], row.bpmn_id) for row in ours_outbox)
    sms_count = {(number, template): n for number, template, n in sms if number in numbers}
    final = [row.case_number for row in ours if row.status == FINAL_STATUS]
    return Outcome(
        lost_cases=sorted(set(submitted) - numbers),
        duplicate_cases=sorted(phone for phone, n in per_phone.items() if n > 1),
        unfinished=sorted(f"{row.case_number} {row.status}" for row in ours if row.status != FINAL_STATUS),
        duplicate_decisions=sorted(f"{key} ×{n}" for key, n in decided.items() if n > 1),
        missing_decisions=sorted(f"{number} {step}" for number in final for step in DECIDED_STEPS
                                 if (number, step) not in decided),
        duplicate_outbox=sorted(f"{key} ×{n}" for key, n in outbox_count.items() if n > 1),
        outbox_lag=sum(1 for row in ours_outbox if row.status == "pending"),
        duplicate_sms=sorted(f"{key} ×{n}" for key, n in sms_count.items() if n > 1),
        missing_sms=sorted(f"{number} {template}" for number in final for template in SMS_TEMPLATES
                           if (number, template) not in sms_count),
        **_deliveries(stack, numbers, final),
    )


def _deliveries(stack, numbers: set[str], final: list[str]) -> dict[str, list[str]]:
    """Compare the messages the fake SMS service accepted about cases `numbers` with the final ones (nothing to
    compare without the fake)."""
    if stack.sms is None:
        return {"duplicate_deliveries": [], "missing_deliveries": []}
    from tests.services.test_sms_tencentcloud import TEMPLATES

    template_of = {entry["id"]: key for key, entry in TEMPLATES.items()}
    delivered = Counter((d["phone"], template_of.get(d["template"], d["template"]), tuple(d["params"]))
                        for d in list(stack.sms.delivered) if numbers & set(d["params"]))
    per_case = {(number, template) for _phone, template, params in delivered for number in params}
    return {
        "duplicate_deliveries": sorted(f"{key} ×{n}" for key, n in delivered.items() if n > 1),
        "missing_deliveries": sorted(f"{number} {template}" for number in final for template in SMS_TEMPLATES
                                     if (number, template) not in per_case),
    }


def settled(stack, submitted: dict[str, str], timeout: float = 60.0) -> tuple[Outcome, float]:
    """Wait until every submitted case is final and the outbox is empty (beat keeps ticking); return the outcome
    and the seconds it took."""
    started = time.monotonic()
    while True:
        seen = outcome(stack, submitted)
        if (not seen.unfinished and not seen.outbox_lag) or time.monotonic() - started > timeout:
            return seen, time.monotonic() - started
        time.sleep(1.0)
