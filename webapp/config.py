"""Configuration from environment variables, each declared once with its default."""

import json
import os
import secrets
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

from services import audit, rate_limits


class ConfigurationError(RuntimeError):
    """Settings that cannot work together."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    value = _env(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}") from None


def _flag(name: str, default: bool) -> bool:
    value = _env(name, "1" if default else "0").strip().lower()
    if value not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
        raise ConfigurationError(f"{name} must be 1 or 0 (true or false), not {value!r}")
    return value in {"1", "true", "yes", "on"}


def _json_object(name: str) -> dict[str, str]:
    value = _env(name, "").strip()
    try:
        parsed = json.loads(value) if value else {}
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ConfigurationError(f"{name} must be a JSON object of strings, not {value!r}")
    return parsed


def from_environment() -> dict[str, object]:
    """Read every setting; nothing needs to be set to start on the embedded defaults."""
    instance_dir = Path(_env("BIRTHREG_INSTANCE_DIR", str(Path.cwd() / "instance")))
    config = {
        # Where the embedded default keeps its SQLite file, its secret key and uploads.
        "INSTANCE_DIR": instance_dir,
        # SQLite file under instance/ by default; PostgreSQL in production (postgresql+psycopg://…).
        "DATABASE_URL": _env("DATABASE_URL", f"sqlite:///{instance_dir / 'birthreg.db'}"),
        # Connections to the database server (services.db.EngineSettings): pool per process, how long to wait for
        # a pooled connection and for a new one, and the server-side limits of one statement and of a transaction
        # left idle (milliseconds; 0: none), which end a stuck request instead of letting it hold its locks.
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 5),
        "DB_MAX_OVERFLOW": _int("DB_MAX_OVERFLOW", 10),
        "DB_POOL_TIMEOUT_SECONDS": _int("DB_POOL_TIMEOUT_SECONDS", 10),
        "DB_POOL_RECYCLE_SECONDS": _int("DB_POOL_RECYCLE_SECONDS", 1800),
        "DB_CONNECT_TIMEOUT_SECONDS": _int("DB_CONNECT_TIMEOUT_SECONDS", 5),
        "DB_STATEMENT_TIMEOUT_MS": _int("DB_STATEMENT_TIMEOUT_MS", 15_000),
        "DB_IDLE_IN_TRANSACTION_MS": _int("DB_IDLE_IN_TRANSACTION_MS", 60_000),
        # Statistics pages and exports read from this database (a read replica of DATABASE_URL); empty: the main one.
        "STATISTICS_DATABASE_URL": _env("STATISTICS_DATABASE_URL", ""),
        "SECRET_KEY": _env("SECRET_KEY", ""),
        # Keys that seal ID numbers, phones and certificate numbers at rest: DATA_KEYS is `id:base64key,…` with the
        # current key first (older ones still open older values until `flask keys rotate` re-seals them); INDEX_KEY
        # (base64) keys the hashes that find them. Empty: generated once under INSTANCE_DIR (embedded default).
        "DATA_KEYS": _env("DATA_KEYS", ""),
        "INDEX_KEY": _env("INDEX_KEY", ""),
        # inline: the outbox is drained in-process after commit; celery: workers on CELERY_BROKER_URL.
        "BACKGROUND": _env("BACKGROUND", "inline"),
        "CELERY_BROKER_URL": _env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        # Seconds between in-process timer ticks (embedded default); 0 turns the scheduler off.
        "TICK_SECONDS": _int("TICK_SECONDS", 60),
        # Service tasks (an SMS, a slip: seconds each): the soft and hard time limits of one attempt in a Celery
        # worker, how long a performer's claim holds its outbox row (above the hard limit, so a claim outliving it
        # belongs to a dead worker and its row is handed over again), and how long a copy handed to the broker is
        # awaited before another is sent. Short limits make a killed worker cost a case under a minute.
        "SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS": _int("SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS", 20),
        "SERVICE_TASK_TIME_LIMIT_SECONDS": _int("SERVICE_TASK_TIME_LIMIT_SECONDS", 30),
        "OUTBOX_LEASE_SECONDS": _int("OUTBOX_LEASE_SECONDS", 45),
        "OUTBOX_REQUEUE_SECONDS": _int("OUTBOX_REQUEUE_SECONDS", 60),
        # Wall-clock seconds a process version's dry run (review page, `flask processes dry-run`) may take in all.
        "DRY_RUN_SECONDS": _int("DRY_RUN_SECONDS", 20),
        # record: messages kept in the sms_message table; tencentcloud: Tencent Cloud SMS (services/sms_providers.py)
        # with the API key below, the application's SdkAppId, its approved signature, and a JSON object of our
        # template key to the approved template's id and our fields in its parameter order, e.g.
        # {"audit_approved": {"id": "1234567", "params": ["case_number"]}}.
        "SMS_PROVIDER": _env("SMS_PROVIDER", "record"),
        "TENCENTCLOUD_SMS_SDK_APP_ID": _env("TENCENTCLOUD_SMS_SDK_APP_ID", ""),
        "TENCENTCLOUD_SMS_SIGN_NAME": _env("TENCENTCLOUD_SMS_SIGN_NAME", ""),
        "TENCENTCLOUD_SMS_TEMPLATES": _env("TENCENTCLOUD_SMS_TEMPLATES", ""),
        "TENCENTCLOUD_SMS_ENDPOINT": _env("TENCENTCLOUD_SMS_ENDPOINT", "sms.tencentcloudapi.com"),
        # The 现场确认 visit: office hours (empty: services.confirmation_visit.DEFAULT_HOURS) and a JSON object of
        # 9-digit township code to the office's address (a township not named: its health office's name alone).
        "CONFIRMATION_HOURS": _env("CONFIRMATION_HOURS", ""),
        "CONFIRMATION_PLACES": _json_object("CONFIRMATION_PLACES"),
        # A TrueType font (.ttf, or .ttc with glyf outlines) for printed slips; empty: the Noto Sans CJK SC that
        # comes with the dependencies, cut to each document's characters and cached under INSTANCE_DIR/fonts.
        "PDF_FONT": _env("PDF_FONT", ""),
        # Largest request body, in MB; larger ones get 413 before anything reads them (form bodies are otherwise
        # read whole into memory). Uploads must fit.
        "MAX_REQUEST_MB": _int("MAX_REQUEST_MB", 20),
        # Proof materials: where the files live (INSTANCE_DIR/uploads unless set), the largest file in MB, the most
        # pixels a photo may have (in millions; more is refused before decoding) and how many files one kind holds.
        "UPLOAD_DIR": _env("UPLOAD_DIR", ""),
        # Where stored files live: local (UPLOAD_DIR) or s3 (S3_BUCKET under S3_PREFIX, at S3_ENDPOINT_URL or AWS;
        # credentials from the standard AWS environment or config files). Either way they are served only through
        # the app's own authorised views, never by a public URL. S3_SERVER_SIDE_ENCRYPTION: AES256, aws:kms or empty.
        "UPLOAD_STORAGE": _env("UPLOAD_STORAGE", "local"),
        "S3_BUCKET": _env("S3_BUCKET", ""),
        "S3_ENDPOINT_URL": _env("S3_ENDPOINT_URL", ""),
        "S3_PREFIX": _env("S3_PREFIX", "uploads/"),
        "S3_SERVER_SIDE_ENCRYPTION": _env("S3_SERVER_SIDE_ENCRYPTION", "AES256"),
        "UPLOAD_MAX_MB": _int("UPLOAD_MAX_MB", 10),
        "UPLOAD_MAX_MEGAPIXELS": _int("UPLOAD_MAX_MEGAPIXELS", 40),
        "UPLOAD_MAX_PER_KIND": _int("UPLOAD_MAX_PER_KIND", 5),
        # A signed-in session ends after this many minutes without a request, and this many hours after the sign-in
        # whatever happens; staff sessions (which open other people's data) have shorter lifetimes of their own.
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        "SESSION_ABSOLUTE_HOURS": _int("SESSION_ABSOLUTE_HOURS", 12),
        "STAFF_SESSION_IDLE_MINUTES": _int("STAFF_SESSION_IDLE_MINUTES", 15),
        "STAFF_SESSION_ABSOLUTE_HOURS": _int("STAFF_SESSION_ABSOLUTE_HOURS", 8),
        # How long an SMS code stays valid (how often codes may be sent is a rate limit, below).
        "SMS_CODE_TTL_SECONDS": _int("SMS_CODE_TTL_SECONDS", 300),
        # Rate limits (services.rate_limits): where the counts live, memory:// (one process) or redis://…; empty:
        # memory:// with BACKGROUND=inline, the broker's Redis with BACKGROUND=celery (workers must share counts).
        "RATE_LIMIT_STORAGE_URL": _env("RATE_LIMIT_STORAGE_URL", ""),
        # A JSON object of scope to limits in `limits` notation, over services.rate_limits.DEFAULT_LIMITS, e.g.
        # {"sms_code:global": "500/hour", "track:address": "10/10 minutes"}.
        "RATE_LIMITS": _json_object("RATE_LIMITS"),
        # Email: recorded in the email_message table only, unless MAIL_SMTP_HOST names a server to send through.
        "MAIL_SMTP_HOST": _env("MAIL_SMTP_HOST", ""),
        "MAIL_SMTP_PORT": _int("MAIL_SMTP_PORT", 587),
        "MAIL_SMTP_USER": _env("MAIL_SMTP_USER", ""),
        "MAIL_SMTP_PASSWORD": _env("MAIL_SMTP_PASSWORD", ""),
        "MAIL_SMTP_STARTTLS": _flag("MAIL_SMTP_STARTTLS", True),
        "MAIL_SENDER": _env("MAIL_SENDER", "noreply@localhost"),
        # Name + ID number check (实名核验, services/identity_check.py): embedded checks nothing (accounts stay
        # self-asserted); tencentcloud calls FaceID IdCardVerification with an API key (SecretId/SecretKey) of a CAM
        # user limited to that action. The endpoint may be https://host[:port], or http:// on the loopback only.
        "IDENTITY_PROVIDER": _env("IDENTITY_PROVIDER", "embedded"),
        "TENCENTCLOUD_SECRET_ID": _env("TENCENTCLOUD_SECRET_ID", ""),
        "TENCENTCLOUD_SECRET_KEY": _env("TENCENTCLOUD_SECRET_KEY", ""),
        "TENCENTCLOUD_REGION": _env("TENCENTCLOUD_REGION", "ap-guangzhou"),
        "TENCENTCLOUD_FACEID_ENDPOINT": _env("TENCENTCLOUD_FACEID_ENDPOINT", "faceid.tencentcloudapi.com"),
        # Minutes a password-reset link stays usable.
        "PASSWORD_RESET_MINUTES": _int("PASSWORD_RESET_MINUTES", 30),
        # The site's address as people reach it (https://example.gov.cn[:port], no path): every link that leaves the
        # site (emails, the slip's QR code) is built from it, and requests naming any other host get 400. Empty (the
        # embedded default): only loopback hosts are served and links use the request's. Production must set it.
        "PUBLIC_BASE_URL": _env("PUBLIC_BASE_URL", ""),
        # The session cookie: not readable by scripts, not sent on cross-site POSTs, re-signed on every request so
        # that PERMANENT_SESSION_LIFETIME (from SESSION_IDLE_MINUTES) counts idle time. Secure needs HTTPS: set
        # SESSION_COOKIE_SECURE=1 in production; the embedded default serves plain HTTP on localhost.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", False),
        "SESSION_REFRESH_EACH_REQUEST": True,
        # Statistics: a case is overdue when done (or still open) after this many working days from submission.
        "STATS_LIMIT_DAYS": _int("STATS_LIMIT_DAYS", 3),
        # Diagram code (scripts, conditions, timer expressions, DMN cells): the time and memory one evaluation may
        # use, and the engine steps and time one advance of a case may take before the case becomes an incident.
        "EXPRESSION_TIME_MS": _int("EXPRESSION_TIME_MS", 100),
        "EXPRESSION_MEMORY_MB": _int("EXPRESSION_MEMORY_MB", 64),
        "ADVANCE_MAX_STEPS": _int("ADVANCE_MAX_STEPS", 1000),
        "ADVANCE_TIME_MS": _int("ADVANCE_TIME_MS", 2000),
        # Days audit events are kept before the periodic tick purges them: at least 183 (six months).
        "AUDIT_RETENTION_DAYS": _int("AUDIT_RETENTION_DAYS", 365),
        # Operations (webapp/observability, webapp/health.py). Logs: `text` for a terminal, `json` (one object a line,
        # with the request id) for a log collector; the level of the app's own loggers.
        "LOG_FORMAT": _env("LOG_FORMAT", "text"),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO").upper(),
        # How many reverse proxies in front of the app append to X-Forwarded-For and set X-Forwarded-Proto (nginx: 1;
        # a load balancer before nginx: 2). 0: the peer's address is the client's (nothing forwarded is believed).
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # /metrics answers requests from these addresses (comma-separated networks) that did not come through a
        # proxy, and any request with `Authorization: Bearer METRICS_TOKEN` (empty: no token works).
        "METRICS_ALLOWED_ADDRESSES": _env("METRICS_ALLOWED_ADDRESSES", "127.0.0.0/8,::1"),
        "METRICS_TOKEN": _env("METRICS_TOKEN", ""),
        # The Celery worker's PROMETHEUS_MULTIPROC_DIR, read by the web's /metrics beside its own (empty: none).
        "METRICS_WORKER_DIR": _env("METRICS_WORKER_DIR", ""),
        # /readyz fails when a due service task or timer has waited longer than this, or UPLOAD_DIR has less free.
        "READY_OUTBOX_LAG_SECONDS": _int("READY_OUTBOX_LAG_SECONDS", 300),
        "READY_TIMER_LAG_SECONDS": _int("READY_TIMER_LAG_SECONDS", 600),
        "READY_MIN_FREE_MB": _int("READY_MIN_FREE_MB", 1024),
        # The portal's footer and 咨询服务 (webapp/portal): the office running the site (主办单位), its enquiry phone,
        # address and email, and its ICP filing number (备案号). Empty address, email or filing number: not shown.
        "PORTAL_SPONSOR": _env("PORTAL_SPONSOR", "卫生健康委员会"),
        "PORTAL_PHONE": _env("PORTAL_PHONE", "12345"),
        "PORTAL_ADDRESS": _env("PORTAL_ADDRESS", ""),
        "PORTAL_EMAIL": _env("PORTAL_EMAIL", ""),
        "PORTAL_ICP": _env("PORTAL_ICP", ""),
    }
    return config


POSITIVE_SETTINGS = (
    "MAX_REQUEST_MB", "SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_HOURS",
    "STAFF_SESSION_IDLE_MINUTES", "STAFF_SESSION_ABSOLUTE_HOURS", "SMS_CODE_TTL_SECONDS", "MAIL_SMTP_PORT",
    "PASSWORD_RESET_MINUTES", "STATS_LIMIT_DAYS", "UPLOAD_MAX_MB", "UPLOAD_MAX_MEGAPIXELS", "UPLOAD_MAX_PER_KIND",
    "DRY_RUN_SECONDS", "EXPRESSION_TIME_MS", "EXPRESSION_MEMORY_MB", "ADVANCE_MAX_STEPS", "ADVANCE_TIME_MS",
    "DB_POOL_SIZE", "DB_POOL_TIMEOUT_SECONDS", "DB_POOL_RECYCLE_SECONDS", "DB_CONNECT_TIMEOUT_SECONDS",
    "SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS", "SERVICE_TASK_TIME_LIMIT_SECONDS", "OUTBOX_LEASE_SECONDS",
    "OUTBOX_REQUEUE_SECONDS",
)
# Settings that may be 0 (none) but not negative.
NON_NEGATIVE_SETTINGS = ("DB_MAX_OVERFLOW", "DB_STATEMENT_TIMEOUT_MS", "DB_IDLE_IN_TRANSACTION_MS")


# Host names served when PUBLIC_BASE_URL is empty: a forged Host can then only name this machine, so a link built
# from the request (a password-reset email) cannot lead anywhere else. (Werkzeug cannot match a bracketed IPv6
# literal in this list, so [::1] is not among them.)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def is_production(config: dict[str, object]) -> bool:
    """Tell a public deployment from the embedded default: production serves over HTTPS with secure cookies."""
    return bool(config["SESSION_COOKIE_SECURE"])


def trusted_hosts(public_base_url: str) -> list[str]:
    """Return the host names requests may name: PUBLIC_BASE_URL's, or the loopback names when it is empty."""
    if not public_base_url:
        return list(LOOPBACK_HOSTS)
    parts = urlsplit(public_base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path.strip("/") or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("PUBLIC_BASE_URL must be the site's address, http(s)://host[:port] without a path, "
                                 f"not {public_base_url!r}")
    return [parts.hostname]


def _check_database_and_storage(config: dict[str, object]) -> None:
    for name in NON_NEGATIVE_SETTINGS:
        if not isinstance(config[name], int) or config[name] < 0:
            raise ConfigurationError(f"{name} must be 0 or a positive whole number, not {config[name]!r}")
    if config["UPLOAD_STORAGE"] not in {"local", "s3"}:
        raise ConfigurationError(f"UPLOAD_STORAGE must be local or s3, not {config['UPLOAD_STORAGE']!r}")
    if config["UPLOAD_STORAGE"] == "s3" and not config["S3_BUCKET"]:
        raise ConfigurationError("UPLOAD_STORAGE=s3 needs S3_BUCKET, the bucket that keeps the files")
    if config["S3_SERVER_SIDE_ENCRYPTION"] not in {"", "AES256", "aws:kms"}:
        raise ConfigurationError("S3_SERVER_SIDE_ENCRYPTION must be AES256, aws:kms or empty, "
                                 f"not {config['S3_SERVER_SIDE_ENCRYPTION']!r}")


def _check_service_task_limits(config: dict[str, object]) -> None:
    soft, hard = config["SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS"], config["SERVICE_TASK_TIME_LIMIT_SECONDS"]
    if soft >= hard:
        raise ConfigurationError("SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS must be below SERVICE_TASK_TIME_LIMIT_SECONDS")
    # An attempt still running when its lease ran out could be performed a second time beside it.
    if config["OUTBOX_LEASE_SECONDS"] <= hard:
        raise ConfigurationError("OUTBOX_LEASE_SECONDS must be above SERVICE_TASK_TIME_LIMIT_SECONDS")
    if config["OUTBOX_REQUEUE_SECONDS"] <= hard:
        raise ConfigurationError("OUTBOX_REQUEUE_SECONDS must be above SERVICE_TASK_TIME_LIMIT_SECONDS")


def check(config: dict[str, object]) -> None:
    """Refuse settings that cannot work, and fill in what may be generated."""
    if is_production(config) and not config["PUBLIC_BASE_URL"]:
        # Without it, links in emails and on slips would name whatever host a request claimed.
        raise ConfigurationError("PUBLIC_BASE_URL must be set in production (SESSION_COOKIE_SECURE=1): "
                                 "the site's address, e.g. https://birth.example.gov.cn")
    if config.get("TRUSTED_HOSTS") is None:
        config["TRUSTED_HOSTS"] = trusted_hosts(str(config["PUBLIC_BASE_URL"]))
    if config["BACKGROUND"] not in {"inline", "celery"}:
        raise ConfigurationError(f"BACKGROUND must be inline or celery, not {config['BACKGROUND']!r}")
    for name in POSITIVE_SETTINGS:
        if not isinstance(config[name], int) or config[name] < 1:
            raise ConfigurationError(f"{name} must be a positive whole number, not {config[name]!r}")
    _check_database_and_storage(config)
    _check_service_task_limits(config)
    check_operations(config)
    retention = config["AUDIT_RETENTION_DAYS"]
    if not isinstance(retention, int) or retention < audit.MIN_RETENTION_DAYS:
        raise ConfigurationError(f"AUDIT_RETENTION_DAYS must be at least {audit.MIN_RETENTION_DAYS} (six months), "
                                 f"not {retention!r}")
    if config["UPLOAD_MAX_MB"] >= config["MAX_REQUEST_MB"]:
        # A file near the cap must still fit in the request with the rest of the form, to get its own message.
        raise ConfigurationError("UPLOAD_MAX_MB must be smaller than MAX_REQUEST_MB")
    try:
        rate_limits.limits_of(config["RATE_LIMITS"])
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if not config["RATE_LIMIT_STORAGE_URL"]:
        celery = config["BACKGROUND"] == "celery"
        config["RATE_LIMIT_STORAGE_URL"] = config["CELERY_BROKER_URL"] if celery else "memory://"
    # Resolved here, not when read: INSTANCE_DIR may be given to create_app after the environment was read.
    config["UPLOAD_DIR"] = Path(config["UPLOAD_DIR"] or Path(config["INSTANCE_DIR"]) / "uploads")
    if not config["SECRET_KEY"]:
        # Embedded default: a key generated once and kept beside the SQLite file, so sessions survive restarts.
        key_file = Path(config["INSTANCE_DIR"]) / "secret_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        config["SECRET_KEY"] = key_file.read_text().strip()


def check_operations(config: dict[str, object]) -> None:
    """Refuse logging, proxy and readiness settings that cannot work."""
    if config["LOG_FORMAT"] not in {"text", "json"}:
        raise ConfigurationError(f"LOG_FORMAT must be text or json, not {config['LOG_FORMAT']!r}")
    if config["LOG_LEVEL"] not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigurationError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
                                 f"not {config['LOG_LEVEL']!r}")
    for name in ("TRUSTED_PROXIES", "READY_OUTBOX_LAG_SECONDS", "READY_TIMER_LAG_SECONDS", "READY_MIN_FREE_MB"):
        if not isinstance(config[name], int) or config[name] < 0:
            raise ConfigurationError(f"{name} must be a whole number of at least 0, not {config[name]!r}")
    try:
        config["METRICS_NETWORKS"] = [ip_network(part.strip()) for part in
                                      str(config["METRICS_ALLOWED_ADDRESSES"]).split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError("METRICS_ALLOWED_ADDRESSES must be addresses or networks separated by commas, "
                                 f"not {config['METRICS_ALLOWED_ADDRESSES']!r}") from None
