"""The SMS provider chosen by SMS_PROVIDER: `record` (the embedded default, services.notifications) or Tencent Cloud.

Tencent Cloud SMS (SendSms, API 2021-01-11) through the official SDK sends an approved template by its id with the
template's parameters in order, never free text: TENCENTCLOUD_SMS_TEMPLATES maps each of our templates to both.
Each message goes alone, with our idempotency key as its SessionContext (echoed in delivery reports), and the
SerialNo it answers is kept as the provider's message id. A throttled, unreachable or failing service is an error to
retry with the engine's backoff; a wrong number, template or parameter is refused for good (an incident at once).
"""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111.models import SendSmsRequest
from tencentcloud.sms.v20210111.sms_client import SmsClient

from services import notifications
from services.identity_check import DEFAULT_REGION, ProviderMisconfigured, split_endpoint

DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
REQUIRED_SETTINGS = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SMS_SDK_APP_ID",
                     "TENCENTCLOUD_SMS_SIGN_NAME", "TENCENTCLOUD_SMS_TEMPLATES")
# Codes (of the request, or of one number's SendStatus) that no retry can mend, with what an operator is told.
REFUSALS = {
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号码格式不正确",
    "FailedOperation.PhoneNumberParseFail": "手机号码无法识别",
    "FailedOperation.PhoneNumberInBlacklist": "该手机号码已退订短信（在免打扰名单中）",
    "FailedOperation.TemplateIncorrectOrUnapproved": "短信模板不存在或未通过审核",
    "FailedOperation.SignatureIncorrectOrUnapproved": "短信签名不存在或未通过审核",
    "InvalidParameterValue.TemplateParameterFormatError": "短信模板参数格式不正确",
    "InvalidParameterValue.TemplateParameterLengthLimit": "短信模板参数超过长度限制",
    "FailedOperation.ContainSensitiveWord": "短信内容含有敏感词",
}
REFUSED_PREFIXES = ("InvalidParameterValue.", "InvalidParameter.", "MissingParameter")
OK = "Ok"

log = logging.getLogger(__name__)


class SmsUnavailable(RuntimeError):
    """The provider sent nothing this time (throttled, unreachable, failing): the engine retries with backoff."""


@dataclass(frozen=True)
class ProviderTemplate:
    """One of our templates as Tencent Cloud knows it: its approved id and our field names in its parameter order."""

    template_id: str
    params: tuple[str, ...]


class TencentCloudSms:
    """Tencent Cloud SMS SendSms, one message per request (called as an `notifications.SmsProvider`)."""

    name = "tencentcloud"

    def __init__(self, secret_id: str, secret_key: str, app_id: str, sign_name: str,
                 templates: Mapping[str, ProviderTemplate], region: str = DEFAULT_REGION,
                 endpoint: str = DEFAULT_ENDPOINT, timeout: int = 5) -> None:
        """Build one SDK client, reused for every message (the endpoint rules are the identity check's)."""
        scheme, host = split_endpoint(endpoint, "TENCENTCLOUD_SMS_ENDPOINT")
        try:
            credential = Credential(secret_id, secret_key)
        except TencentCloudSDKException as error:
            raise ProviderMisconfigured("TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must be set, "
                                        "without spaces around them") from error
        self.app_id, self.sign_name, self.templates = app_id, sign_name, dict(templates)
        # No SDK retries: a second request after a slow first one could deliver twice; the engine retries instead.
        profile = ClientProfile(httpProfile=HttpProfile(protocol=scheme, endpoint=host, reqTimeout=timeout))
        self._client = SmsClient(credential, region, profile)
        self.endpoint = endpoint

    def __repr__(self) -> str:
        return f"TencentCloudSms(endpoint={self.endpoint!r}, app_id={self.app_id!r})"

    def __call__(self, session: Session, phone: str, text: notifications.SmsText) -> str:  # noqa: ARG002
        """Send `text` (by its template) to `phone`; return the SerialNo."""
        template = self.templates[text.template]
        request = SendSmsRequest()
        request.SmsSdkAppId, request.SignName, request.TemplateId = self.app_id, self.sign_name, template.template_id
        request.PhoneNumberSet = [_e164(phone)]
        request.TemplateParamSet = [str(text.fields.get(name, "")) for name in template.params]
        request.SessionContext = text.key
        try:
            response = self._client.SendSms(request)
        except TencentCloudSDKException as error:
            # Code and request id only: the message may echo the phone number.
            log.warning("短信发送失败：%s（请求 %s）", error.code, error.requestId or "—")
            raise _failure(str(error.code or "ClientError")) from error
        status = (response.SendStatusSet or [None])[0]
        if status is None or status.Code != OK:
            code = status.Code if status is not None else "EmptySendStatusSet"
            log.warning("短信未被接受：%s（请求 %s）", code, response.RequestId or "—")
            raise _failure(code)
        return status.SerialNo


def _failure(code: str) -> Exception:
    """Return the exception for a provider code: refused for good, or to be retried (throttling, outages)."""
    if code in REFUSALS:
        return notifications.SmsRefused(f"{REFUSALS[code]}（{code}）")
    if code.startswith(REFUSED_PREFIXES):
        return notifications.SmsRefused(f"短信请求被拒绝，参数无效（{code}）")
    if code.startswith("LimitExceeded"):
        return SmsUnavailable(f"短信发送频率或数量超过限制，稍后重试（{code}）")
    if code == "ClientNetworkError":
        return SmsUnavailable(f"无法连接短信服务，稍后重试（{code}）")
    return SmsUnavailable(f"短信服务暂时不可用，稍后重试（{code}）")


def _e164(phone: str) -> str:
    """Return a mainland number as +86…, the form SendSms documents; other forms pass as given."""
    digits = "".join(phone.split())
    return f"+86{digits}" if len(digits) == 11 and digits.isdigit() else digits


def parse_templates(value: object) -> dict[str, ProviderTemplate]:
    """Read TENCENTCLOUD_SMS_TEMPLATES: a JSON object of our template key to {"id": …, "params": [field, …]}.

    Every template we send must be there, and its parameters must be fields of our template (the text in
    `notifications.TEMPLATES` is what the approved provider template must say).
    """
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ProviderMisconfigured('TENCENTCLOUD_SMS_TEMPLATES must be a JSON object such as '
                                    '{"audit_approved": {"id": "1234567", "params": ["case_number"]}}')
    templates = {}
    for key, entry in parsed.items():
        fields = notifications.template_fields(key) if key in notifications.TEMPLATES else None
        if fields is None or not isinstance(entry, dict) or not str(entry.get("id") or "").strip() \
                or not isinstance(entry.get("params", []), list) or not set(entry.get("params", [])) <= fields:
            raise ProviderMisconfigured(f"TENCENTCLOUD_SMS_TEMPLATES: {key!r} must be one of our templates with "
                                        f'{{"id": "…", "params": [...]}} naming its fields only')
        templates[key] = ProviderTemplate(str(entry["id"]).strip(), tuple(entry.get("params", [])))
    missing = sorted(set(notifications.TEMPLATES) - set(templates))
    if missing:
        raise ProviderMisconfigured(f"TENCENTCLOUD_SMS_TEMPLATES lacks the templates {', '.join(missing)}")
    return templates


def configure(settings: Mapping[str, object]) -> None:
    """Choose the SMS provider from SMS_PROVIDER (record or tencentcloud); refuse a setting that is missing."""
    choice = str(settings.get("SMS_PROVIDER") or "record").strip().lower()
    if choice == "tencentcloud":
        for setting in REQUIRED_SETTINGS:
            if not str(settings.get(setting) or "").strip():
                raise ProviderMisconfigured(f"SMS_PROVIDER=tencentcloud needs {setting}")
        notifications.PROVIDERS[choice] = TencentCloudSms(
            secret_id=str(settings["TENCENTCLOUD_SECRET_ID"]).strip(),
            secret_key=str(settings["TENCENTCLOUD_SECRET_KEY"]).strip(),
            app_id=str(settings["TENCENTCLOUD_SMS_SDK_APP_ID"]).strip(),
            sign_name=str(settings["TENCENTCLOUD_SMS_SIGN_NAME"]).strip(),
            templates=parse_templates(settings["TENCENTCLOUD_SMS_TEMPLATES"]),
            region=str(settings.get("TENCENTCLOUD_REGION") or DEFAULT_REGION).strip(),
            endpoint=str(settings.get("TENCENTCLOUD_SMS_ENDPOINT") or DEFAULT_ENDPOINT))
    elif choice not in notifications.PROVIDERS:
        raise ProviderMisconfigured(f"SMS_PROVIDER must be record or tencentcloud, not {choice!r}")
    notifications.use_provider(choice)
