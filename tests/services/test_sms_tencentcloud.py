"""Tencent Cloud SMS: the official SDK against a local fake of SendSms, and each message sent once under its key.

The fake is the identity check's (tests/services/test_identity_check.py) serving the `sms` service: it recomputes
every request's TC3-HMAC-SHA256 signature, so a test passes only if the SDK really signs and addresses the call.
"""

import json
import threading
import uuid

import pytest
from sqlalchemy import select

from services import notifications, sms_providers
from services.identity_check import ProviderMisconfigured
from services.notifications import SmsMessageModel, SmsRefused
from services.sms_providers import SmsUnavailable
from tests.services.test_identity_check import SECRET_ID, SECRET_KEY, FakeFaceid, _Handler
from webapp.config import from_environment

APP_ID = "1400000001"
SIGN = "生育登记"
# Our template key → the provider's template id and parameters, for every template we send.
TEMPLATES = {key: {"id": str(1000 + n), "params": sorted(notifications.template_fields(key))}
             for n, key in enumerate(notifications.TEMPLATES)}
PHONE = "13800000001"
WRONG_NUMBER = "13800000404"  # the fake answers its SendStatus with IncorrectPhoneNumber
THROTTLED = "13800000429"  # the fake answers with LimitExceeded.PhoneNumberThirtySecondLimit
KEY = "outbox-7-3f2b8c1e-0000-4000-8000-000000000007"


class FakeSms(FakeFaceid):
    """Tencent Cloud SMS SendSms (API 2021-01-11) on the loopback."""

    service = "sms"

    def __init__(self) -> None:
        super().__init__(_SmsHandler)
        self.delivered: list[dict] = []  # one per message accepted: phone, template id, parameters, SessionContext
        self.fail_next: list[str] = []  # request-level error codes to answer the next requests with


class _SmsHandler(_Handler):
    server: FakeSms
    expected = {"x-tc-action": "SendSms", "x-tc-version": "2021-01-11", "x-tc-region": "ap-guangzhou"}

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.seen.append({"headers": headers, "body": body})
        request_id = str(uuid.uuid4())
        error = self.server.authenticate("POST", self.path, headers, body) \
            or next((f"Invalid:{h}" for h, v in self.expected.items() if headers.get(h) != v), None) \
            or (self.server.fail_next.pop(0) if self.server.fail_next else None)
        params = json.loads(body)
        template = next((t for t in TEMPLATES.values() if t["id"] == params.get("TemplateId")), None)
        if not error and (params.get("SmsSdkAppId") != APP_ID or params.get("SignName") != SIGN):
            error = "FailedOperation.SignatureIncorrectOrUnapproved"
        if not error and (template is None or len(params.get("TemplateParamSet") or []) != len(template["params"])):
            error = "FailedOperation.TemplateIncorrectOrUnapproved"
        if error:
            return self._answer({"Error": {"Code": error, "Message": "请求被拒绝"}, "RequestId": request_id})
        statuses = [self._send(phone, params) for phone in params["PhoneNumberSet"]]
        return self._answer({"SendStatusSet": statuses, "RequestId": request_id})

    def _send(self, phone: str, params: dict) -> dict:
        code = {f"+86{WRONG_NUMBER}": "InvalidParameterValue.IncorrectPhoneNumber",
                f"+86{THROTTLED}": "LimitExceeded.PhoneNumberThirtySecondLimit"}.get(phone, "Ok")
        serial = f"2433:{uuid.uuid4().hex}" if code == "Ok" else ""
        if code == "Ok":
            self.server.delivered.append({"phone": phone, "template": params["TemplateId"], "serial": serial,
                                          "params": params["TemplateParamSet"], "context": params["SessionContext"]})
        return {"SerialNo": serial, "PhoneNumber": phone, "Fee": 1, "SessionContext": params["SessionContext"],
                "Code": code, "Message": "send success" if code == "Ok" else "失败", "IsoCode": "CN"}


@pytest.fixture
def fake():
    """A running fake SMS service."""
    server = FakeSms()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _settings(endpoint: str, **changes) -> dict:
    return {"SMS_PROVIDER": "tencentcloud", "TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
            "TENCENTCLOUD_SMS_SDK_APP_ID": APP_ID, "TENCENTCLOUD_SMS_SIGN_NAME": SIGN,
            "TENCENTCLOUD_SMS_TEMPLATES": json.dumps(TEMPLATES), "TENCENTCLOUD_SMS_ENDPOINT": endpoint, **changes}


@pytest.fixture(autouse=True)
def _record_afterwards():
    yield
    notifications.use_provider("record")
    notifications.PROVIDERS.pop("tencentcloud", None)


@pytest.fixture
def tencent(fake):
    """Tencent Cloud as the active provider, on the fake."""
    sms_providers.configure(_settings(fake.endpoint))
    return fake


def _send(session, phone=PHONE, key=KEY):
    return notifications.send_sms(session, [phone], "audit_approved", {"case_number": "B2026000001"},
                                  case_number="B2026000001", key=key, checkpoint=session.commit)


def _messages(session):
    session.expire_all()
    return session.scalars(select(SmsMessageModel).order_by(SmsMessageModel.id)).all()


def test_a_message_goes_by_template_with_its_key_and_its_serial_number_is_kept(session, tencent):
    _send(session)
    session.commit()

    [delivered] = tencent.delivered
    assert delivered["phone"] == f"+86{PHONE}"
    assert delivered["template"] == TEMPLATES["audit_approved"]["id"]
    assert delivered["params"] == ["B2026000001"]
    [message] = _messages(session)
    assert (message.status, message.provider, message.provider_message_id) == ("sent", "tencentcloud",
                                                                              delivered["serial"])
    assert delivered["context"] == message.idempotency_key
    assert message.idempotency_key.startswith(KEY)
    assert "B2026000001" in message.text


def test_a_second_attempt_with_the_same_key_sends_nothing(session, tencent):
    _send(session)
    session.commit()
    _send(session)
    session.commit()
    assert len(tencent.delivered) == 1
    assert len(_messages(session)) == 1


def test_a_message_left_sending_by_a_crash_counts_as_sent_and_is_not_sent_again(session, tencent):
    # What an attempt that died after the provider accepted the message leaves: the row committed before the call.
    _send(session)
    session.commit()
    [message] = _messages(session)
    message.status, message.provider_message_id = "sending", None
    session.commit()

    _send(session)
    session.commit()
    assert len(tencent.delivered) == 1
    assert [m.status for m in _messages(session)] == ["sent"]


def test_throttling_is_retried_and_the_retry_sends(session, tencent):
    tencent.fail_next.append("LimitExceeded.DeliveryFrequencyLimit")
    with pytest.raises(SmsUnavailable, match="频率或数量超过限制"):
        _send(session)
    session.rollback()
    assert _messages(session) == [], "nothing was sent, so nothing stays recorded and the retry sends it"

    _send(session)
    session.commit()
    assert len(tencent.delivered) == 1
    assert [m.status for m in _messages(session)] == ["sent"]


def test_a_throttled_number_is_an_error_to_retry(session, tencent):
    with pytest.raises(SmsUnavailable, match="PhoneNumberThirtySecondLimit"):
        _send(session, phone=THROTTLED)


def test_a_wrong_number_is_refused_for_good_in_chinese(session, tencent):
    with pytest.raises(SmsRefused, match="手机号码格式不正确"):
        _send(session, phone=WRONG_NUMBER)
    assert tencent.delivered == []


def test_an_unapproved_template_is_refused_for_good(session, fake):
    templates = {**TEMPLATES, "audit_approved": {"id": "999", "params": ["case_number"]}}
    sms_providers.configure(_settings(fake.endpoint, TENCENTCLOUD_SMS_TEMPLATES=json.dumps(templates)))
    with pytest.raises(SmsRefused, match="短信模板不存在或未通过审核"):
        _send(session)


def test_a_wrong_secret_key_is_an_error_to_retry_and_the_fake_checked_the_signature(session, fake):
    sms_providers.configure(_settings(fake.endpoint, TENCENTCLOUD_SECRET_KEY="another-key"))
    with pytest.raises(SmsUnavailable, match="AuthFailure.SignatureFailure"):
        _send(session)
    assert fake.delivered == []


def test_a_service_that_cannot_be_reached_is_an_error_to_retry(session, fake):
    endpoint = fake.endpoint
    fake.shutdown()
    fake.server_close()
    sms_providers.configure(_settings(endpoint))
    with pytest.raises(SmsUnavailable, match="无法连接短信服务"):
        _send(session)


def test_codes_sent_while_a_person_waits_go_through_the_provider_too(session, tencent):
    notifications.send_sms(session, [PHONE], "verification_code", {"code": "123456", "minutes": "5"})
    session.commit()
    [delivered] = tencent.delivered
    assert delivered["params"] == ["123456", "5"]
    [message] = _messages(session)
    assert message.status == "sent"
    assert "123456" not in message.text, "the record never keeps a sign-in code"


@pytest.mark.parametrize("setting", sms_providers.REQUIRED_SETTINGS)
def test_an_incomplete_configuration_is_refused_naming_the_setting(setting):
    with pytest.raises(ProviderMisconfigured, match=setting):
        sms_providers.configure(_settings("sms.tencentcloudapi.com", **{setting: " "}))


def test_templates_must_cover_every_message_and_name_only_its_fields():
    partial = {key: value for key, value in TEMPLATES.items() if key != "task_overdue"}
    with pytest.raises(ProviderMisconfigured, match="lacks the templates task_overdue"):
        sms_providers.parse_templates(json.dumps(partial))
    wrong = {**TEMPLATES, "audit_approved": {"id": "1", "params": ["id_number"]}}
    with pytest.raises(ProviderMisconfigured, match="audit_approved"):
        sms_providers.parse_templates(json.dumps(wrong))
    with pytest.raises(ProviderMisconfigured, match="JSON object"):
        sms_providers.parse_templates("[1, 2]")


def test_plain_http_is_refused_off_the_loopback():
    with pytest.raises(ProviderMisconfigured, match="TENCENTCLOUD_SMS_ENDPOINT may use http:// only on the loopback"):
        sms_providers.configure(_settings("http://sms.example.com"))


def test_the_settings_are_declared_with_their_defaults(monkeypatch):
    for name in ("SMS_PROVIDER", "TENCENTCLOUD_SMS_ENDPOINT", "TENCENTCLOUD_SMS_TEMPLATES"):
        monkeypatch.delenv(name, raising=False)
    settings = from_environment()
    assert settings["SMS_PROVIDER"] == "record"
    assert settings["TENCENTCLOUD_SMS_ENDPOINT"] == "sms.tencentcloudapi.com"
    assert settings["TENCENTCLOUD_SMS_TEMPLATES"] == ""
