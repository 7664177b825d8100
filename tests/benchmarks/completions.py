"""Benchmark: task completions per second through the JSON API, gunicorn on PostgreSQL, under concurrent clients.

Run: python -m tests.benchmarks.completions [--clients 8,20] [--per-client 30] [--workers 2]
     python -m tests.benchmarks.completions --profile 100      (cProfile of completions in-process, top functions)
     python -m tests.benchmarks.completions --costs 50         (statements, CPU ms and response bytes per completion)

The database comes from BENCH_DATABASE_URL (default the local `h_db`; it is emptied first). The setup submits one
case per completion, so each client completes the household-registration village's verification of cases nobody
else touches: what is measured is the completion itself, not contention on one case. Every client is a thread with
its own keep-alive connection; the first completions of each round are not counted (workers warm up).
Prints, per number of clients: completions/s, p50 and p95 latency in milliseconds, and the errors if any.
"""

import argparse
import cProfile
import json
import os
import pstats
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.services_harness import free_port, wait_for_port
from tests.support import reset_schema

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/h_db")
SECRET_KEY = "bench-completions"
WARM_UP = 2  # completions per client not counted
UNTHROTTLED = dict.fromkeys(("api:token", "api:address"), "1000000/minute")


def _app(instance: Path):
    from webapp import create_app

    return create_app(DATABASE_URL=URL, INSTANCE_DIR=instance, TICK_SECONDS=0, BACKGROUND="inline",
                      SECRET_KEY=SECRET_KEY, RATE_LIMITS=UNTHROTTLED)


def prepare(instance: Path, cases: int) -> tuple[str, list[int]]:
    """Start an empty database with `cases` submitted cases; return a village worker's API token and her task ids."""
    from sqlalchemy import select

    from engine.models import HumanTaskModel
    from processes import casework
    from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
    from processes.roles import CITIZEN, VILLAGE_STAFF
    from services import accounts, api_tokens, divisions, holidays
    from services.db import db
    from webapp.migrations import upgrade

    reset_schema(URL)
    upgrade(URL)
    app = _app(instance)
    with app.app_context():
        session = db.session
        divisions.import_demo_divisions(session)
        holidays.import_holidays(session)
        casework.deploy_shipped(session)
        citizen = accounts.create_user(session, phone="13800000001", name="张丽", role=CITIZEN,
                                       password="Bench@12345")
        worker = accounts.create_user(session, phone="13900000001", name="李多福", role=VILLAGE_STAFF,
                                      password="Bench@12345", division_code=HUKOU_VILLAGE)
        token = api_tokens.issue_token(session, worker, "bench", 1)
        session.commit()
        for _ in range(cases):
            casework.submit(session, citizen, case_type="first_child", woman_name="张丽", man_name="刘强",
                            contact_phone=citizen.phone, hukou_division=HUKOU_VILLAGE,
                            residence_division=RESIDENCE_VILLAGE)
            session.commit()
        tasks = list(session.scalars(select(HumanTaskModel.id).where(HumanTaskModel.bpmn_id == "verify_hukou",
                                                                     HumanTaskModel.status == "open")
                                     .order_by(HumanTaskModel.id)))
        db.session.remove()
        db.engine.dispose()
    return token, tasks


def serve(instance: Path, workers: int, port: int, threads: int = 1) -> subprocess.Popen:
    """Start gunicorn -w `workers` (each with `threads` request threads) on the benchmark database."""
    env = {**os.environ, "DATABASE_URL": URL, "BIRTHREG_INSTANCE_DIR": str(instance), "SECRET_KEY": SECRET_KEY,
           "BACKGROUND": "inline", "TICK_SECONDS": "0", "RATE_LIMITS": json.dumps(UNTHROTTLED)}
    command = [str(BIN / "gunicorn"), "-w", str(workers), "--threads", str(threads), "-b", f"127.0.0.1:{port}",
               "--timeout", "120", "webapp:create_app()"]
    web = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=open(instance / "gunicorn.log", "ab"), start_new_session=True)  # noqa: SIM115
    wait_for_port(port, timeout=60)
    return web


def run_round(base: str, token: str, tasks: list[int], clients: int) -> dict[str, float]:
    """Complete `tasks` with `clients` concurrent clients; return the rate and latency figures."""
    todo: queue.Queue[int] = queue.Queue()
    for task in tasks:
        todo.put(task)
    latencies: list[float] = []
    errors: list[str] = []
    started: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client() -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {token}"
            done = 0
            barrier.wait()
            while True:
                try:
                    task = todo.get_nowait()
                except queue.Empty:
                    return
                if done == WARM_UP:
                    with lock:
                        started.append(time.perf_counter())
                begin = time.perf_counter()
                answer = http.post(f"{base}/api/v1/tasks/{task}/complete", json={"decision": "verified"}, timeout=120)
                spent = time.perf_counter() - begin
                done += 1
                with lock:
                    if answer.status_code != 200:
                        errors.append(f"{answer.status_code} {answer.text[:120]}")
                    elif done > WARM_UP:
                        latencies.append(spent)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = time.perf_counter()
    counted = len(latencies)
    # Counted from the moment the last client finished warming up: every client is then at work.
    window = ended - max(started) if started else float("nan")
    ordered = sorted(latencies)
    return {"clients": clients, "completions": counted, "per_second": counted / window if window else 0.0,
            "p50_ms": 1000 * statistics.median(ordered) if ordered else 0.0,
            "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0, "errors": errors}


def profile(instance: Path, count: int) -> None:
    """Complete `count` tasks in-process through the API under cProfile and print where the time goes."""
    token, tasks = prepare(instance, count)
    app = _app(instance)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    client.post(f"/api/v1/tasks/{tasks[0]}/complete", json={"decision": "verified"}, headers=headers)  # warm up
    profiler = cProfile.Profile()
    begin = time.perf_counter()
    profiler.enable()
    for task in tasks[1:]:
        answer = client.post(f"/api/v1/tasks/{task}/complete", json={"decision": "verified"}, headers=headers)
        assert answer.status_code == 200, answer.text
    profiler.disable()
    spent = time.perf_counter() - begin
    print(f"{len(tasks) - 1} completions in-process: {1000 * spent / (len(tasks) - 1):.1f} ms each (profiled)")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def costs(instance: Path, count: int) -> None:
    """Complete `count` tasks in-process and print the deterministic costs of one: statements, CPU time, bytes.

    Wall-clock figures depend on what else the machine runs; these do not (CPU time only a little), so they show
    whether a change makes a completion cheaper.
    """
    from sqlalchemy import event

    from services.db import db

    token, tasks = prepare(instance, count + 1)
    app = _app(instance)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    client.post(f"/api/v1/tasks/{tasks[0]}/complete", json={"decision": "verified"}, headers=headers)  # warm up
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count_statement(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: PLR0913
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count_statement)
    sent = 0
    cpu = time.process_time()
    for task in tasks[1:]:
        answer = client.post(f"/api/v1/tasks/{task}/complete", json={"decision": "verified"}, headers=headers)
        assert answer.status_code == 200, answer.text
        sent += len(answer.data)
    cpu = time.process_time() - cpu
    event.remove(engine, "before_cursor_execute", count_statement)
    done = len(tasks) - 1
    print(f"{done} completions in-process: {len(statements) / done:.1f} statements, "
          f"{1000 * cpu / done:.1f} ms CPU (client and server), {sent / done:.0f} response bytes each")
    kinds: dict[str, int] = {}
    for statement in statements:
        words = statement.split()
        kind = words[0]
        table = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in {"FROM", "INTO", "UPDATE"}), "")
        kinds[f"{kind} {table}"] = kinds.get(f"{kind} {table}", 0) + 1
    for kind, seen in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"  {seen / done:5.1f}  {kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="8,20", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--per-client", type=int, default=30, help="completions per client and round")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="request threads per worker (gthread above 1)")
    parser.add_argument("--profile", type=int, default=0, help="profile this many completions in-process instead")
    parser.add_argument("--costs", type=int, default=0,
                        help="count statements, CPU time and bytes of this many completions in-process instead")
    options = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bench-completions-"))
    try:
        if options.profile:
            profile(instance, options.profile)
            return
        if options.costs:
            costs(instance, options.costs)
            return
        rounds = [int(n) for n in options.clients.split(",")]
        token, tasks = prepare(instance, sum(n * options.per_client for n in rounds))
        port = free_port()
        web = serve(instance, options.workers, port, options.threads)
        try:
            print(f"gunicorn -w {options.workers} --threads {options.threads}, PostgreSQL {URL.rsplit('@', 1)[-1]}")
            for clients in rounds:
                mine, tasks = tasks[:clients * options.per_client], tasks[clients * options.per_client:]
                figures = run_round(f"http://127.0.0.1:{port}", token, mine, clients)
                print(f"{clients:3d} clients: {figures['per_second']:6.1f} completions/s  "
                      f"p50 {figures['p50_ms']:6.1f} ms  p95 {figures['p95_ms']:6.1f} ms  "
                      f"({figures['completions']} counted, {len(figures['errors'])} errors)")
                for error in figures["errors"][:3]:
                    print("   ", error)
        finally:
            os.killpg(web.pid, 15)
            web.wait(timeout=30)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
