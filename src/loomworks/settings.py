"""Service configuration: one pydantic-settings class read from LOOMWORKS_* variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import platformdirs
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("loomworks", appauthor=False))


class Settings(BaseSettings):
    """Every knob the service has; the README documents each one."""

    model_config = SettingsConfigDict(env_prefix="LOOMWORKS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="libpq-style PostgreSQL URL; unset means the embedded server in data_dir.",
    )
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

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(seconds=self.session_lifetime_seconds)

    @property
    def stall_after(self) -> timedelta:
        return timedelta(seconds=self.stall_after_seconds)


def first_error(exc: ValidationError) -> str:
    """A settings error on one line, for start-up messages."""
    error = exc.errors()[0]
    name = "_".join(str(part) for part in error["loc"]).upper()
    return f"LOOMWORKS_{name}: {error['msg']}"
