"""One private stack for the whole fault suite: PostgreSQL, Redis, gunicorn -w 2, a supervised Celery worker and
beat (tests/services_harness.py). Without initdb or redis-server the suite is skipped, and fails under CI=true."""

import itertools

import pytest

from tests.services_harness import Stack, missing_tools, require


@pytest.fixture(scope="session")
def stack():
    require(missing_tools())
    started = Stack(web_workers=2, tick_seconds=5).start()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def account_blocks():
    """Numbers of fresh blocks of accounts: each scenario seeds citizens and staff nobody used before."""
    return itertools.count(1)
