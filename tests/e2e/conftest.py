"""Browser fixtures: the app served on a free local port, and Debian's Chromium driven by Playwright.

The server runs the session `app` in a thread of this process, so it uses the test database and the tables are
emptied after each test as usual. Chromium is the system one (/usr/bin/chromium); Playwright's own browser
downloads are never used. Outside CI a missing Chromium skips the `e2e` tests (tests/conftest.py), in CI it fails.
"""

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import CHROMIUM

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--lang=zh-CN"]


@pytest.fixture(scope="module")
def live_server(app):
    """Serve `app` on 127.0.0.1 at a free port (threaded, like a real server); yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    """Launch Debian's headless Chromium once per module."""
    if not CHROMIUM.exists():
        # Only reached in CI: outside it the collection hook has already skipped every e2e test.
        pytest.fail(f"Chromium is missing at {CHROMIUM} (CI={os.environ.get('CI')}); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshots():
    """Return a function that saves a numbered full-page screenshot of a page into test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = []

    def shoot(page, name: str) -> Path:
        path = SCREENSHOTS / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return shoot


@pytest.fixture
def browser_context(chromium, live_server):
    """Return a factory of browser contexts (one per person: own cookies), closed after the test."""
    contexts = []

    def make(viewport=DESKTOP, **options):
        if viewport == PHONE:
            options = {"is_mobile": True, "has_touch": True, **options}
        context = chromium.new_context(base_url=live_server, viewport=viewport, locale="zh-CN",
                                       timezone_id="Asia/Shanghai", **options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def citizen_sign_in(page, phone: str, password: str) -> None:
    """Open the login page and sign in with phone and password (citizens need no SMS code)."""
    page.goto("/auth/login")
    page.get_by_label("手机号码").fill(phone)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def staff_sign_in(page, person, password: str, landing: str) -> None:
    """Finish a staff sign-in on the login page `page` shows: password, then the SMS code read from the outbox."""
    from tests.fixtures import last_sms_code

    page.get_by_label("手机号码").fill(person.phone)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/auth/verify")
    page.get_by_label("短信验证码").fill(last_sms_code(person.phone))
    page.get_by_role("button", name="验证并登录").click()
    page.wait_for_url(landing)
