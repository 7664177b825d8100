"""Benchmark: the time a citizen waits at each registration and sign-in step (password and code hashing dominate).

Run: python -m tests.benchmarks.registration [REGISTRATIONS]   (SQLite in a temporary directory, or the database
at BENCH_DATABASE_URL, emptied and migrated first)

Each registration goes through the pages with the Flask test client: accept the notice, ask for a code, submit
the form (code check, scrypt of the password, insert, sign-in), sign out and sign in again. The median and the
slowest time of each step are printed in milliseconds.
"""

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from services.identity import check_character
from tests.fixtures import _ServerLikeClient, csrf_token, last_sms_code
from tests.support import reset_schema
from webapp import create_app
from webapp.migrations import upgrade


def main(registrations: int = 10) -> None:
    """Register `registrations` citizens and print the step timings."""
    with tempfile.TemporaryDirectory() as directory:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(directory) / 'bench.db'}"
        reset_schema(url)
        upgrade(url)
        app = create_app(DATABASE_URL=url, INSTANCE_DIR=Path(directory), SECRET_KEY="bench", TICK_SECONDS=0,
                         RATE_LIMITS={"sms_code:phone": "1000/hour", "sms_code:address": "1000/hour"})
        timings: dict[str, list[float]] = defaultdict(list)
        for number in range(registrations):
            with app.app_context():
                register_one(app, number, timings)
        print(f"{registrations} registrations on {url.split(':')[0]}")
        for step, values in timings.items():
            print(f"  {step:14s} median {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms")


def register_one(app, number: int, timings: dict[str, list[float]]) -> None:
    """Register citizen `number` through the pages, sign out and in again, noting each step's time."""
    client = _ServerLikeClient(app, app.response_class, use_cookies=True)

    def timed(step: str, url: str, data: dict | None = None):
        start = time.perf_counter()
        response = client.post(url, data=data) if data is not None else client.get(url)
        timings[step].append((time.perf_counter() - start) * 1000)
        assert response.status_code in {200, 302}, (step, response.status_code)
        return response

    phone = f"136{number:08d}"
    first17 = f"110101199003{number % 28 + 1:02d}{number % 999 + 1:03d}"  # sequence 001-999: 000 is never issued
    form = {"phone": phone, "name": "测试", "id_number": first17 + check_character(first17),
            "password": "Bench@2026", "confirm": "Bench@2026"}
    page = timed("notice page", "/auth/register")
    timed("accept notice", "/auth/register/notice", {"csrf_token": csrf_token(page.text), "agree": "y"})
    token = csrf_token(client.get("/auth/register").text)
    timed("send code", "/auth/register/code", {"csrf_token": token, **form})
    timed("register", "/auth/register", {"csrf_token": token, "code": last_sms_code(phone), **form})
    client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    token = csrf_token(client.get("/auth/login").text)
    timed("sign in", "/auth/login", {"csrf_token": token, "phone": phone, "password": "Bench@2026"})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
