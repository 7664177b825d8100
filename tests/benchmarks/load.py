"""Benchmark: the production shape under concurrent citizens and staff, over HTTP on the loopback.

Run: python -m tests.benchmarks.load [--clients 20] [--seconds 60] [--applications 200]

Starts private PostgreSQL and Redis on free loopback ports, gunicorn -w 2 and a Celery worker and beat
(tests/services_harness.py, as the fault tests do). Three quarters of the clients are citizens, each submitting a
whole application with four photos through the pages (sign-in, notice, draft, form, uploads, review, submit); the
rest are staff deciding tasks, half through the JSON API and half through the inbox and task pages. Submissions stop
after `--seconds` or `--applications`, whichever comes first; the staff then finish the cases (at most 60 s more).

Prints applications/s, task completions/s, p50/p95 per request kind and the status counts, then checks the
database: one case per submitted application, each decision, outbox row and SMS once, every case 登记成功.

The clients are threads with `requests` sessions (tests/traffic.py), not locust: locust needs gevent's monkey
patching of the whole process, which would also patch the harness's subprocess supervision and the psycopg
connections it checks the database with; a thread per client is enough to keep 20 clients busy on the loopback.
"""

import argparse
import sys
import time

from tests.services_harness import Stack, missing_tools
from tests.traffic import Traffic, seed, settled


def main(clients: int, seconds: float, applications: int) -> int:
    """Run the load; return 0 when the database holds exactly what the clients did."""
    if reason := missing_tools():
        print(reason, file=sys.stderr)
        return 2
    citizens = max(1, clients * 3 // 4)
    staff = max(2, clients - citizens)
    print("starting PostgreSQL, Redis, gunicorn -w 2, a Celery worker and beat …", flush=True)
    stack = Stack(web_workers=2, tick_seconds=5).start()
    try:
        seeded = seed(stack, citizens=applications, staff_per_office=max(2, staff))
        traffic = Traffic(stack.base_url, seeded, citizens=citizens, staff=(staff + 1) // 2, page_staff=staff // 2,
                          stack=stack, max_applications=applications)
        print(f"{citizens} citizens and {staff} staff for {seconds:.0f} s or {applications} applications",
              flush=True)
        started = time.monotonic()
        traffic.start()
        traffic.wait_for_citizens(seconds)
        traffic.no_more_submissions.set()
        traffic.wait_for_citizens(120)
        submitting = time.monotonic() - started
        seen, took = settled(stack, traffic.tally.cases, 60)
        traffic.stop()
        working = (traffic.tally.last_completion or time.monotonic()) - started
    finally:
        stack.stop()
    tally = traffic.tally
    applied = len(tally.cases)
    print(f"\n{applied} applications in {submitting:.1f} s: {applied / submitting:.2f} applications/s")
    print(f"{tally.completions} task completions in {working:.1f} s: {tally.completions / working:.2f} completions/s")
    print(f"cases settled {took:.1f} s after the last submission\n")
    print(tally.report())
    errors = tally.server_errors()
    print(f"\nserver errors or no answer: {len(errors)}; abandoned applications: {len(tally.abandoned)}")
    for line in errors[:10]:
        print("  " + line)
    problems = seen.problems()
    print("database:", problems or "one case per application, every decision, outbox row and SMS once, all final")
    return 1 if problems or errors or tally.abandoned else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--applications", type=int, default=200)
    arguments = parser.parse_args()
    sys.exit(main(arguments.clients, arguments.seconds, arguments.applications))
