"""Configuration from environment variables, each declared once with its default."""

import os
import secrets
from pathlib import Path


class ConfigurationError(RuntimeError):
    """Settings that cannot work together."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def from_environment() -> dict[str, object]:
    """Read every setting; nothing needs to be set to start on the embedded defaults."""
    instance_dir = Path(_env("BIRTHREG_INSTANCE_DIR", str(Path.cwd() / "instance")))
    config = {
        # Where the embedded default keeps its SQLite file, its secret key and uploads.
        "INSTANCE_DIR": instance_dir,
        # SQLite file under instance/ by default; PostgreSQL in production (postgresql+psycopg://…).
        "DATABASE_URL": _env("DATABASE_URL", f"sqlite:///{instance_dir / 'birthreg.db'}"),
        "SECRET_KEY": _env("SECRET_KEY", ""),
        # inline: the outbox is drained in-process after commit; celery: workers on CELERY_BROKER_URL.
        "BACKGROUND": _env("BACKGROUND", "inline"),
        "CELERY_BROKER_URL": _env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        # Seconds between in-process timer ticks (embedded default); 0 turns the scheduler off.
        "TICK_SECONDS": int(_env("TICK_SECONDS", "60")),
        "SMS_PROVIDER": _env("SMS_PROVIDER", "record"),
    }
    return config


def check(config: dict[str, object]) -> None:
    """Refuse settings that cannot work, and fill in what may be generated."""
    if config["BACKGROUND"] not in {"inline", "celery"}:
        raise ConfigurationError(f"BACKGROUND must be inline or celery, not {config['BACKGROUND']!r}")
    if not config["SECRET_KEY"]:
        # Embedded default: a key generated once and kept beside the SQLite file, so sessions survive restarts.
        key_file = Path(config["INSTANCE_DIR"]) / "secret_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        config["SECRET_KEY"] = key_file.read_text().strip()
