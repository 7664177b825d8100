"""Benchmark: accepting a 4000×3000 phone photo as a proof material.

Run: python -m tests.benchmarks.uploads [RUNS]   (default 10 runs; no database needed)
     python -m tests.benchmarks.uploads --requests [RUNS]   (the upload request in-process, on BENCH_DATABASE_URL)

Times `services.uploads.harden` on a 12-megapixel JPEG of random pixels (which compresses about as badly as a real
photo, so decoding and encoding do real work) with a GPS position in its EXIF: the header and pixel checks,
verify(), the decode (at half scale: the photo is twice the kept 2000 px), the upright turn, the JPEG re-encode at
quality 85 and the 320 px thumbnail. Then the same plus writing both files to a temporary FileStore. Prints p50 and
p95 in milliseconds, and the median CPU time (the figure to compare on a busy machine: it does not count the time
other processes hold the cores).
"""

import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from services.filestore import DiskFileStore
from services.uploads import UploadLimits, harden
from tests.samples import photo

WIDTH, HEIGHT = 4000, 3000


def _timings(runs: int, step: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Return the wall-clock and the CPU milliseconds of each run."""
    step()  # warm up: imports, first allocations
    timings, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        step()
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return timings, cpu


def _report(name: str, measured: tuple[list[float], list[float]]) -> None:
    ordered = sorted(measured[0])
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{name:<34} p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   "
          f"CPU {statistics.median(measured[1]):7.1f} ms   (n={len(ordered)})")


def main(runs: int) -> None:
    """Time hardening and storing a 4000×3000 JPEG."""
    data = photo(WIDTH, HEIGHT, gps=True, noise=True)
    limits = UploadLimits()
    print(f"input: {WIDTH}×{HEIGHT} JPEG with GPS EXIF, {len(data) / 1024 / 1024:.1f} MB")
    kept = harden(data, allow_pdf=False, limits=limits)
    print(f"kept:  {kept.width}×{kept.height}, {len(kept.content) / 1024 / 1024:.1f} MB JPEG q85, "
          f"thumbnail {len(kept.thumbnail) / 1024:.0f} KB")
    _report("harden (checks, decode, re-encode)", _timings(runs, lambda: harden(data, allow_pdf=False,
                                                                                   limits=limits)))

    engine = create_engine("sqlite://")
    with tempfile.TemporaryDirectory() as root, Session(engine) as session:
        store = DiskFileStore(root)

        def harden_and_store() -> None:
            hardened = harden(data, allow_pdf=False, limits=limits)
            store.save(session, hardened.content, hardened.suffix)
            store.save(session, hardened.thumbnail, ".jpg")
            session.rollback()  # the files go again, as for an upload whose transaction does not commit

        _report("harden + write both files", _timings(runs, harden_and_store))
    engine.dispose()


def requests_costs(runs: int) -> None:
    """Upload `runs` photos as the page's script does (one file, JSON back) and print each one's deterministic costs.

    The database comes from BENCH_DATABASE_URL (default the local `h_db`; it is emptied first). Prints statements
    and CPU milliseconds (client and server in this one process) per upload request.
    """
    from io import BytesIO

    from sqlalchemy import event

    from processes.roles import CITIZEN
    from services import accounts, applications
    from services.db import db
    from tests.benchmarks.completions import URL
    from tests.fixtures import csrf_token, sign_in
    from tests.support import reset_schema
    from webapp import create_app
    from webapp.migrations import upgrade

    data = photo(WIDTH, HEIGHT, gps=True, noise=True)
    reset_schema(URL)
    upgrade(URL)
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(DATABASE_URL=URL, INSTANCE_DIR=instance, TICK_SECONDS=0, BACKGROUND="inline",
                         SECRET_KEY="bench-uploads", UPLOAD_MAX_PER_KIND=runs + 2)
        with app.app_context():
            citizen = accounts.create_user(db.session, phone="13800000001", name="张丽", role=CITIZEN,
                                           password="Bench@12345")
            token = applications.start(db.session, citizen.id, "first_child").token
            db.session.commit()
            engine = db.engine
        client = app.test_client()
        sign_in(client, citizen, password="Bench@12345")
        csrf = csrf_token(client.get(f"/apply/{token}/materials").text)
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: PLR0913
            statements.append(statement.split(None, 1)[0])

        def upload() -> None:
            answer = client.post(f"/apply/{token}/materials", content_type="multipart/form-data",
                                 headers={"Accept": "application/json"},
                                 data={"csrf_token": csrf, "kind": "id_card", "file": (BytesIO(data), "id.jpg")})
            assert answer.status_code == 200, answer.text

        upload()  # warm up
        event.listen(engine, "before_cursor_execute", count)
        _report("upload request (JSON)", _timings(runs, upload))
        event.remove(engine, "before_cursor_execute", count)
        print(f"statements per upload request: {len(statements) / (runs + 1):.1f} "
              f"({', '.join(f'{kind} {statements.count(kind) / (runs + 1):.1f}' for kind in sorted(set(statements)))})")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    if "--requests" in sys.argv:
        requests_costs(int(sys.argv[2]) if len(sys.argv) > 2 else 10)  # noqa: PLR2004
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
