"""The `progress` object (SPEC 4): one shape per mode, carrying only that mode's numbers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from loomworks.progress import Progress


class ActivityProgress(BaseModel):
    mode: Literal["activity"]


class CountedProgress(BaseModel):
    mode: Literal["counted"]
    processed: int
    total: int


class PhasedProgress(BaseModel):
    mode: Literal["phased"]
    phase: str | None = Field(description="the phase vocabulary key; null when not recognised")


class CompositeProgress(BaseModel):
    mode: Literal["composite"]
    children: int
    failed: int
    partial: int


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
    # Progress already enforces which fields each mode carries; no need to validate again.
    fields = progress.as_dict()
    return _BY_MODE[progress.mode].model_construct(None, **fields)  # type: ignore[return-value]
