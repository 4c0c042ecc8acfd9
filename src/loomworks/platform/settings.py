"""Service configuration: one pydantic-settings class read from LOOMWORKS_* variables."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loomworks.platform.urls import async_url


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("loomworks", appauthor=False))


def _half_the_cores() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


class Settings(BaseSettings):
    """Every knob the service has; the README documents each one."""

    model_config = SettingsConfigDict(env_prefix="LOOMWORKS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="libpq-style PostgreSQL URL; unset means the embedded server in data_dir.",
    )
    # Read replicas (docs/scaling.md): comma-separated libpq URLs of hot standbys of the
    # primary. Zones, counts, details, history and downloads read from them.
    read_database_urls: str = ""
    max_replica_lag_seconds: float = Field(
        default=5.0, gt=0, description="a replica further behind the primary is not read from"
    )
    replica_probe_seconds: float = Field(default=1.0, gt=0)
    data_dir: Path = Field(default_factory=_default_data_dir)
    session_lifetime_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    cookie_secure: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    db_pool_size: int = Field(default=10, ge=1)
    # Faults (docs/reliability.md): past these the database counts as unavailable (503).
    db_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    db_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    download_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    shutdown_timeout_seconds: int = Field(default=15, gt=0)
    demo_tick_seconds: float = Field(default=3.0, gt=0)
    poll_interval_seconds: int = Field(
        default=10, ge=1, description="X-Poll-Interval: how often a client should poll a zone"
    )
    # Metrics (docs/scaling.md): GET /metrics on the app, or on a port of its own when set.
    metrics: bool = False
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    stall_after_seconds: int = Field(
        default=600, ge=1, description="a running job silent this long is shown as stalled"
    )
    undo_seconds: int = Field(
        default=60, ge=1, le=86_400, description="how long after deciding a person may undo"
    )
    # Triage (docs/triage.md): how long an "I'm on it" claim holds, and when a waiting item
    # counts as overdue.
    claim_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    overdue_after_seconds: int = Field(default=86400, ge=1)
    # Event streams (docs/live.md): a keep-alive comment and a session check this often.
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, le=15)
    # Events a stream may have waiting to be sent; a stream that falls further behind is ended.
    events_queue_size: int = Field(default=256, ge=1)
    # Comma-separated origins (scheme://host[:port]) whose pages may call the API with the
    # session cookie; none by default.
    cors_origins: str = ""
    # Sign-in throttle (docs/reliability.md): failures within the window for one email from
    # one client address, from one address, and for one email from everywhere (a device
    # cookie of that person lifts the last).
    login_failures_per_pair: int = Field(default=10, ge=1)
    login_failures_per_address: int = Field(default=100, ge=1)
    login_failures_per_email: int = Field(default=100, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    # Password checks (argon2, ~0.25 s of a core each) run in this many low-priority threads;
    # sign-ins queue for them. Half the cores leaves the rest to the event loop and PostgreSQL.
    hash_concurrency: int = Field(default_factory=_half_the_cores, ge=1)
    # Webhooks (docs/integrations.md): the first retry waits about this long, each later one
    # twice as long as the one before; after webhook_max_attempts the delivery has failed.
    webhook_retry_base_seconds: float = Field(default=30.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=5, le=30)
    # Let webhooks call loopback, private and link-local addresses (tests, local development).
    webhook_allow_private: bool = False
    # A webhook whose every delivery failed for this long is deactivated.
    webhook_deactivate_after_seconds: int = Field(default=24 * 3600, ge=1)
    # How often each process looks for deliveries that are due (and sends them at once).
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    @property
    def undo_window(self) -> timedelta:
        return timedelta(seconds=self.undo_seconds)

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(
            origin.strip().rstrip("/").lower()
            for origin in self.cors_origins.split(",")
            if origin.strip()
        )

    @field_validator("read_database_urls")
    @classmethod
    def _postgresql_urls(cls, value: str) -> str:
        for url in value.split(","):
            if url.strip():
                async_url(url.strip())  # BadDatabaseURL is a ValueError: a settings error
        return value

    @property
    def read_urls(self) -> list[str]:
        return [url.strip() for url in self.read_database_urls.split(",") if url.strip()]

    @property
    def login_failure_window(self) -> timedelta:
        return timedelta(seconds=self.login_failure_window_seconds)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(seconds=self.session_lifetime_seconds)

    @property
    def stall_after(self) -> timedelta:
        return timedelta(seconds=self.stall_after_seconds)

    @property
    def claim_hold(self) -> timedelta:
        return timedelta(seconds=self.claim_seconds)

    @property
    def overdue_after(self) -> timedelta:
        return timedelta(seconds=self.overdue_after_seconds)


def first_error(exc: ValidationError) -> str:
    """A settings error on one line, for start-up messages."""
    error = exc.errors()[0]
    name = "_".join(str(part) for part in error["loc"]).upper()
    return f"LOOMWORKS_{name}: {error['msg']}"
