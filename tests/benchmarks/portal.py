"""Benchmark: the portal's home page and a 办事指南 page, as an anonymous visitor opens them.

Run: python -m tests.benchmarks.portal [REQUESTS]   (SQLite in a temporary directory, or the database at
BENCH_DATABASE_URL, emptied and migrated first)

The shipped diagrams are deployed; each page is opened REQUESTS times after a few warm-up requests (the first builds
the guide of each process version, later ones use the kept copy). p50 and p95 are printed in milliseconds against
the target (p95 under 30 ms).
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from processes import casework
from services.db import db
from tests.fixtures import _ServerLikeClient
from tests.support import reset_schema
from webapp import create_app
from webapp.migrations import upgrade

PAGES = {"home": "/", "guide": "/guide/first_child"}
WARM_UP = 5
TARGET_P95_MS = 30


def percentile(values: list[float], share: float) -> float:
    """Return the value below which `share` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main(requests: int = 500) -> None:
    """Open each page `requests` times and print p50 and p95."""
    with tempfile.TemporaryDirectory() as directory:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(directory) / 'bench.db'}"
        reset_schema(url)
        upgrade(url)
        app = create_app(DATABASE_URL=url, INSTANCE_DIR=Path(directory), SECRET_KEY="bench", TICK_SECONDS=0)
        with app.app_context():
            casework.deploy_shipped(db.session)
            db.session.commit()
        client = _ServerLikeClient(app, app.response_class, use_cookies=True)
        print(f"{requests} requests per page on {url.split(':')[0]}")
        for name, path in PAGES.items():
            for _ in range(WARM_UP):
                assert client.get(path).status_code == 200
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
            p95 = percentile(times, 0.95)
            verdict = "ok" if p95 < TARGET_P95_MS else f"ABOVE the {TARGET_P95_MS} ms target"
            print(f"  {name:6s} p50 {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms   ({verdict})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
