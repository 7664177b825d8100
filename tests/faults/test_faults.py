"""Faults under load, as production meets them: a worker killed mid-task, the broker gone for 15 s, PostgreSQL
restarted while requests run and while nothing does.

Citizens submit whole applications (four photos each) through the pages and staff decide tasks through the JSON
API while the fault happens. Afterwards every case must reach 登记成功 within 60 s (beat ticks every 5 s), with no
case lost or made twice, every decision, outbox row and SMS row once (and, where the fake Tencent Cloud SMS service
exists, every message accepted by it once), no request answered with a server error or not answered, the worker
alive (restarted by the supervisor if it died) and no outbox row left pending.

A 503 while the database restarts is counted as an error too: a request that finds its connection dead must run
again on a new one inside the same request (the restart takes about a second), not hand the failure to the user.
"""

import re
import time

import pytest

from tests.traffic import Traffic, seed, settled

pytestmark = pytest.mark.faults

CITIZEN_THREADS = 4
STAFF_THREADS = 3
SETTLE_SECONDS = 60


def wait_until(predicate, timeout: float, what: str) -> None:
    ends_at = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < ends_at, f"timed out waiting for {what}"
        time.sleep(0.05)


def under_load(stack, block: int, fault, earlier: dict[str, str] | None = None) -> tuple[Traffic, object]:
    """Run citizens and staff, call `fault(traffic)` while they run, stop new submissions when it returns, then
    wait for every case to settle (with the `earlier` cases of an earlier round); return the traffic and the
    outcome."""
    seeded = seed(stack, citizens=60, staff_per_office=2, first=block * 1000)
    traffic = Traffic(stack.base_url, seeded, citizens=CITIZEN_THREADS, staff=STAFF_THREADS,
                      first_number=block * 1000).start()
    started = time.monotonic()
    try:
        fault(traffic)
        faulted = time.monotonic()
        traffic.no_more_submissions.set()
        traffic.wait_for_citizens(120)
        seen, took = settled(stack, {**(earlier or {}), **traffic.tally.cases}, SETTLE_SECONDS)
    finally:
        traffic.stop()
    print(f"\n{len(traffic.tally.cases)} cases; fault phase {faulted - started:.0f} s, "
          f"last submissions {time.monotonic() - faulted - took:.0f} s, settled in {took:.0f} s")
    return traffic, seen


def progressed(traffic: Traffic, cases: int = 2) -> bool:
    return len(traffic.tally.cases) >= cases


def assert_nothing_lost(stack, traffic: Traffic, seen) -> None:
    tally = traffic.tally
    print(tally.report())
    assert tally.cases, "no application was submitted"
    assert not tally.server_errors(), "requests answered with a server error or not at all:\n" + "\n".join(
        tally.server_errors()[:10])
    assert not tally.abandoned, f"citizens who could not finish their application: {tally.abandoned}"
    assert seen.problems() == {}, f"after {SETTLE_SECONDS} s: {seen.problems()}"
    worker = stack.processes["worker"]
    print(f"worker restarted {worker.restarts} times so far (exit statuses {worker.exits})")
    assert worker.alive(), f"the Celery worker is down:\n{worker.log_tail()}"


_RECEIVED = re.compile(r"Task birthreg\.perform_outbox\[([0-9a-f-]+)\] received")
_FINISHED = re.compile(r"Task birthreg\.perform_outbox\[([0-9a-f-]+)\] (?:succeeded|failed|raised|retry)")


def worker_log(stack) -> str:
    return stack.processes["worker"].log.read_text(errors="replace")


def tasks_in_flight(stack, since: int) -> set[str]:
    """The service tasks the worker logged receiving after offset `since` of its log and has not logged ending."""
    log = worker_log(stack)[since:]
    return set(_RECEIVED.findall(log)) - set(_FINISHED.findall(log))


def test_a_worker_killed_mid_task_loses_and_repeats_nothing(stack, account_blocks):
    worker = stack.processes["worker"]
    restarts_before = worker.restarts
    killed = []

    def kill_twice_mid_task(traffic):
        for kill in range(1, 3):
            # A task is in flight when the worker logged its receipt and not yet its end (slips take a while).
            since = len(worker_log(stack))
            wait_until(lambda: bool(tasks_in_flight(stack, since)), 45, "a service task in flight")  # noqa: B023
            killed.append(tasks_in_flight(stack, since))
            worker.kill()
            wait_until(lambda: worker.restarts == restarts_before + kill and worker.alive(),  # noqa: B023
                       15, "the supervisor to restart the worker")
        wait_until(lambda: progressed(traffic, 4), 60, "more applications after the kills")

    traffic, seen = under_load(stack, next(account_blocks), kill_twice_mid_task)
    assert len(killed) == 2, killed
    assert all(killed), f"a kill found no task in flight: {killed}"
    assert worker.exits[-2:] == [-9, -9], worker.exits
    assert_nothing_lost(stack, traffic, seen)


def test_the_broker_down_for_15_seconds_loses_and_repeats_nothing(stack, account_blocks):
    def broker_outage(traffic):
        wait_until(lambda: progressed(traffic, 2) and traffic.tally.completions >= 2, 60,
                   "submissions and decisions before the outage")
        during = len(traffic.tally.cases), traffic.tally.completions
        stack.redis.stop()
        time.sleep(15)
        stack.redis.start()
        print(f"\nduring the outage: {len(traffic.tally.cases) - during[0]} applications, "
              f"{traffic.tally.completions - during[1]} task completions")
        wait_until(lambda: progressed(traffic, during[0] + 2), 60, "applications after the outage")

    traffic, seen = under_load(stack, next(account_blocks), broker_outage)
    assert_nothing_lost(stack, traffic, seen)


def test_postgresql_restarted_under_load_loses_and_repeats_nothing(stack, account_blocks):
    def database_restart(traffic):
        wait_until(lambda: progressed(traffic, 2), 60, "applications before the restart")
        stack.postgres.restart()
        stack.dispose_connections()
        before = len(traffic.tally.cases)
        wait_until(lambda: progressed(traffic, before + 2), 60, "applications after the restart")

    traffic, seen = under_load(stack, next(account_blocks), database_restart)
    assert_nothing_lost(stack, traffic, seen)


def test_postgresql_restarted_while_idle_then_every_request_succeeds(stack, account_blocks):
    # Some traffic first, so that every web and worker process holds pooled connections; then nothing runs.
    seeded_block = next(account_blocks)
    seeded = seed(stack, citizens=10, staff_per_office=1, first=seeded_block * 1000)
    warm_up = Traffic(stack.base_url, seeded, citizens=CITIZEN_THREADS, staff=STAFF_THREADS,
                      first_number=seeded_block * 1000).start()
    wait_until(lambda: progressed(warm_up, 2), 60, "applications before the restart")
    warm_up.stop()
    assert not warm_up.tally.server_errors(), warm_up.tally.server_errors()[:5]
    stack.postgres.restart()
    stack.dispose_connections()

    traffic, seen = under_load(stack, next(account_blocks),
                               lambda traffic: wait_until(lambda: progressed(traffic, 3), 60, "applications"),
                               earlier=warm_up.tally.cases)
    assert_nothing_lost(stack, traffic, seen)
