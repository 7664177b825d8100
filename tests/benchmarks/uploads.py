"""Benchmark: accepting a 4000×3000 phone photo as a proof material.

Run: python -m tests.benchmarks.uploads [RUNS]   (default 10 runs; no database needed)

Times `services.uploads.harden` on a 12-megapixel JPEG of random pixels (which compresses about as badly as a real
photo, so decoding and encoding do real work) with a GPS position in its EXIF: the header and pixel checks,
verify(), the full decode, the upright turn, the JPEG re-encode at quality 85 and the 320 px thumbnail. Then the
same plus writing both files to a temporary FileStore. Prints p50 and p95 in milliseconds.
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


def _timings(runs: int, step: Callable[[], object]) -> list[float]:
    step()  # warm up: imports, first allocations
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _report(name: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{name:<34} p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ordered)})")


def main(runs: int) -> None:
    """Time hardening and storing a 4000×3000 JPEG."""
    data = photo(WIDTH, HEIGHT, gps=True, noise=True)
    limits = UploadLimits()
    print(f"input: {WIDTH}×{HEIGHT} JPEG with GPS EXIF, {len(data) / 1024 / 1024:.1f} MB")
    kept = harden(data, allow_pdf=False, limits=limits)
    print(f"kept:  {len(kept.content) / 1024 / 1024:.1f} MB JPEG q85, thumbnail {len(kept.thumbnail) / 1024:.0f} KB")
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
