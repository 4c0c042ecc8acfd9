"""The `progress` object (docs/progress.md): one shape per mode, with only that mode's numbers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from loomworks.core.progress import Progress


def _stalled() -> Any:
    return Field(default=False, description="running, but no progress written for a while")


class ActivityProgress(BaseModel):
    mode: Literal["activity"]
    stalled: bool = _stalled()


class CountedProgress(BaseModel):
    mode: Literal["counted"]
    processed: int
    total: int
    stalled: bool = _stalled()


class PhasedProgress(BaseModel):
    mode: Literal["phased"]
    phase: str | None = Field(description="the phase vocabulary key; null when not recognised")
    stalled: bool = _stalled()


class CompositeProgress(BaseModel):
    mode: Literal["composite"]
    children: int
    failed: int
    partial: int
    stalled: bool = _stalled()


class NoProgress(BaseModel):
    mode: Literal["none"]


ActiveProgress = Annotated[
    PhasedProgress | CompositeProgress | CountedProgress | ActivityProgress,
    Field(discriminator="mode"),
]
JobProgress = Annotated[
    PhasedProgress | CompositeProgress | CountedProgress | ActivityProgress | NoProgress,
    Field(discriminator="mode"),
]
_BY_MODE: dict[str, type[BaseModel]] = {
    "activity": ActivityProgress,
    "counted": CountedProgress,
    "phased": PhasedProgress,
    "composite": CompositeProgress,
    "none": NoProgress,
}


def progress_read(progress: Progress) -> JobProgress:
    # Straight to the mode's model: pydantic-core validates typed fields faster than
    # model_construct copies them, and faster than a discriminated-union TypeAdapter.
    return _BY_MODE[progress.mode](**progress.as_dict())  # type: ignore[return-value]
