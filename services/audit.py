"""The audit service: the one place processes, services and the web app write audit events, and where the system
administrator finds them again.

`record` writes one event through the engine's writer (engine.audit), which chains it when the transaction commits;
the engine writes its own case events (steps, timers, migrations, deployments) through the same writer. Events are
kept at least `MIN_RETENTION_DAYS` (AUDIT_RETENTION_DAYS) and purged by the periodic tick (`purge_expired`).

Search (`search`, `export_rows`) finds events by person (an ID number, matched through its blind index to the
accounts, the resource-base person and the cases that hold it), by actor, by case number, by kind and by date.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from engine import audit as chain
from engine.calendar import CST
from engine.db import utcnow
from engine.models import AuditEventModel

MIN_RETENTION_DAYS = chain.MIN_RETENTION_DAYS
PAGE_SIZE = 50
FIELD_MAX_LENGTH = 100
# The dates a search may name.
MIN_DATE, MAX_DATE = date(2000, 1, 1), date(2999, 12, 31)
EXPORT_LIMIT = 100_000
# Detail keys never shown or exported: a migration's copy of the whole case state before it.
HIDDEN_DETAIL = frozenset({"state_before"})

KIND_LABELS = {
    "signed_in": "登录成功", "sign_in_failed": "登录失败", "account_registered": "注册账号",
    "account_created": "创建账号", "account_activated": "启用账号", "account_deactivated": "停用账号",
    "password_changed": "修改密码", "email_changed": "修改邮箱", "phone_changed": "修改手机号",
    "identity_confirmed": "现场核验身份", "pii_viewed": "查看个人信息", "material_viewed": "查看材料",
    "resource_base_exported": "导出信息资源库", "slip_printed": "打印回执", "task_claimed": "认领任务",
    "task_released": "取消认领", "task_reassigned": "转派任务", "task_completed": "办理任务",
    "started": "发起案件", "completed": "案件办结", "cancelled": "撤销案件", "suspended": "挂起案件",
    "resumed": "恢复案件", "token_moved": "调整流程位置", "migrated": "迁移流程版本", "message": "收到消息",
    "step_fields_exported": "导出各环节填写内容",
    "migration_reverted": "撤回迁移", "incident": "服务故障", "incident_retried": "重试故障",
    "service_done": "服务完成", "service_failed": "服务失败", "timer_fired": "定时触发", "error": "流程错误",
    "deployed": "部署流程版本", "version_activated": "启用流程版本", "version_retired": "停用流程版本",
    "assignment_rule_saved": "修改分派规则", "keys_rotated": "密钥轮换", "audit_purged": "清理过期审计记录",
    "audit_exported": "导出审计记录", "account_unlocked": "解锁账号",
    "holiday_added": "录入节假日", "holiday_removed": "删除节假日", "holidays_imported": "导入节假日安排",
}


class RetentionTooShort(ValueError):
    """AUDIT_RETENTION_DAYS below the legal minimum."""


_retention_days = MIN_RETENTION_DAYS


def configure(retention_days: int) -> None:
    """Set how many days events are kept; fewer than `MIN_RETENTION_DAYS` is refused."""
    global _retention_days  # noqa: PLW0603 - one setting for the process, set once at start
    if retention_days < MIN_RETENTION_DAYS:
        raise RetentionTooShort(f"AUDIT_RETENTION_DAYS must be at least {MIN_RETENTION_DAYS} (six months), "
                                f"not {retention_days}")
    _retention_days = retention_days


def _subject(detail: dict[str, Any]) -> str | None:
    """Name whom an event is about, so a search by person finds events not tied to a case."""
    if detail.get("user_id") is not None:
        return f"user:{detail['user_id']}"
    if detail.get("person_id") is not None:
        return f"person:{detail['person_id']}"
    return None


def record(session: Session, actor: str, kind: str, *, instance_id: int | None = None, element: str | None = None,
           **detail: Any) -> AuditEventModel:
    """Write one audit event (flush only); `detail` is kept as given (`user_id` or `person_id` names its subject)."""
    row = chain.write(session, actor, kind, instance_id=instance_id, element=element, subject=_subject(detail),
                      detail=detail)
    session.flush()
    return row


def purge_expired(session: Session) -> int:
    """Delete the events older than the retention, keeping the chain verifiable (flush only)."""
    return chain.purge(session, utcnow() - timedelta(days=_retention_days))


def verify(session: Session) -> chain.Verification:
    """Check the whole chain (see engine.audit.verify)."""
    return chain.verify(session.connection())


# -- search ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """What the system administrator looks for; every field is optional."""

    id_number: str = ""
    actor: str = ""
    case_number: str = ""
    kind: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def as_dict(self) -> dict[str, str]:
        """Return the query as plain strings (to keep it in a search token)."""
        return {"id_number": self.id_number, "actor": self.actor, "case_number": self.case_number, "kind": self.kind,
                "date_from": self.date_from.isoformat() if self.date_from else "",
                "date_to": self.date_to.isoformat() if self.date_to else ""}

    @classmethod
    def from_dict(cls, values: dict[str, str]) -> "AuditQuery":
        """Rebuild a query from `as_dict` (or a submitted form); a malformed date raises ValueError."""
        def day(text: str) -> date | None:
            if not text:
                return None
            found = date.fromisoformat(text)
            if not MIN_DATE <= found <= MAX_DATE:  # also keeps "the day after" representable
                raise ValueError(f"date out of range: {text}")
            return found

        def field(name: str) -> str:  # no real value is longer; the query must stay small enough for a token
            return (values.get(name) or "").strip()[:FIELD_MAX_LENGTH]

        return cls(id_number=field("id_number"), actor=field("actor"), case_number=field("case_number"),
                   kind=field("kind"),
                   date_from=day((values.get("date_from") or "").strip()),
                   date_to=day((values.get("date_to") or "").strip()))


@dataclass(frozen=True)
class AuditPage:
    """One page of matching events, newest first, and how many match in all."""

    rows: list[AuditEventModel]
    total: int
    page: int
    size: int = PAGE_SIZE


def _actors(session: Session, text: str) -> list[str]:
    """Return the actor names `text` stands for: an account's phone, or an actor name as stored (user:12, system)."""
    from services import accounts

    if accounts.is_valid_phone(text):
        user = accounts.find_by_phone(session, text)
        return [user.actor] if user is not None else []
    return [text]


def _person_conditions(session: Session, id_number: str) -> list:
    """Return the conditions matching events about whoever holds `id_number`: their accounts, their person record,
    and the cases they applied for or are a spouse in."""
    from services import identity
    from services.accounts import UserModel
    from services.cases import CaseModel
    from services.crypto import blind
    from services.people import PersonModel

    digest = blind(identity.normalize(id_number))
    users = list(session.scalars(select(UserModel.id).where(UserModel.id_number_hash == digest)))
    persons = list(session.scalars(select(PersonModel.id).where(PersonModel.id_number_hash == digest)))
    subjects = [f"user:{u}" for u in users] + [f"person:{p}" for p in persons]
    instances = select(CaseModel.instance_id).where(CaseModel.instance_id.is_not(None), or_(
        CaseModel.applicant_id.in_(users), CaseModel.woman_id.in_(persons), CaseModel.man_id.in_(persons)))
    return [or_(AuditEventModel.subject.in_(subjects), AuditEventModel.instance_id.in_(instances))]


def _statement(session: Session, query: AuditQuery) -> Select:
    from services.cases import CaseModel

    conditions = []
    if query.id_number:
        conditions += _person_conditions(session, query.id_number)
    if query.actor:
        conditions.append(AuditEventModel.actor.in_(_actors(session, query.actor)))
    if query.case_number:
        conditions.append(AuditEventModel.instance_id.in_(
            select(CaseModel.instance_id).where(CaseModel.case_number == query.case_number)))
    if query.kind:
        conditions.append(AuditEventModel.kind == query.kind)
    if query.date_from:
        conditions.append(AuditEventModel.at >= datetime.combine(query.date_from, time.min, tzinfo=CST))
    if query.date_to:
        conditions.append(AuditEventModel.at < datetime.combine(query.date_to + timedelta(days=1), time.min,
                                                                tzinfo=CST))
    return select(AuditEventModel).where(*conditions)


def search(session: Session, query: AuditQuery, page: int = 1) -> AuditPage:
    """Return one page of the events matching `query`, newest first."""
    statement = _statement(session, query)
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    rows = list(session.scalars(statement.order_by(AuditEventModel.id.desc())
                                .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return AuditPage(rows, total, page)


def shown_detail(row: AuditEventModel) -> str:
    """Return an event's detail as one line of JSON, without what is never shown."""
    detail = {key: value for key, value in (row.detail or {}).items() if key not in HIDDEN_DETAIL}
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)


EXPORT_COLUMNS = ("编号", "链序号", "时间", "操作人", "类型", "案件实例", "环节", "对象", "详情", "哈希")


def export_rows(session: Session, query: AuditQuery) -> Iterator[tuple]:
    """Yield the events matching `query` as export rows (oldest first, at most `EXPORT_LIMIT`)."""
    statement = _statement(session, query).order_by(AuditEventModel.id).limit(EXPORT_LIMIT)
    for row in session.scalars(statement.execution_options(yield_per=1000)):
        yield (row.id, row.seq, row.at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"), row.actor,
               KIND_LABELS.get(row.kind, row.kind), row.instance_id, row.element, row.subject, shown_detail(row),
               row.row_hash)
