"""Configuration from environment variables, each declared once with its default."""

import os
import secrets
from pathlib import Path


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


def from_environment() -> dict[str, object]:
    """Read every setting; nothing needs to be set to start on the embedded defaults."""
    instance_dir = Path(_env("BIRTHREG_INSTANCE_DIR", str(Path.cwd() / "instance")))
    config = {
        # Where the embedded default keeps its SQLite file, its secret key and uploads.
        "INSTANCE_DIR": instance_dir,
        # SQLite file under instance/ by default; PostgreSQL in production (postgresql+psycopg://…).
        "DATABASE_URL": _env("DATABASE_URL", f"sqlite:///{instance_dir / 'birthreg.db'}"),
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
        # Wall-clock seconds a process version's dry run (review page, `flask processes dry-run`) may take in all.
        "DRY_RUN_SECONDS": _int("DRY_RUN_SECONDS", 20),
        "SMS_PROVIDER": _env("SMS_PROVIDER", "record"),
        # A TrueType font (.ttf, or .ttc with glyf outlines) for printed slips; empty: the Noto Sans CJK SC that
        # comes with the dependencies, cut to each document's characters and cached under INSTANCE_DIR/fonts.
        "PDF_FONT": _env("PDF_FONT", ""),
        # Largest request body, in MB; larger ones get 413 before anything reads them (form bodies are otherwise
        # read whole into memory). Uploads must fit.
        "MAX_REQUEST_MB": _int("MAX_REQUEST_MB", 20),
        # Proof materials: where the files live (INSTANCE_DIR/uploads unless set), the largest file in MB, the most
        # pixels a photo may have (in millions; more is refused before decoding) and how many files one kind holds.
        "UPLOAD_DIR": _env("UPLOAD_DIR", ""),
        "UPLOAD_MAX_MB": _int("UPLOAD_MAX_MB", 10),
        "UPLOAD_MAX_MEGAPIXELS": _int("UPLOAD_MAX_MEGAPIXELS", 40),
        "UPLOAD_MAX_PER_KIND": _int("UPLOAD_MAX_PER_KIND", 5),
        # Sign-in: this many wrong passwords in a row lock the account for LOGIN_LOCK_MINUTES.
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCK_MINUTES": _int("LOGIN_LOCK_MINUTES", 30),
        # A signed-in session ends after this many minutes without a request.
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        # SMS codes: lifetime, least interval between two codes to one phone, and per-phone hourly and daily caps.
        "SMS_CODE_TTL_SECONDS": _int("SMS_CODE_TTL_SECONDS", 300),
        "SMS_CODE_RESEND_SECONDS": _int("SMS_CODE_RESEND_SECONDS", 60),
        "SMS_CODE_HOURLY_LIMIT": _int("SMS_CODE_HOURLY_LIMIT", 5),
        "SMS_CODE_DAILY_LIMIT": _int("SMS_CODE_DAILY_LIMIT", 10),
        # SMS codes over all phones and purposes, per clock hour: from one client address, and from everyone (a cap on
        # what a flood of requests can spend on SMS).
        "SMS_CODE_PER_ADDRESS_HOURLY": _int("SMS_CODE_PER_ADDRESS_HOURLY", 10),
        "SMS_CODE_GLOBAL_HOURLY": _int("SMS_CODE_GLOBAL_HOURLY", 1000),
        # The anonymous progress lookup (/track): lookups per client address in each window of this many minutes,
        # so that guessing case numbers is slow.
        "TRACK_PER_ADDRESS": _int("TRACK_PER_ADDRESS", 20),
        "TRACK_WINDOW_MINUTES": _int("TRACK_WINDOW_MINUTES", 10),
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
        # The site's address as people reach it (https://example.gov.cn), for links in emails. Empty: the address
        # of the request; set it in production so that a forged Host header cannot put another site in the link.
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
    }
    return config


POSITIVE_SETTINGS = (
    "MAX_REQUEST_MB", "LOGIN_MAX_FAILURES", "LOGIN_LOCK_MINUTES", "SESSION_IDLE_MINUTES", "SMS_CODE_TTL_SECONDS",
    "SMS_CODE_RESEND_SECONDS", "SMS_CODE_HOURLY_LIMIT", "SMS_CODE_DAILY_LIMIT", "MAIL_SMTP_PORT",
    "PASSWORD_RESET_MINUTES", "STATS_LIMIT_DAYS", "UPLOAD_MAX_MB", "UPLOAD_MAX_MEGAPIXELS", "UPLOAD_MAX_PER_KIND",
    "SMS_CODE_PER_ADDRESS_HOURLY", "SMS_CODE_GLOBAL_HOURLY", "TRACK_PER_ADDRESS", "TRACK_WINDOW_MINUTES",
    "DRY_RUN_SECONDS", "EXPRESSION_TIME_MS", "EXPRESSION_MEMORY_MB", "ADVANCE_MAX_STEPS", "ADVANCE_TIME_MS",
)


def check(config: dict[str, object]) -> None:
    """Refuse settings that cannot work, and fill in what may be generated."""
    if config["BACKGROUND"] not in {"inline", "celery"}:
        raise ConfigurationError(f"BACKGROUND must be inline or celery, not {config['BACKGROUND']!r}")
    for name in POSITIVE_SETTINGS:
        if not isinstance(config[name], int) or config[name] < 1:
            raise ConfigurationError(f"{name} must be a positive whole number, not {config[name]!r}")
    if config["UPLOAD_MAX_MB"] >= config["MAX_REQUEST_MB"]:
        # A file near the cap must still fit in the request with the rest of the form, to get its own message.
        raise ConfigurationError("UPLOAD_MAX_MB must be smaller than MAX_REQUEST_MB")
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
