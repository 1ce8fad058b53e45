"""Settings, read once from ``ABILITY_*`` environment variables."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"changeme", "secret", "change-me", "changethis"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ABILITY_", case_sensitive=False, extra="ignore"
    )

    # Storage
    DATABASE_URL: str = "sqlite+aiosqlite:///./ability.db"
    REDIS_URL: str | None = None
    # Unset pool sizes are derived from the connection budget and WORKERS.
    DB_POOL_SIZE: int | None = Field(default=None, ge=1, le=200)
    DB_MAX_OVERFLOW: int | None = Field(default=None, ge=0, le=200)
    DB_CONNECTION_BUDGET: int = Field(default=80, ge=2, le=10_000)
    DB_POOL_TIMEOUT: float = Field(default=2.0, gt=0, le=60)
    DB_POOL_RECYCLE: int = Field(default=1800, ge=-1)
    SQLITE_BUSY_TIMEOUT_MS: int = Field(default=5000, ge=0)
    SLOW_QUERY_MS: float = Field(default=100.0, ge=0)

    # Security
    SECRET_KEY: SecretStr | None = None
    TOKEN_TTL: timedelta = timedelta(hours=1)
    ADMIN_EMAIL: str | None = None
    ADMIN_PASSWORD: SecretStr | None = None
    ADMIN_COMPANY: str = "Platform"

    # Sign-in guessing: failed logins per email and per client IP within a
    # window opened by the first failure, then 429 (0 turns a limit off)
    LOGIN_FAILURES_PER_EMAIL: int = Field(default=10, ge=0)
    LOGIN_FAILURES_PER_IP: int = Field(default=100, ge=0)
    LOGIN_FAILURE_WINDOW: timedelta = Field(
        default=timedelta(minutes=15), gt=timedelta(0)
    )
    # Proxies trusted to name the client in X-Forwarded-For ("10.0.0.5,
    # 10.0.0.6", or "*"); unset: the peer address is the client
    FORWARDED_ALLOW_IPS: str | None = None

    # Request limits (RATE_LIMIT_PER_MINUTE: per user; 0 turns it off)
    RATE_LIMIT_PER_MINUTE: int = Field(default=0, ge=0)
    MAX_BODY_BYTES: int = Field(default=1024 * 1024, ge=1024)
    GZIP_MIN_BYTES: int = Field(default=1000, ge=0)

    # Cache (L1 is in-process; Redis adds L2 when REDIS_URL is set)
    CACHE_ENABLED: bool = True
    CACHE_L1_SIZE: int = Field(default=5_000, ge=0)
    CACHE_TTL: timedelta = timedelta(seconds=30)
    CACHE_ACK_TIMEOUT: timedelta = timedelta(milliseconds=100)
    CACHE_WARM_COMPANIES: int = Field(default=10, ge=0, le=10_000)
    REDIS_TIMEOUT: timedelta = timedelta(milliseconds=250)

    # Jobs: "auto" runs them on Celery when REDIS_URL is set, else in-process
    JOB_RUNNER: Literal["auto", "inprocess", "celery"] = "auto"
    JOB_CHUNK_SIZE: int = Field(default=100, ge=1, le=1000)
    JOB_CONCURRENCY: int = Field(default=2, ge=1, le=64)
    JOB_MAX_RETRIES: int = Field(default=5, ge=0, le=50)
    JOB_RETRY_BACKOFF: timedelta = timedelta(milliseconds=500)
    # A running job whose heartbeat is older than this lost its runner and is
    # queued again by the recovery sweep.
    JOB_HEARTBEAT_STALE: timedelta = timedelta(seconds=60)
    # Celery (production): an unacknowledged task returns to the queue after
    # this long, so it must exceed one step's run time.
    JOB_VISIBILITY_TIMEOUT: timedelta = timedelta(seconds=60)
    WORKER_MAX_TASKS_PER_CHILD: int = Field(default=1000, ge=1)

    # Operations
    METRICS_ENABLED: bool = True  # off only to measure what metrics cost
    METRICS_TOKEN: SecretStr | None = None
    MEMORY_LIMIT_MB: int | None = Field(default=None, ge=64)
    WORKERS: int = Field(default=1, ge=1, le=64)  # API processes (set by serve)
    ENV: Literal["development", "production", "test"] = "development"
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["console", "json"] | None = None
    SEED_DEMO: bool = True

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        key = self.SECRET_KEY.get_secret_value() if self.SECRET_KEY else None
        if key is not None and key.lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("ABILITY_SECRET_KEY is a placeholder; set a real one")
        if self.ENV == "production" and key is None and not self.is_sqlite:
            raise ValueError("ABILITY_SECRET_KEY is required in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL, or None for other databases."""
        if not self.is_sqlite:
            return None
        path = self.DATABASE_URL.split(":///", 1)[1].split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)

    @property
    def jobs_on_celery(self) -> bool:
        if self.JOB_RUNNER == "auto":
            return self.REDIS_URL is not None
        return self.JOB_RUNNER == "celery"

    @property
    def pool_size(self) -> int:
        """Connections each process keeps: the budget shared by the processes.

        Two thirds of a process's share are kept, a third may overflow, so
        all processes together stay within ``DB_CONNECTION_BUDGET`` (keep it
        below the server's ``max_connections``, leaving room for workers).
        """
        if self.DB_POOL_SIZE is not None:
            return self.DB_POOL_SIZE
        return max(2, (self.DB_CONNECTION_BUDGET // self.WORKERS) * 2 // 3)

    @property
    def max_overflow(self) -> int:
        if self.DB_MAX_OVERFLOW is not None:
            return self.DB_MAX_OVERFLOW
        return max(1, self.DB_CONNECTION_BUDGET // self.WORKERS - self.pool_size)

    @property
    def log_format(self) -> Literal["console", "json"]:
        if self.LOG_FORMAT is not None:
            return self.LOG_FORMAT
        return "json" if self.ENV == "production" else "console"

    @cached_property
    def secret_key(self) -> str:
        """The token signing key; generated once and kept beside a SQLite file."""
        if self.SECRET_KEY is not None:
            return self.SECRET_KEY.get_secret_value()
        db_path = self.sqlite_path
        if db_path is None:
            return _process_secret()
        key_file = db_path.with_name(db_path.name + ".secret")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            candidate = secrets.token_urlsafe(48)
            try:
                with key_file.open("x", encoding="utf-8") as fh:
                    fh.write(candidate)
                key_file.chmod(0o600)
            except FileExistsError:
                pass
        return key_file.read_text(encoding="utf-8").strip()


_PROCESS_SECRET: list[str] = []


def _process_secret() -> str:
    # Only reached for an in-memory database outside production: tokens then
    # live as long as the process, which is what such a database does too.
    if not _PROCESS_SECRET:
        _PROCESS_SECRET.append(secrets.token_urlsafe(48))
    return _PROCESS_SECRET[0]


settings = Settings()
