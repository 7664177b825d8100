"""Identity assurance: the real Tencent Cloud SDK against a local fake of FaceID's HTTP interface.

The fake checks each request as the service would: the TC3-HMAC-SHA256 signature is recomputed from the request
with the secret key it knows (the algorithm of Tencent Cloud's API 3.0 signing document, written out here rather
than taken from the SDK), so a test passes only if the SDK really signs, addresses and encodes the call correctly.
"""

import hashlib
import hmac
import http.client
import json
import re
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services import identity_check
from services.identity_check import (
    IN_PERSON,
    LEVEL_LABELS,
    LEVELS,
    PROVIDER,
    SELF_ASSERTED,
    EmbeddedProvider,
    ProviderMisconfigured,
    ProviderUnavailable,
    TencentCloudProvider,
    Verdict,
)
from tests.identities import id_number

SECRET_ID = "AKIDfake0000000000000000000000000000"
SECRET_KEY = "fake-secret-key-0000000000000000"
WOMAN = id_number("19900101", "2")
MAN = id_number("19880808", "1", serial=34)
WITH_X = id_number("19930303", "1", serial=6)  # check character X
NO_RECORD = id_number("19950505", "2", serial=56)
OUTAGE = id_number("19920202", "2", serial=78)  # the fake answers this one with an InternalError
# The fake's ID database: number → the name registered with it.
REGISTERED = {WOMAN: "王芳", MAN: "李强", WITH_X: "赵磊"}
# Header → (the value this fake serves, the error code the service answers another value with).
EXPECTED_HEADERS = {
    "x-tc-action": ("IdCardVerification", "InvalidAction"),
    "x-tc-version": ("2018-03-01", "NoSuchVersion"),
    "x-tc-region": ("ap-guangzhou", "UnsupportedRegion"),
}
AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_signature(secret_key: str, method: str, path: str, query: str, headers: dict[str, str],
                  signed_headers: str, body: bytes, timestamp: str, date: str, service: str) -> str:
    """Compute a TC3-HMAC-SHA256 signature as the service does."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n"
                                for name in signed_headers.split(";"))
    canonical_request = "\n".join([method, path, query, canonical_headers, signed_headers,
                                   hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class FakeFaceid(ThreadingHTTPServer):
    """FaceID's API 3.0 endpoint for IdCardVerification, on the loopback."""

    daemon_threads = True
    service = "faceid"  # the service name the signature's credential scope must give

    def __init__(self, handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), handler or _Handler)
        self.secrets = {SECRET_ID: SECRET_KEY}
        self.seen: list[dict] = []  # one entry per request: headers, body, and what the fake made of it

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes) -> str | None:
        """Return the AuthFailure code for the request, or None when it is properly signed."""
        match = AUTHORIZATION.match(headers.get("authorization", ""))
        timestamp = headers.get("x-tc-timestamp", "")
        if not match or not timestamp.isdigit() or match["service"] != self.service \
                or not {"content-type", "host"} <= set(match["signed"].split(";")) \
                or datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") != match["date"]:
            return "AuthFailure.InvalidAuthorization"
        if match["id"] not in self.secrets:
            return "AuthFailure.SecretIdNotFound"
        if abs(time.time() - int(timestamp)) > 300:
            return "AuthFailure.SignatureExpire"
        signed = match["signed"]
        path_only, _, query = path.partition("?")
        expected = tc3_signature(self.secrets[match["id"]], method, path_only, query, headers, signed, body,
                                 timestamp, match["date"], match["service"])
        if not hmac.compare_digest(expected, match["signature"]):
            return "AuthFailure.SignatureFailure"
        return None


class _Handler(BaseHTTPRequestHandler):
    server: FakeFaceid

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = {"path": self.path, "headers": headers, "body": body}
        self.server.seen.append(seen)
        request_id = str(uuid.uuid4())
        seen["error"] = error = self._refusal(headers, body)
        if error:
            return self._answer({"Error": {"Code": error, "Message": "请求被拒绝"}, "RequestId": request_id})
        params = json.loads(body)
        seen["params"] = params
        if params["IdCard"] == OUTAGE:
            return self._answer({"Error": {"Code": "InternalError", "Message": "内部错误"}, "RequestId": request_id})
        registered = REGISTERED.get(params["IdCard"])
        if registered is None:
            return self._answer({"Result": "-5", "Description": "证件库中无此身份证记录", "RequestId": request_id})
        if registered == params["Name"]:
            return self._answer({"Result": "0", "Description": "姓名和身份证号一致", "RequestId": request_id})
        return self._answer({"Result": "-1", "Description": "姓名和身份证号不一致", "RequestId": request_id})

    def _refusal(self, headers: dict[str, str], body: bytes) -> str | None:
        if self.path != "/" or headers.get("content-type") != "application/json":
            return "InvalidParameter"
        auth = self.server.authenticate("POST", self.path, headers, body)
        wrong = [code for header, (value, code) in EXPECTED_HEADERS.items() if headers.get(header) != value]
        if auth or wrong:
            return auth or wrong[0]
        try:
            params = json.loads(body)
        except ValueError:
            return "InvalidParameter"
        if not isinstance(params, dict) or not {"Name", "IdCard"} <= params.keys():
            return "MissingParameter"
        return None

    def _answer(self, response: dict) -> None:
        payload = json.dumps({"Response": response}, ensure_ascii=False).encode()
        self.send_response(200)  # the API answers errors with 200 too, the error is in the body
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the signature of http.server
        """Keep the test output quiet."""


@pytest.fixture
def fake():
    """A running fake FaceID service."""
    server = FakeFaceid()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _provider(fake, secret_key: str = SECRET_KEY) -> TencentCloudProvider:
    return identity_check.configure({
        "IDENTITY_PROVIDER": "tencentcloud", "TENCENTCLOUD_SECRET_ID": SECRET_ID,
        "TENCENTCLOUD_SECRET_KEY": secret_key, "TENCENTCLOUD_FACEID_ENDPOINT": fake.endpoint,
    })


@pytest.fixture(autouse=True)
def _embedded_afterwards():
    """Leave the embedded provider active for the tests that follow."""
    yield
    identity_check.configure({})


def test_levels_are_ordered_and_labelled():
    assert LEVELS == (SELF_ASSERTED, PROVIDER, IN_PERSON)
    assert identity_check.at_least(PROVIDER, SELF_ASSERTED)
    assert identity_check.at_least(PROVIDER, PROVIDER)
    assert not identity_check.at_least(PROVIDER, IN_PERSON)
    assert identity_check.at_least(IN_PERSON, PROVIDER)
    assert not identity_check.at_least(SELF_ASSERTED, PROVIDER)
    assert LEVEL_LABELS == {SELF_ASSERTED: "自行申报：仅验证手机号", PROVIDER: "已通过实名核验",
                            IN_PERSON: "已在服务大厅现场核验"}


def test_matching_name_and_number_reach_the_provider_level(fake):
    provider = _provider(fake)

    verdict = identity_check.check("王芳", WOMAN)

    assert verdict == Verdict(level=PROVIDER, matched=True, reference=verdict.reference, message="")
    [request] = fake.seen
    assert request["error"] is None  # signed correctly, headers as the service wants them
    assert request["params"] == {"Name": "王芳", "IdCard": WOMAN}
    assert request["headers"]["x-tc-action"] == "IdCardVerification"
    assert request["headers"]["x-tc-version"] == "2018-03-01"
    assert request["headers"]["x-tc-region"] == "ap-guangzhou"
    assert request["headers"]["authorization"].startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/")
    assert re.fullmatch(r"[0-9a-f-]{36}", verdict.reference)  # the fake's request id, for the audit trail
    assert identity_check.provider() is provider


def test_the_fake_refuses_a_signed_request_whose_body_was_changed(fake):
    _provider(fake).check("王芳", WOMAN)
    signed = fake.seen[0]
    forged = signed["body"].replace(json.dumps("王芳").encode(), json.dumps("李强").encode())
    headers = {name: value for name, value in signed["headers"].items() if name not in {"content-length", "host"}}
    connection = http.client.HTTPConnection("127.0.0.1", fake.server_address[1], timeout=5)
    try:
        connection.request("POST", "/", body=forged, headers={**headers, "Host": signed["headers"]["host"]})
        answer = json.loads(connection.getresponse().read())
    finally:
        connection.close()

    assert forged != signed["body"]
    assert answer["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert fake.seen[1]["error"] == "AuthFailure.SignatureFailure"


def test_spaces_and_a_lower_case_x_are_normalized(fake):
    assert WITH_X.endswith("X")

    assert _provider(fake).check(" 赵磊 ", f" {WITH_X[:9]} {WITH_X[9:].lower()}").matched

    assert fake.seen[0]["params"] == {"Name": "赵磊", "IdCard": WITH_X}


def test_a_name_that_does_not_belong_to_the_number_is_not_matched(fake):
    verdict = _provider(fake).check("张伟", WOMAN)

    assert not verdict.matched
    assert verdict.level == SELF_ASSERTED
    assert verdict.message == "姓名与身份证号码不一致，请核对"
    assert verdict.reference
    assert _provider(fake).check("李强", MAN).matched


def test_a_wrong_secret_key_is_an_unavailable_provider_not_a_mismatch(fake):
    with pytest.raises(ProviderUnavailable) as raised:
        _provider(fake, secret_key="not-the-key").check("王芳", WOMAN)

    assert str(raised.value) == "实名核验服务暂时不可用，请稍后再试"
    assert raised.value.code == "AuthFailure.SignatureFailure"
    assert raised.value.reference  # the service's request id, to quote to its support
    assert fake.seen[0]["error"] == "AuthFailure.SignatureFailure"


def test_a_service_error_is_an_unavailable_provider(fake):
    with pytest.raises(ProviderUnavailable) as raised:
        _provider(fake).check("王芳", OUTAGE)

    assert raised.value.code == "InternalError"
    assert fake.seen[0]["error"] is None


def test_a_result_that_decides_nothing_is_an_unavailable_provider(fake):
    # -5: no such number in the ID database; -2 … -7 are all "no decision" (and not charged).
    with pytest.raises(ProviderUnavailable) as raised:
        _provider(fake).check("王芳", NO_RECORD)

    assert raised.value.code == "Result-5"
    assert raised.value.reference


def test_a_server_that_is_down_fails_quickly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free now, and nobody listens once the socket is closed
    provider = TencentCloudProvider(SECRET_ID, SECRET_KEY, endpoint=f"http://127.0.0.1:{port}")

    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as raised:
        provider.check("王芳", WOMAN)

    assert raised.value.code == "ClientNetworkError"
    assert time.monotonic() - started < 2


def test_the_embedded_provider_accepts_everyone_as_self_asserted():
    assert identity_check.configure({}).name == "embedded"
    assert isinstance(identity_check.provider(), EmbeddedProvider)

    verdict = identity_check.check("任何人", WOMAN)

    assert verdict == Verdict(level=SELF_ASSERTED, matched=True, reference="", message="")


@pytest.mark.parametrize(("settings", "named"), [
    ({"IDENTITY_PROVIDER": "tencentcloud", "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}, "TENCENTCLOUD_SECRET_ID"),
    ({"IDENTITY_PROVIDER": "tencentcloud", "TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": " "},
     "TENCENTCLOUD_SECRET_KEY"),
    ({"IDENTITY_PROVIDER": "aliyun"}, "IDENTITY_PROVIDER"),
    ({"IDENTITY_PROVIDER": "tencentcloud", "TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
      "TENCENTCLOUD_FACEID_ENDPOINT": "http://faceid.example.com"}, "TENCENTCLOUD_FACEID_ENDPOINT"),
    ({"IDENTITY_PROVIDER": "tencentcloud", "TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
      "TENCENTCLOUD_FACEID_ENDPOINT": "ftp://127.0.0.1:21"}, "TENCENTCLOUD_FACEID_ENDPOINT"),
])
def test_configure_refuses_what_cannot_work_and_names_the_setting(settings, named):
    with pytest.raises(ProviderMisconfigured, match=named):
        identity_check.configure(settings)

    assert isinstance(identity_check.provider(), EmbeddedProvider)  # the active provider is left as it was


def test_an_empty_key_is_refused_as_a_configuration_error():
    with pytest.raises(ProviderMisconfigured, match="TENCENTCLOUD_SECRET_KEY"):
        TencentCloudProvider(SECRET_ID, " ")


def test_configure_defaults_to_the_production_endpoint_over_https():
    provider = identity_check.configure({"IDENTITY_PROVIDER": "TencentCloud", "TENCENTCLOUD_SECRET_ID": SECRET_ID,
                                         "TENCENTCLOUD_SECRET_KEY": SECRET_KEY})

    assert isinstance(provider, TencentCloudProvider)
    assert provider.region == "ap-guangzhou"
    assert provider.endpoint == "faceid.tencentcloudapi.com"
    assert SECRET_KEY not in repr(provider)


def test_the_settings_are_declared_with_their_defaults(monkeypatch):
    from webapp.config import from_environment

    for name in ("IDENTITY_PROVIDER", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_REGION",
                 "TENCENTCLOUD_FACEID_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)

    settings = from_environment()

    assert settings["IDENTITY_PROVIDER"] == "embedded"
    assert settings["TENCENTCLOUD_REGION"] == "ap-guangzhou"
    assert settings["TENCENTCLOUD_FACEID_ENDPOINT"] == "faceid.tencentcloudapi.com"
    assert isinstance(identity_check.configure(settings), EmbeddedProvider)
