"""SMS to citizens and staff, through a provider; the default provider records messages in the database."""

import logging
import string
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from uuid import uuid4

from sqlalchemy import String, Text, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from engine.runtime import ServiceTaskRefused
from services.crypto import EncryptedString, blind

TEMPLATES = {
    "verification_mismatch": (
        "【生育登记】您的申请（受理编号{case_number}）经村（居）核实情况不符，请登录系统查看原因并更正后重新提交。"
    ),
    "audit_approved": "【生育登记】您的申请（受理编号{case_number}）已登记成功，可登录系统下载打印《生育服务登记单》。",
    "audit_rejected": "【生育登记】您的申请（受理编号{case_number}）经乡镇（街道）审核未通过，请登录系统查看原因。",
    "review_failed": "【生育登记】您的三孩再生育审批申请（受理编号{case_number}）审查未通过，请登录系统查看原因。",
    "offline_confirmation": (
        "【生育登记】您的三孩再生育审批申请（受理编号{case_number}）已通过审查，请夫妻双方携带{documents}，"
        "于工作日到{place}现场确认（办公时间：{hours}）。预约日期见系统中的申请详情，该日期是预约，不是您的截止期限。"
    ),
    "approval_granted": "【生育登记】您的三孩再生育审批申请（受理编号{case_number}）已批准，可登录系统下载打印审批单。",
    "approval_rejected": "【生育登记】您的三孩再生育审批申请（受理编号{case_number}）未获批准，请登录系统查看原因。",
    # Sent by the submission itself (not by a diagram), so that every submission and correction is confirmed.
    "application_submitted": (
        "【生育登记】您的{case_type}申请已提交，受理编号{case_number}，可登录系统在「我的申请」或「进度查询」中查询办理进度。"
    ),
    "correction_resubmitted": (
        "【生育登记】您更正后的{case_type}申请已重新提交，受理编号{case_number}，将重新核实，"
        "可登录系统在「我的申请」或「进度查询」中查询办理进度。"
    ),
    "task_overdue": "【生育登记】提醒：受理编号{case_number}的「{task}」已超过办理时限，请尽快处理。",
    "verification_code": "【生育登记】您的验证码为{code}，{minutes}分钟内有效。请勿告诉他人。",
    "identity_rebound": (
        "【生育登记】您账号原绑定的身份证号码，已由证件持有人本人在{office}现场核验后绑定到其本人账号。"
        "您的账号仍可登录，但不再关联该号码。如有疑问，请联系{office}。"
    ),
    # Sent instead of a registration code to a phone that has an account (the page says a code was sent either way).
    "phone_already_registered": "【生育登记】该手机号码已注册本系统账号，如需登录请使用找回密码。如非本人操作请忽略。",
    # Sent to the number an account leaves, so that its holder learns of a change they did not make.
    "phone_changed": (
        "【生育登记】您的账号已改用尾号{ending}的手机号码登录，本号码不再接收该账号的短信。"
        "如非本人操作，请立即携带身份证件到服务大厅处理。"
    ),
}


# Template fields that are secrets (a code that signs someone in): the provider gets them, the record never does.
SECRET_FIELDS = frozenset({"code"})
MASK = "******"


class SmsMessageModel(Base):
    """One SMS as handed to the provider; the phone sealed at rest, secrets in the text masked."""

    __tablename__ = "sms_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(EncryptedString)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    template: Mapped[str] = mapped_column(String(50))
    text: Mapped[str] = mapped_column(Text)
    case_number: Mapped[str | None] = mapped_column(String(30), index=True)
    provider: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # One message per key: a service task's attempts share theirs (see `send_sms`), so a repeated attempt finds
    # the message and sends nothing again; the provider gets it too (Tencent Cloud: SessionContext).
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True, default=lambda: f"direct-{uuid4()}")
    # sending: written and committed before the provider is asked; sent: the provider accepted it.
    status: Mapped[str] = mapped_column(String(20), default="sent", server_default="sent")
    provider_message_id: Mapped[str | None] = mapped_column(String(100))  # Tencent Cloud: SerialNo


@event.listens_for(SmsMessageModel.phone, "set", retval=True)
def _index_phone(target: SmsMessageModel, value: str, oldvalue, initiator) -> str:  # noqa: ARG001 - event signature
    target.phone_hash = blind(value)
    return value


log = logging.getLogger(__name__)
# What the embedded default's "phones" received, newest last: the record provider keeps no code in the database,
# so a demo user reads it in the terminal and tests read it here, as the phone's owner would.
DELIVERED: deque[tuple[str, str]] = deque(maxlen=500)


class SmsText(str):
    """The text a provider delivers, carrying what a provider that sends by template id needs besides.

    :ivar template: our template key (`TEMPLATES`); :ivar fields: its fields, secrets included;
    :ivar key: the message's idempotency key.
    """

    template: str
    fields: Mapping[str, str]
    key: str

    def __new__(cls, text: str, template: str, fields: Mapping[str, str], key: str) -> "SmsText":
        """Make the text of one message."""
        made = super().__new__(cls, text)
        made.template, made.fields, made.key = template, dict(fields), key
        return made


# A provider delivers one text to one phone and returns its own id for the message (None when it has none), or
# raises: `SmsRefused` when retrying cannot help (a wrong number or template), anything else to be retried.
SmsProvider = Callable[[Session, str, SmsText], str | None]


class SmsRefused(ServiceTaskRefused):
    """The provider refused a message for good; the message says why in Chinese."""


# Whether the record provider logs each text, codes included: only the embedded default's `start` turns it on, so
# that a demo user finds a sign-in code in the terminal; anywhere else a code never reaches a log.
_echo = {"on": False}


def echo_to_log(on: bool) -> None:
    """Have the record provider log every text it delivers (the embedded default's demo terminal only)."""
    _echo["on"] = on


def record_provider(session: Session, phone: str, text: str) -> None:  # noqa: ARG001
    """Deliver nothing: the message row written by `send_sms` is the delivery (embedded default, tests).

    With `echo_to_log(True)` the text is also logged, so that a demo user finds a sign-in code in the terminal.
    """
    DELIVERED.append((phone, text))
    if _echo["on"]:
        log.info("短信 → %s：%s", phone, text)


def delivered_to(phone: str) -> list[str]:
    """Return the texts the record provider delivered to `phone`, oldest first."""
    return [text for to, text in list(DELIVERED) if to == phone]


PROVIDERS: dict[str, SmsProvider] = {"record": record_provider}
_active = {"name": "record"}


def use_provider(name: str) -> None:
    """Choose the SMS provider by name."""
    if name not in PROVIDERS:
        raise ValueError(f"unknown SMS provider {name!r}; known: {', '.join(PROVIDERS)}")
    _active["name"] = name


def template_fields(template: str) -> set[str]:
    """Return the names of the fields a template fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(TEMPLATES[template]) if name}


def render(template: str, context: Mapping[str, str]) -> str:
    """Return the text of an SMS template filled with `context`."""
    if template not in TEMPLATES:
        raise KeyError(f"未知短信模板：{template}")
    return TEMPLATES[template].format_map(context)


def send_sms(session: Session, phones: list[str], template: str, context: Mapping[str, str],
             case_number: str | None = None, *, key: str | None = None,
             checkpoint: Callable[[], None] | None = None) -> list[SmsMessageModel]:
    """Send one templated SMS to each phone; the provider raising fails the whole call.

    Without `key` (a person waits on the page) the provider is asked inside the caller's transaction and the message
    is recorded only if that commits. With `key`, the idempotency key of a service task, each phone's message is
    recorded under a key of its own, as `sending`, and committed through `checkpoint` before the provider is
    asked; another attempt of the same task then sends none of them twice (see `_sent_before`).
    """
    text = render(template, context)
    kept = render(template, {**context, **dict.fromkeys(SECRET_FIELDS & set(context), MASK)})
    name = _active["name"]
    messages, to_send = [], []
    for phone in phones:
        message_key = f"{key}:{blind(phone)[:16]}" if key else f"direct-{uuid4()}"
        message = session.scalar(select(SmsMessageModel).where(SmsMessageModel.idempotency_key == message_key)) \
            if key else None
        if message is None:
            message = SmsMessageModel(phone=phone, template=template, text=kept, case_number=case_number,
                                      provider=name, idempotency_key=message_key, status="sending")
            session.add(message)
            to_send.append(message)
        elif message.status == "sending":
            _sent_before(message)
        messages.append(message)
    if key and to_send and checkpoint is not None:
        checkpoint()
    for position, message in enumerate(to_send):
        try:
            message_id = PROVIDERS[name](session, message.phone, SmsText(text, template, context,
                                                                          message.idempotency_key))
        except Exception:
            # Taken as not sent (refused, or the provider could not be reached; only a timeout after it accepted
            # could make this wrong): forget these messages, so the next attempt sends them, and keep the ones sent
            # before, so it does not send those again.
            for unsent in to_send[position:]:
                if unsent in session.new:
                    session.expunge(unsent)
                else:
                    session.delete(unsent)
            if key and checkpoint is not None:
                checkpoint()
            raise
        message.status, message.provider_message_id = "sent", message_id
    return messages


def _sent_before(message: SmsMessageModel) -> None:
    """Settle a message an earlier attempt left `sending`: it ended between asking the provider and recording.

    Neither provider can be asked about a message by our key (the record provider keeps nothing; Tencent Cloud
    reports delivery only by pull, and only once its status reports are enabled), and the provider may well have
    accepted it; sending it again risks the same text twice, so it counts as sent, and the log says so.
    """
    log.warning("短信 %s 上次发送结果未知（发送后未能记录），按已发送处理，不再重发", message.idempotency_key)
    message.status = "sent"


def notices(session: Session, case_number: str, phone: str) -> list[SmsMessageModel]:
    """Return the SMS of a case sent to `phone` (the applicant's), oldest first: the case page shows them."""
    return list(session.scalars(select(SmsMessageModel).where(
        SmsMessageModel.case_number == case_number, SmsMessageModel.phone_hash == blind(phone))
        .order_by(SmsMessageModel.id)))
