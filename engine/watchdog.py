"""A wall-clock deadline for work that runs diagram code, enforced even inside a step that never returns.

Between steps the work asks `expired()` itself. A single step may not come back (a script `while True: pass` when
no per-expression budget stops it), so a timer thread raises `DeadlineReached` inside the working thread once the
deadline has passed while it is in a step. The exception derives from BaseException, because SpiffWorkflow catches
Exception and must not turn it into a task error; it is raised again every `REPEAT_SECONDS` while the step goes on,
in case diagram code catches it.
"""

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType


class DeadlineReached(BaseException):  # noqa: N818 - raised into a thread, like KeyboardInterrupt
    """The work's wall-clock deadline passed."""


def interrupt(thread_id: int, exception: type[BaseException] = DeadlineReached) -> bool:
    """Raise `exception` in thread `thread_id` at its next Python instruction; return whether the thread exists.

    Code running in C (a long arithmetic, a sleep) sees it only when it returns to Python.
    """
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception)) == 1


def _clear(thread_id: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


class Deadline:
    """A deadline `seconds` from entering it, for the thread that enters it; `step()` guards one step of its work.

    Use as `with Deadline(20) as deadline:`; a DeadlineReached out of `step()` is the caller's to catch. A step still
    running at the deadline is given `grace` seconds more to end by itself (the time a step's own budget lets it
    run) before it is interrupted: interrupting code at an arbitrary instruction is the last resort.
    """

    REPEAT_SECONDS = 0.2

    def __init__(self, seconds: float, grace: float = 0.0) -> None:
        self.seconds = seconds
        self.grace = grace
        self.ends_at = 0.0
        self._thread_id = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._in_step = False
        self._fired = False
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> "Deadline":
        self.ends_at = time.monotonic() + self.seconds
        self._thread_id = threading.get_ident()
        self._watcher = threading.Thread(target=self._watch, name="deadline", daemon=True)
        self._watcher.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        # Under the lock the watcher fires under: after this, nothing is pending and nothing more is raised.
        with self._lock:
            self._in_step = False
            self._stop.set()
            _clear(self._thread_id)
        if self._watcher is not None:
            self._watcher.join()

    def expired(self) -> bool:
        """Return whether the deadline has passed."""
        return time.monotonic() >= self.ends_at

    def remaining(self) -> float:
        """Return the seconds left (0 once passed)."""
        return max(self.ends_at - time.monotonic(), 0.0)

    @contextmanager
    def step(self) -> Iterator[None]:
        """Run one step; past the deadline it ends with DeadlineReached.

        Leaving the step clears, under the lock the watcher fires under, an interruption set but not yet delivered:
        once the step is left, none is pending and none is raised into the caller's own code.
        """
        if self.expired():
            raise DeadlineReached
        with self._lock:
            self._in_step, self._fired = True, False
        try:
            yield
        finally:
            with self._lock:
                self._in_step = False
                fired = self._fired
                if fired:
                    _clear(self._thread_id)
        if fired:  # the step came back on its own just as it was interrupted
            raise DeadlineReached

    def _watch(self) -> None:
        if self._stop.wait(self.remaining() + self.grace):
            return
        while True:
            with self._lock:
                if self._in_step and not self._stop.is_set():
                    self._fired = True
                    interrupt(self._thread_id)
            if self._stop.wait(self.REPEAT_SECONDS):
                return
