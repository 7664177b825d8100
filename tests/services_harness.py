"""The production shape on private services: a PostgreSQL cluster and a Redis of our own on free loopback ports,
gunicorn with two workers, and a Celery worker and beat kept running by a small supervisor. The fault tests and the
load benchmark start it; nothing here touches the machine's own PostgreSQL or Redis.

Everything lives in one temporary folder: the cluster, Redis's log, the instance folder (keys, uploads) the web
workers, the Celery worker and the harness's own in-process app share, and each process's log (copied to
test-artifacts/services/ when the stack stops).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from glob import glob
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECRET_KEY = "services-harness"
# Every client comes from 127.0.0.1 and the staff clients poll: limits meant for the public would throttle the run.
GENEROUS_LIMITS = dict.fromkeys((
    "sign_in:address", "sign_in:account", "api:token", "api:address", "track:address", "sms_code:phone",
    "sms_code:address", "sms_code:global"), "100000/minute")


FONT_CACHE = Path(tempfile.gettempdir()) / "birthreg-harness-fonts"


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on the loopback `port`."""
    ends_at = time.monotonic() + timeout
    while time.monotonic() < ends_at:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _postgres_tool(name: str) -> str | None:
    """Return the path of a PostgreSQL server tool: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def missing_tools() -> str | None:
    """Say what is missing to start the private services (None when everything is there)."""
    missing = [name for name in ("initdb", "pg_ctl") if not _postgres_tool(name)]
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    if os.geteuid() == 0 and not _system_user("postgres"):
        missing.append("a non-root 'postgres' user (initdb refuses root)")
    if missing:
        return f"needs {', '.join(missing)} (apt-get install postgresql redis-server)"
    return None


def require(missing: str | None) -> None:
    """Stop a test that lacks a private service's tools: a failure in CI, a skip on a developer's machine."""
    if missing:
        import pytest

        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


def _system_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PrivatePostgres:
    """A throwaway cluster: trust authentication on 127.0.0.1 only, no fsync (its data dies with the run)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        # initdb and postgres refuse to run as root; as root the cluster belongs to the system's postgres user.
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [_postgres_tool(tool), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}\n{self.log_tail()}")

    def _options(self) -> str:
        return (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")

    def init(self) -> None:
        self.folder.mkdir(mode=0o700)
        if self.run_as:
            shutil.chown(self.folder, self.run_as, self.run_as)
        self._run("initdb", "-D", str(self.folder), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder), "-l", str(self.folder / "server.log"), "-w", "-t", "60",
                  "-o", self._options(), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.folder), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """Stop (fast: open connections are cut, as a crash or a failover would) and start again."""
        self._run("pg_ctl", "-D", str(self.folder), "-l", str(self.folder / "server.log"), "-m", "fast", "-w",
                  "-t", "60", "-o", self._options(), "restart")

    def log_tail(self, size: int = 3000) -> str:
        log = self.folder / "server.log"
        return log.read_text(errors="replace")[-size:] if log.exists() else ""


class PrivateRedis:
    """A redis-server without persistence on a free port; stopping it loses every queued message, as a crash does."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, database: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        with (self.folder / "redis.log").open("a") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.folder)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Supervised:
    """A process restarted whenever it exits, one second later, as systemd's Restart=always with RestartSec=1.

    Each run starts a process group of its own, so a kill reaches the Celery pool's children too (as systemd kills
    the unit's cgroup). `restarts` counts the runs after the first; `exits` keeps each run's exit status.
    """

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.restarts = 0
        self.exits: list[int] = []
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"supervise-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(30)

    def _loop(self) -> None:
        first = True
        while not self._stopping.is_set():
            with self.log.open("a") as out:
                self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True)
            if not first:
                self.restarts += 1
            first = False
            self._started.set()
            self.exits.append(self.process.wait())
            if not self._stopping.wait(1.0):
                with self.log.open("a") as out:
                    out.write(f"\n--- supervisor: {self.name} exited with {self.exits[-1]}, restarting ---\n")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group now (the supervisor will start it again)."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        self._stopping.set()
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._thread.join(timeout=30)

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""


def start_fake_sms():
    """Start the local fake of Tencent Cloud SMS (tests/services/test_sms_tencentcloud.py), which checks each
    request's signature and keeps every message it accepted; return it with the settings that send through it, or
    (None, {}) where it does not exist (the `record` provider's sms_message rows are then what is counted)."""
    try:
        from tests.services.test_sms_tencentcloud import FakeSms, _settings
    except ImportError:
        return None, {}
    server = FakeSms()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, _settings(server.endpoint)


class Stack:
    """PostgreSQL, Redis, gunicorn -w `web_workers`, a Celery worker and beat (ticking every `tick_seconds`)."""

    def __init__(self, web_workers: int = 2, worker_concurrency: int = 2, tick_seconds: int = 5):
        self.folder = Path(tempfile.mkdtemp(prefix="birthreg-stack-"))
        self.folder.chmod(0o755)  # the cluster's owner (postgres, when we run as root) must reach its folder
        self.instance = self.folder / "instance"
        self.instance.mkdir()
        self.postgres = PrivatePostgres(self.folder / "pg")
        self.redis = PrivateRedis(self.folder)
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.web_workers, self.worker_concurrency, self.tick_seconds = web_workers, worker_concurrency, tick_seconds
        self.processes: dict[str, Supervised] = {}
        self._app = None
        self.sms, self._sms_settings = start_fake_sms()

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": self.postgres.url, "BACKGROUND": "celery",
                "CELERY_BROKER_URL": self.redis.url(0), "RATE_LIMIT_STORAGE_URL": self.redis.url(1),
                "RATE_LIMITS": json.dumps(GENEROUS_LIMITS), "SECRET_KEY": SECRET_KEY,
                "BIRTHREG_INSTANCE_DIR": str(self.instance), "TICK_SECONDS": str(self.tick_seconds),
                "SMS_PROVIDER": "record", **self._sms_settings, "PYTHONUNBUFFERED": "1"}

    def start(self) -> "Stack":
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "Stack":
        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        # Migrations, holidays, the shipped diagrams and the keys, made once before any process may race to make them;
        # the slip's font faces (a minute of CPU to cut from Noto Sans CJK) are kept for the next run.
        if FONT_CACHE.is_dir():
            shutil.copytree(FONT_CACHE, self.instance / "fonts")
        done = subprocess.run([str(BIN / "flask"), "--app", "webapp", "init"], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode:
            raise RuntimeError(f"flask init failed:\n{done.stdout}\n{done.stderr}")
        if not FONT_CACHE.is_dir() and (self.instance / "fonts").is_dir():
            shutil.copytree(self.instance / "fonts", FONT_CACHE, dirs_exist_ok=True)
        with self.app_context() as session:
            from services import divisions

            divisions.import_demo_divisions(session)
            session.commit()
        for name, command in self._commands().items():
            self.processes[name] = Supervised(name, command, self.env, self.folder / f"{name}.log")
            self.processes[name].start()
        wait_for_port(self.web_port, timeout=60)
        self._wait_until_served()
        return self

    def _commands(self) -> dict[str, list[str]]:
        config = ROOT / "deploy" / "gunicorn.conf.py"
        web = [str(BIN / "gunicorn"), *(["-c", str(config)] if config.exists() else []),
               "-w", str(self.web_workers), "-b", f"127.0.0.1:{self.web_port}", "--timeout", "60",
               "webapp:create_app()"]
        celery = [str(BIN / "celery"), "-A", "webapp.celery_worker"]
        worker = [*celery, "worker", "--loglevel=INFO", f"--concurrency={self.worker_concurrency}",
                  "--without-heartbeat", "--without-gossip", "--without-mingle"]
        beat = [*celery, "beat", "--loglevel=INFO", "--schedule", str(self.folder / "beat-schedule")]
        return {"web": web, "worker": worker, "beat": beat}

    def _wait_until_served(self, timeout: float = 60.0) -> None:
        ends_at = time.monotonic() + timeout
        while time.monotonic() < ends_at:
            try:
                if requests.get(f"{self.base_url}/auth/login", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"gunicorn does not serve /auth/login:\n{self.processes['web'].log_tail()}")

    def app_context(self):
        """An app context on the private database, sharing the processes' instance folder (and so their keys);
        yields the session."""
        from contextlib import contextmanager

        from services.db import db
        from webapp import create_app

        if self._app is None:
            # The recording provider: the harness itself sends no SMS.
            self._app = create_app(DATABASE_URL=self.postgres.url, INSTANCE_DIR=self.instance, SECRET_KEY=SECRET_KEY,
                                   BACKGROUND="inline", TICK_SECONDS=0, SMS_PROVIDER="record")

        @contextmanager
        def context():
            with self._app.app_context():
                try:
                    yield db.session
                finally:
                    db.session.rollback()
                    db.session.remove()

        return context()

    def _keep_logs(self) -> None:
        """Copy every process's log (web, worker, beat, Redis, PostgreSQL) to test-artifacts/services/, for after."""
        kept = ROOT / "test-artifacts" / "services"
        kept.mkdir(parents=True, exist_ok=True)
        for log in [*self.folder.glob("*.log"), self.postgres.folder / "server.log"]:
            if log.exists():
                shutil.copy(log, kept / (log.name if log.parent == self.folder else f"postgres-{log.name}"))

    def dispose_connections(self) -> None:
        """Drop the harness's own pooled connections (after a database restart, they are all dead)."""
        if self._app is not None:
            from services.db import db

            with self._app.app_context():
                db.engine.dispose()

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self._keep_logs()
        self.dispose_connections()
        self.redis.stop()
        if (self.postgres.folder / "postmaster.pid").exists():
            self.postgres.stop("immediate")
        if self.sms is not None:
            self.sms.shutdown()
            self.sms.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)
