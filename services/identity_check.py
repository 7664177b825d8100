"""Identity assurance: how strongly an account holder's name and ID number are established, and the providers that
raise it.

Levels, weakest first: self-asserted (only the phone was verified), confirmed by an identity provider (name and ID
number checked against the national ID database, 二要素核验), confirmed in person at a service hall. The embedded
default checks nothing and says so (self-asserted); the Tencent Cloud provider calls IdCardVerification through the
official SDK. A provider that cannot answer raises `ProviderUnavailable`: the caller must never take an outage for a
match, nor quietly hand out a weaker level as if it had been decided.
"""

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.faceid.v20180301.faceid_client import FaceidClient
from tencentcloud.faceid.v20180301.models import IdCardVerificationRequest

SELF_ASSERTED, PROVIDER, IN_PERSON = "self_asserted", "provider", "in_person"
LEVELS = (SELF_ASSERTED, PROVIDER, IN_PERSON)
LEVEL_LABELS = {
    SELF_ASSERTED: "自行申报：仅验证手机号",
    PROVIDER: "已通过实名核验",
    IN_PERSON: "已在服务大厅现场核验",
}

MISMATCH_MESSAGE = "姓名与身份证号码不一致，请核对"
UNAVAILABLE_MESSAGE = "实名核验服务暂时不可用，请稍后再试"
DEFAULT_ENDPOINT = "faceid.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
# IdCardVerification result codes (SDK model docs): only these two are a decision about the person; the others
# (-2 … -7: malformed input, database outage, no record, daily quota) say the check did not happen.
RESULT_MATCHED, RESULT_MISMATCHED = "0", "-1"

log = logging.getLogger(__name__)
# The SDK logs whole requests and responses at DEBUG, name and ID number included; an app running at DEBUG must
# still not write them to its logs in clear.
logging.getLogger("tencentcloud_sdk_common").setLevel(logging.INFO)


def at_least(level: str, minimum: str) -> bool:
    """Return whether `level` is `minimum` or stronger."""
    return LEVELS.index(level) >= LEVELS.index(minimum)


class ProviderUnavailable(RuntimeError):
    """The provider gave no decision (outage, refused credentials, quota, unexpected answer); retry later.

    `str()` is the Chinese message for the user; `code` and `reference` (the provider's request id, when it sent
    one) are for the log and the audit trail.
    """

    def __init__(self, code: str, reference: str = "") -> None:
        super().__init__(UNAVAILABLE_MESSAGE)
        self.code = code
        self.reference = reference


class ProviderMisconfigured(RuntimeError):
    """The identity provider settings cannot work; the message names the setting."""


@dataclass(frozen=True)
class Verdict:
    """What a provider decided about one name and ID number."""

    level: str  # what this check establishes: a mismatch establishes nothing beyond self-asserted
    matched: bool
    reference: str = ""  # the provider's request id, kept with the audit row so the check can be traced
    message: str = ""  # for the user, in Chinese, when not matched


class IdentityProvider(Protocol):
    """Something that checks that a name belongs to an ID number."""

    name: str

    def check(self, name: str, id_number: str) -> Verdict:
        """Return the verdict, or raise `ProviderUnavailable` when there is none."""


class EmbeddedProvider:
    """Check nothing: the holder's word stands, at the self-asserted level."""

    name = "embedded"

    def check(self, name: str, id_number: str) -> Verdict:
        """Accept every pair, as self-asserted."""
        return Verdict(level=SELF_ASSERTED, matched=True)


class TencentCloudProvider:
    """Tencent Cloud FaceID IdCardVerification (二要素: Name + IdCard), through the official SDK."""

    name = "tencentcloud"

    def __init__(self, secret_id: str, secret_key: str, region: str = DEFAULT_REGION,
                 endpoint: str = DEFAULT_ENDPOINT, timeout: int = 5) -> None:
        """Build one SDK client, reused for every check (it keeps its HTTP connections).

        :param endpoint: a host name (HTTPS), an ``https://host[:port]`` URL, or ``http://host:port`` on the
            loopback only (the local fake of the tests): a name and ID number never cross a network in clear.
        :param timeout: seconds for connecting and for the answer, kept short: a citizen waits on the page.
        """
        scheme, host = split_endpoint(endpoint, "TENCENTCLOUD_FACEID_ENDPOINT")
        self.endpoint = endpoint
        self.region = region
        try:
            credential = Credential(secret_id, secret_key)
        except TencentCloudSDKException as error:
            raise ProviderMisconfigured("TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must be set, "
                                        "without spaces around them") from error
        http_profile = HttpProfile(protocol=scheme, endpoint=host, reqTimeout=timeout)
        # No retries (the SDK's default): a second charged check after a slow first one is the caller's choice.
        self._client = FaceidClient(credential, region, ClientProfile(httpProfile=http_profile))

    def __repr__(self) -> str:
        return f"TencentCloudProvider(endpoint={self.endpoint!r}, region={self.region!r})"

    def check(self, name: str, id_number: str) -> Verdict:
        """Ask whether the name and the ID number belong together."""
        request = IdCardVerificationRequest()
        request.Name = name.strip()
        request.IdCard = "".join(id_number.split()).upper()
        try:
            response = self._client.IdCardVerification(request)
        except TencentCloudSDKException as error:
            # Code and request id only: the message may echo the request.
            log.warning("实名核验失败：%s（请求 %s）", error.code, error.requestId or "—")
            raise ProviderUnavailable(str(error.code or "ClientError"), error.requestId or "") from error
        reference = response.RequestId or ""
        if response.Result == RESULT_MATCHED:
            return Verdict(level=PROVIDER, matched=True, reference=reference)
        if response.Result == RESULT_MISMATCHED:
            return Verdict(level=SELF_ASSERTED, matched=False, reference=reference, message=MISMATCH_MESSAGE)
        log.warning("实名核验未给出结论：结果码 %s（%s，请求 %s）", response.Result, response.Description, reference)
        raise ProviderUnavailable(f"Result{response.Result}", reference)


def split_endpoint(endpoint: str, setting: str) -> tuple[str, str]:
    """Return the scheme and host[:port] the SDK takes for a Tencent Cloud endpoint setting (named in errors)."""
    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}:
        raise ProviderMisconfigured(f"{setting} must be a host name or an https:// address, not {endpoint!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ProviderMisconfigured(f"{setting} may use http:// only on the loopback (a local test server), "
                                    f"not {endpoint!r}: personal data goes over HTTPS")
    return parts.scheme, parts.netloc


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


_active: dict[str, IdentityProvider] = {"provider": EmbeddedProvider()}


def configure(settings: Mapping[str, object]) -> IdentityProvider:
    """Choose the provider from IDENTITY_PROVIDER (embedded or tencentcloud) and make it the active one."""
    choice = str(settings.get("IDENTITY_PROVIDER") or "embedded").strip().lower()
    provider: IdentityProvider
    if choice == "embedded":
        provider = EmbeddedProvider()
    elif choice == "tencentcloud":
        for setting in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
            if not str(settings.get(setting) or "").strip():
                raise ProviderMisconfigured(f"IDENTITY_PROVIDER=tencentcloud needs {setting}")
        provider = TencentCloudProvider(
            secret_id=str(settings["TENCENTCLOUD_SECRET_ID"]).strip(),
            secret_key=str(settings["TENCENTCLOUD_SECRET_KEY"]).strip(),
            region=str(settings.get("TENCENTCLOUD_REGION") or DEFAULT_REGION).strip(),
            endpoint=str(settings.get("TENCENTCLOUD_FACEID_ENDPOINT") or DEFAULT_ENDPOINT))
    else:
        raise ProviderMisconfigured(f"IDENTITY_PROVIDER must be embedded or tencentcloud, not {choice!r}")
    _active["provider"] = provider
    return provider


def provider() -> IdentityProvider:
    """Return the configured provider (the embedded one until `configure` chose another)."""
    return _active["provider"]


def check(name: str, id_number: str) -> Verdict:
    """Check a name and ID number with the configured provider; raise `ProviderUnavailable` when it cannot."""
    return _active["provider"].check(name, id_number)
