"""Settings from the environment (SPEC §2)."""

import os
import warnings

DEV_SECRET_KEY = "leadflow-dev-key-change-me"


def load_settings(instance_path: str) -> dict:
    """Read the environment into a Flask config mapping."""
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path}/leadflow.db"
    secret_key = os.environ.get("SECRET_KEY")
    debug = os.environ.get("FLASK_DEBUG", "") not in ("", "0", "false")
    if not secret_key:
        if database_url.startswith("postgresql") and not debug:
            raise RuntimeError("SECRET_KEY must be set when DATABASE_URL is PostgreSQL")
        warnings.warn("SECRET_KEY is not set: using an insecure development key", stacklevel=2)
        secret_key = DEV_SECRET_KEY
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # A streaming standby for read-only pages (webapp/replica.py), used while it is at most this far
        # behind; the lag is measured at most once per check interval in each process.
        "DATABASE_READ_URL": os.environ.get("DATABASE_READ_URL") or None,
        "DATABASE_READ_MAX_LAG_SECONDS": float(os.environ.get("DATABASE_READ_MAX_LAG_SECONDS", "5")),
        "DATABASE_READ_LAG_CHECK_SECONDS": float(os.environ.get("DATABASE_READ_LAG_CHECK_SECONDS", "2")),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "MAIL_SERVER": os.environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", "25")),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes"),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "Leadflow <no-reply@localhost>"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://localhost:5000").rstrip("/"),
        "JWT_EXPIRES_SECONDS": int(os.environ.get("JWT_EXPIRES_SECONDS", "3600")),
        # A body over this is refused with 413 before it is read (the CSV upload has its own limit).
        "MAX_CONTENT_LENGTH": int(os.environ.get("LEADFLOW_MAX_BODY_BYTES", str(2 * 1024 * 1024))),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "").lower() in ("1", "true"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "SWEEP_INTERVAL_SECONDS": float(os.environ.get("LEADFLOW_SWEEP_INTERVAL_SECONDS", "30")),
        "STALLED_AFTER_SECONDS": int(os.environ.get("LEADFLOW_STALLED_AFTER_SECONDS", "300")),
        "BACKGROUND_SCHEDULER": os.environ.get("LEADFLOW_BACKGROUND_SCHEDULER", "1") == "1",
        # Lead events older than this many whole months are dropped by the maintenance sweep; unset: kept forever.
        "LEAD_EVENT_RETENTION_MONTHS": _positive_int_or_none("LEADFLOW_LEAD_EVENT_RETENTION_MONTHS"),
        # Segment counts: organizations with more leads than this get an estimate first (PostgreSQL with
        # Redis), the exact count following from a background query stopped after the timeout.
        "SEGMENT_ESTIMATE_ABOVE": int(os.environ.get("LEADFLOW_SEGMENT_ESTIMATE_ABOVE", "50000")),
        "SEGMENT_EXACT_COUNT_TIMEOUT_SECONDS": float(os.environ.get("LEADFLOW_SEGMENT_EXACT_COUNT_TIMEOUT_SECONDS", "60")),
    }


def _positive_int_or_none(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise RuntimeError(f"{name} must be a whole number of months, at least 1")
    return int(value)
