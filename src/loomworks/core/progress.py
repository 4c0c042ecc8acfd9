"""Progress of active jobs (docs/progress.md): one pure function from status + stored JSON
to an honest hint, plus writing-side helpers that validate what job code records."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Literal, NamedTuple

from loomworks.core.kinds import RUNNING_STATUSES

ProgressMode = Literal["none", "activity", "counted", "phased", "composite"]

PHASE_LABELS: dict[str, str] = {
    "preparing": "Preparing inputs",
    "fetching": "Fetching source data",
    "processing": "Processing",
    "persisting": "Saving results",
    "finalizing": "Finalizing",
}

UNKNOWN_PHASE_LABEL = "In progress (current step not reported)"
DEFAULT_ACTIVITY_LABEL = "Working"

# Larger counts are junk rather than progress, and formatting an int with more than
# 4300 digits raises ValueError in Python >= 3.11, so they must never reach an f-string.
MAX_COUNT = 10**15

HINT_MAX_LENGTH = 120

# The only values of a job's stored JSON that its progress depends on, in progress_of's
# order: each is (document, key). Readers select just these (db/jobs.progress_fields), so
# whatever else job code keeps in those documents is never sent or decoded.
PROGRESS_FIELDS: tuple[tuple[str, str], ...] = (
    ("context", "phase"),
    ("context", "composite"),
    ("summary_counts", "processed"),
    ("summary_counts", "total"),
)


class Progress(NamedTuple):
    """A job's progress; only the fields of its mode are set (``phase`` may be None).

    Built only by progress_of below, once per dashboard item, so it is a plain immutable
    tuple: the invariants (hint None exactly in "none" mode; exactly the mode's fields set)
    hold by construction, and tests/test_progress.py checks them over arbitrary JSON."""

    mode: ProgressMode
    hint: str | None
    processed: int | None = None
    total: int | None = None
    phase: str | None = None
    children: int | None = None
    failed: int | None = None
    partial: int | None = None
    stalled: bool = False  # running, but no progress written for a while (see stalled())

    def as_dict(self) -> dict[str, str | int | bool | None]:
        """The ``progress`` object of an API item: the mode plus only that mode's fields, and
        whether a running job has stalled."""
        out: dict[str, str | int | bool | None] = {"mode": self.mode}
        if self.mode == "none":
            return out
        if self.mode == "counted":
            out["processed"] = self.processed
            out["total"] = self.total
        elif self.mode == "phased":
            out["phase"] = self.phase
        elif self.mode == "composite":
            out["children"] = self.children
            out["failed"] = self.failed
            out["partial"] = self.partial
        out["stalled"] = self.stalled
        return out


NO_PROGRESS = Progress(mode="none", hint=None)


def _count(value: object) -> int | None:
    # bool is an int subclass, and floats or numeric strings are not what writers record.
    if type(value) is not int or value < 0 or value > MAX_COUNT:
        return None
    return value


def _valid_counts(processed: object, total: object) -> tuple[int, int] | None:
    p, t = _count(processed), _count(total)
    if p is None or t is None or t == 0 or p > t:
        return None
    return p, t


def _valid_composite(
    children: object, failed: object, partial: object
) -> tuple[int, int, int] | None:
    n, f, p = _count(children), _count(failed), _count(partial)
    if n is None or f is None or p is None or n == 0 or f + p > n:
        return None
    return n, f, p


def _parts(n: int) -> str:
    return f"{n} part" if n == 1 else f"{n} parts"


def _composite_hint(children: int, failed: int, partial: int) -> str:
    if failed == 0 and partial == 0:
        return f"{_parts(children)} running"
    issues: list[str] = []
    look_at: list[str] = []
    if failed:
        issues.append(f"{failed} failed")
        look_at.append("failed")
    if partial:
        issues.append(f"{partial} partial")
        look_at.append("partial")
    noun = "part" if failed + partial == 1 else "parts"
    return f"{_parts(children)}: {', '.join(issues)} — check the {' and '.join(look_at)} {noun}"


def _counted_hint(processed: int, total: int) -> str:
    # Floored so a job never shows 100% before every item is processed.
    percent = processed * 100 // total
    return f"{processed} of {total} processed ({percent}%)"


def _activity_hint(label: object) -> str:
    # The caller vouches for the label's content; this only keeps the hint short, single-line
    # and free of '%', which the contract reserves for counted hints.
    if not isinstance(label, str):
        return DEFAULT_ACTIVITY_LABEL
    text = " ".join(label[: HINT_MAX_LENGTH * 4].replace("%", " percent ").split())
    if not text:
        return DEFAULT_ACTIVITY_LABEL
    if len(text) > HINT_MAX_LENGTH:
        text = text[: HINT_MAX_LENGTH - 1].rstrip() + "…"
    return text


def phase_key(raw: object) -> str | None:
    """A stored phase as the statements read it (db/jobs.progress_fields, in SQL, so no row's
    JSON is decoded for it): None when there is none (absent or JSON null), its key when that
    is a string, '' for any other value (still a phase, a malformed one)."""
    if raw is None:
        return None
    key = raw.get("key") if isinstance(raw, dict) else None
    return key if isinstance(key, str) else ""


# Every phased progress there can be, made once: a page of phased jobs reuses them.
_PHASED = {
    key: Progress(mode="phased", hint=label, phase=key) for key, label in PHASE_LABELS.items()
}
_UNKNOWN_PHASE = Progress(mode="phased", hint=UNKNOWN_PHASE_LABEL, phase=None)


def _phased(key: str) -> Progress:
    return _PHASED.get(key, _UNKNOWN_PHASE)


def progress_of(
    status: str,
    phase: object,
    composite: object,
    processed: object,
    total: object,
    *,
    activity_label: str = DEFAULT_ACTIVITY_LABEL,
) -> Progress:
    """Progress for a job from its status and its stored PROGRESS_FIELDS values (None where
    absent or JSON null); only a running status (loomworks.core.kinds) has any.

    Never raises for any JSON value. Precedence for an active job is
    phased > composite > counted > activity; a malformed composite counts as absent.
    A ``"phase": null`` entry counts as no phase; any other ``phase`` value means phased mode.
    """
    return progress_from(
        status, phase_key(phase), composite, processed, total, activity_label=activity_label
    )


def progress_from(
    status: str,
    phase: str | None,
    composite: object,
    processed: object,
    total: object,
    *,
    activity_label: str = DEFAULT_ACTIVITY_LABEL,
) -> Progress:
    """progress_of, with the phase already read as phase_key reads it (what the statements
    return: db/jobs.progress_fields)."""
    if not isinstance(status, str) or status not in RUNNING_STATUSES:
        return NO_PROGRESS

    if phase is not None:
        return _phased(phase)

    if isinstance(composite, dict):
        valid = _valid_composite(
            composite.get("children"), composite.get("failed"), composite.get("partial")
        )
        if valid is not None:
            n, f, p = valid
            return Progress(
                mode="composite", hint=_composite_hint(n, f, p), children=n, failed=f, partial=p
            )

    counts = _valid_counts(processed, total)
    if counts is not None:
        p, t = counts
        return Progress(mode="counted", hint=_counted_hint(p, t), processed=p, total=t)

    return Progress(mode="activity", hint=_activity_hint(activity_label))


def stalled(progress: Progress, silent: timedelta) -> Progress:
    """The same progress of a running job that has written none for `silent`: its mode and
    numbers stay (a stalled job is still phased, counted, ...), its hint says how long."""
    if progress.mode == "none" or progress.hint is None:
        return progress
    hint = f"{progress.hint} — no update for {duration_text(silent)}"
    p = progress  # as _replace would, without its per-call lookup of every field
    return Progress(
        p.mode, hint, p.processed, p.total, p.phase, p.children, p.failed, p.partial, True
    )


def duration_text(span: timedelta) -> str:
    return _minutes_text(int(span.total_seconds() // 60))


@lru_cache(maxsize=4096)
def _minutes_text(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def phase_patch(key: str) -> dict[str, dict[str, str]]:
    """The ``context`` fragment recording phase ``key``; ValueError outside the vocabulary."""
    if not isinstance(key, str) or key not in PHASE_LABELS:
        raise ValueError(f"unknown phase; expected one of {sorted(PHASE_LABELS)}")
    return {"phase": {"key": key}}


def counts_patch(processed: int, total: int) -> dict[str, int]:
    """The ``summary_counts`` fragment; ValueError unless 0 <= processed <= total and total > 0."""
    counts = _valid_counts(processed, total)
    if counts is None:
        raise ValueError(
            f"counts need integers with 0 <= processed <= total, 0 < total <= {MAX_COUNT}"
        )
    return {"processed": counts[0], "total": counts[1]}


def composite_patch(children: int, failed: int = 0, partial: int = 0) -> dict[str, dict[str, int]]:
    """The ``context`` fragment for a composite job; ValueError unless valid per the contract."""
    valid = _valid_composite(children, failed, partial)
    if valid is None:
        raise ValueError(
            "composite needs non-negative integers with failed + partial <= children, "
            f"0 < children <= {MAX_COUNT}"
        )
    n, f, p = valid
    return {"composite": {"children": n, "failed": f, "partial": p}}
