"""Registration asks the identity provider once the SMS code is proven, and records the level it establishes."""

import pytest

from services import accounts, identity_check
from tests.fixtures import last_sms_code
from tests.webapp.test_rate_limits import ID_NUMBER, PHONE, accept_notice, ask_registration_code, submit_registration


class Provider:
    """A provider that answers as configured and remembers what it was asked."""

    name = "scripted"

    def __init__(self, verdict=None, outage=False):
        self.verdict, self.outage, self.asked = verdict, outage, []

    def check(self, name, id_number):
        self.asked.append((name, id_number))
        if self.outage:
            raise identity_check.ProviderUnavailable("Timeout")
        return self.verdict


@pytest.fixture
def provider(monkeypatch):
    def use(**kwargs):
        scripted = Provider(**kwargs)
        monkeypatch.setitem(identity_check._active, "provider", scripted)  # noqa: SLF001 - the active provider
        return scripted
    return use


def _register(client):
    accept_notice(client)
    ask_registration_code(client)
    return submit_registration(client, last_sms_code(PHONE))


def test_a_matched_name_and_number_are_recorded_at_the_providers_level(client, session, provider):
    scripted = provider(verdict=identity_check.Verdict(level=identity_check.PROVIDER, matched=True, reference="r1"))
    assert _register(client).status_code == 302
    assert scripted.asked == [("王芳", ID_NUMBER)]
    account = accounts.find_by_phone(session, PHONE)
    assert (account.identity_level, account.holds_id_number) == (identity_check.PROVIDER, True)


def test_a_mismatch_is_told_and_no_account_is_made(client, session, provider):
    provider(verdict=identity_check.Verdict(level=identity_check.SELF_ASSERTED, matched=False,
                                            message="姓名与身份证号码不一致，请核对"))
    answer = _register(client)
    assert answer.status_code == 200
    assert "姓名与身份证号码不一致，请核对" in answer.text
    assert accounts.find_by_phone(session, PHONE) is None


def test_an_outage_is_an_error_to_retry_never_a_weaker_level(client, session, provider):
    provider(outage=True)
    answer = _register(client)
    assert "实名核验服务暂时不可用，请稍后再试" in answer.text
    assert accounts.find_by_phone(session, PHONE) is None


def test_the_provider_is_never_asked_before_the_code_is_proven(client, provider):
    scripted = provider(verdict=identity_check.Verdict(level=identity_check.PROVIDER, matched=True))
    accept_notice(client)
    ask_registration_code(client)
    submit_registration(client, "000000")
    assert scripted.asked == [], "a wrong code must not let anyone test names against ID numbers"
