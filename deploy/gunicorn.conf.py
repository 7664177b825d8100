"""gunicorn settings for the web app: `gunicorn -c deploy/gunicorn.conf.py 'webapp:create_app()'`.

Every value can be set from the environment (the systemd unit's EnvironmentFile); the defaults suit a machine of
2 cores behind nginx on the same host.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# Loopback only: nginx in front terminates HTTPS and is the only client (TRUSTED_PROXIES=1 believes its
# X-Forwarded-For; a client reaching gunicorn directly could claim any address).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threads let a worker overlap database and SMTP waits; processes use the cores. 2 cores: 2 workers x 4 threads
# (gthread), each worker holding at most DB_POOL_SIZE + DB_MAX_OVERFLOW connections.
workers = _int("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count()))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
# A request running longer than this is killed (slips render in well under a second; a dry run runs elsewhere).
timeout = _int("GUNICORN_TIMEOUT", 60)
# On restart or SIGTERM, requests under way get this long to finish before the worker is killed.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Idle keep-alive connections from nginx are kept this long (nginx's upstream keepalive_timeout is shorter).
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Each worker is replaced after about this many requests (jitter: not all at once), bounding slow memory growth.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Each worker builds the app itself: connection pools (database, Redis) and background threads must not be
# shared across a fork.
preload_app = False
# Temporary files of workers' heartbeats in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - tmpfs, the documented choice
# Only nginx on this host may set X-Forwarded-Proto (the scheme) for gunicorn's own view of the request.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "birthreg-web"

# The app writes one log line per request itself (JSON, with request id, user kind, path and time). gunicorn's own
# access log is off unless GUNICORN_ACCESS_LOG names a file or "-" (stderr); its format has the path without the
# query string (%(U)s, never %(r)s or %(q)s: tokens travel in queries) and no Referer (another page's URL).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" %({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

if os.environ.get("LOG_FORMAT") == "json":
    # gunicorn's own lines (start, worker boot and exit, timeouts) in the app's JSON format too; its access log,
    # when turned on, stays in access_log_format.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "webapp.observability.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        # The app adds its own JSON handler to the root logger when it starts in each worker.
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(), "propagate": False},
        },
    }


def child_exit(_server, worker) -> None:
    """Drop a dead worker's live gauges from the metrics directory (its counters stay: totals must not shrink)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
