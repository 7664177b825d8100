"""Run sandboxed code in a worker process: memory capped by RLIMIT_AS, time by a deadline the parent enforces.

Workers are fresh interpreters (`python -I`, spawned, with an empty environment), never forked from the web
process: a fork would copy its database connections, locks held by other threads, its secrets and its whole heap;
multiprocessing's spawn and forkserver would re-run the parent's main script in every worker. A worker
serves one job at a time; several threads (web requests, the dry run) each take an idle worker from the pool, and
the parent kills a worker that overruns its deadline and starts a replacement. Helpers (e.g. the working-day
deadline, which reads the database through the caller's session) are not sent to the worker: the worker calls
back, and the helper runs in the parent, in the calling thread, within the same deadline.

See `engine.budget` for which code runs here and why.
"""

import atexit
import contextlib
import os
import pickle
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any
from uuid import UUID

from engine.budget import Budget, message_memory, message_time
from engine.errors import BudgetExceeded, SandboxViolation

MB = 1024 * 1024
MAX_WORKERS = 4  # per memory budget and process; a fifth concurrent caller waits for an idle worker
# Values a script may leave in task data: what the state serializer stores (anything else is refused, so that a lazy
# object such as range(10**12) never reaches code that runs in-process).
DATA_TYPES = (type(None), bool, int, float, str, bytes, date, datetime, time_of_day, timedelta, Decimal, UUID)
CONTAINERS = (list, tuple, set, frozenset)
STARTUP_SECONDS = 30
PROJECT_ROOT = Path(__file__).resolve().parents[1]


# -- the worker side ---------------------------------------------------------------------------------------------


def _address_space() -> int:
    """Return this process's virtual memory size in bytes (what RLIMIT_AS limits)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


class _ParentHelper:
    """A helper seen from the worker: calling it asks the parent to run the real one."""

    def __init__(self, conn: Connection, name: str):
        self.conn, self.name = conn, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.conn.send(("call", self.name, args, kwargs))
        status, value = self.conn.recv()
        if status == "error":
            raise value
        return value


def _data_size(value: Any, limit: int) -> int:
    """Return the size of `value` as stored (shared parts counted each time they occur), stopping past `limit`."""
    size, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            size += len(item) + 8
        elif isinstance(item, DATA_TYPES):
            size += 8
        elif isinstance(item, dict):
            size += 8
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, CONTAINERS):
            size += 8
            stack.extend(item)
        else:
            raise SandboxViolation(f"结果中含有不能保存为任务数据的值（{type(item).__name__}）")
        if size > limit:
            raise MemoryError
    return size


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, to see whether the other side can read them
    except Exception:  # noqa: BLE001 - any exception type may fail to round-trip; its text still does
        return SandboxViolation(f"{type(exc).__name__}: {exc}")
    return exc


def _run_job(conn: Connection, job: tuple, memory: int) -> tuple:
    from engine.sandbox import SandboxEnvironment

    mode, source, context, external_context, helper_names = job
    # Inside the worker the code runs here, whatever it is: this process is the budget.
    environment = SandboxEnvironment({name: _ParentHelper(conn, name) for name in helper_names}, Budget(enabled=False))
    if mode == "eval":
        value = environment.evaluate_here(source, context, external_context)
    else:
        environment.execute_here(source, context, external_context)
        value = context
    _data_size(value, memory)
    return ("ok", value)


def serve(fd: int, memory_mb: int) -> None:
    """Serve jobs on connection `fd` until the parent goes away, within `memory_mb` more address space than at start."""
    import engine.sandbox  # noqa: F401 - imported before the limit is set, so that the limit is all the job's

    conn = Connection(fd)
    baseline = _address_space()
    memory = memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (baseline + memory, baseline + memory))
    try:
        conn.send(("ready", None, False))
    except OSError:  # the parent is gone already
        return
    while True:
        try:
            job = conn.recv()
            reply = _run_job(conn, job, memory)
            # A heap grown by a large job stays grown: leave for a fresh worker rather than start the next one short.
            retire = _address_space() > baseline + memory // 2
            conn.send((*reply, retire))
        except (EOFError, OSError):
            return
        except MemoryError:
            with contextlib.suppress(OSError):
                conn.send(("memory", None, True))
            return
        except BaseException as exc:  # noqa: BLE001 - the diagram's own error goes back to the caller
            try:
                conn.send(("error", _picklable(exc), False))
            except MemoryError:
                with contextlib.suppress(OSError):
                    conn.send(("memory", None, True))
                return


# -- the parent side ---------------------------------------------------------------------------------------------


class _Worker:
    def __init__(self, memory_mb: int):
        self.conn, child = Pipe()
        code = (f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
                f"from engine.isolation import serve; serve({child.fileno()}, {memory_mb})")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
            [sys.executable, "-I", "-c", code], pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
        )
        child.close()
        # The deadline of a job starts when the worker is ready: an interpreter takes a few hundred ms to start.
        if not self.conn.poll(STARTUP_SECONDS) or self.conn.recv()[0] != "ready":
            self.stop()
            raise RuntimeError("sandbox worker did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.conn.close()


class WorkerPool:
    """Workers with one memory budget, shared by every thread of this process."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self._idle: list[_Worker] = []
        self._count = 0
        self._changed = threading.Condition()

    def close(self) -> None:
        """Stop the idle workers (at exit: a worker also ends by itself when this process goes away)."""
        with self._changed:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for worker in idle:
            worker.stop()

    def prestart(self) -> None:
        """Start a worker in the background, so that the next caller does not wait for one."""
        with self._changed:
            if self._idle or self._count >= MAX_WORKERS:
                return
            self._count += 1
        threading.Thread(target=self._start_idle, daemon=True, name="sandbox-worker-start").start()

    def _start_idle(self) -> None:
        try:
            worker = _Worker(self.memory_mb)
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._idle.append(worker)
            self._changed.notify()

    def _acquire(self) -> _Worker:
        with self._changed:
            while not self._idle and self._count >= MAX_WORKERS:
                self._changed.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            return _Worker(self.memory_mb)
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise

    def _release(self, worker: _Worker, keep: bool) -> None:
        if not keep:
            worker.stop()
        with self._changed:
            if keep:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._changed.notify()
        if not keep:
            self.prestart()

    def run(self, mode: str, source: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None,
            helpers: Mapping[str, Callable[..., Any]], budget: Budget) -> Any:
        """Run `source` in a worker and return its value (eval) or the new task data (exec)."""
        job = (mode, source, dict(context), dict(external_context or {}), sorted(helpers))
        try:
            payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - e.g. an object in task data that cannot leave this process
            raise SandboxViolation(f"任务数据无法交给隔离进程执行：{exc}") from exc
        worker = self._acquire()
        keep = False
        try:
            worker.conn.send_bytes(payload)
            status, value, retire = self._exchange(worker, helpers, budget)
            keep = not retire
        finally:
            self._release(worker, keep)
        if status == "memory":
            raise BudgetExceeded(message_memory(budget))
        if status == "error":
            raise value
        return value

    @staticmethod
    def _exchange(worker: _Worker, helpers: Mapping[str, Callable[..., Any]], budget: Budget) -> tuple:
        deadline = time.monotonic() + budget.expression_ms / 1000
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not worker.conn.poll(remaining):
                raise BudgetExceeded(message_time(budget))
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):  # the worker died: killed for memory by the kernel, or crashed
                return "memory", None, True
            if message[0] != "call":
                return message
            _, name, args, kwargs = message
            try:
                reply = ("ok", helpers[name](*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - the helper's error is the diagram's error, raised over there
                reply = ("error", _picklable(exc))
            worker.conn.send(reply)


_POOLS: dict[tuple[int, int], WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


@atexit.register
def _close_pools() -> None:
    for each in list(_POOLS.values()):
        each.close()


def pool(memory_mb: int) -> WorkerPool:
    """Return this process's pool for a memory budget (a process forked from this one gets pools of its own)."""
    key = (os.getpid(), memory_mb)
    with _POOLS_LOCK:
        found = _POOLS.get(key)
        if found is None:
            found = _POOLS[key] = WorkerPool(memory_mb)
            found.prestart()
    return found
