"""Truth table and property tests for the progress contract (docs/progress.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loomworks.core.progress import (
    DEFAULT_ACTIVITY_LABEL,
    HINT_MAX_LENGTH,
    MAX_COUNT,
    PHASE_LABELS,
    PROGRESS_FIELDS,
    UNKNOWN_PHASE_LABEL,
    Progress,
    composite_patch,
    counts_patch,
    phase_patch,
    progress_of,
)

ACTIVE = ["queued", "dispatched", "awaiting_external"]
TERMINAL = ["completed", "failed", "cancelled", "received"]
MODES = {"none", "activity", "counted", "phased", "composite"}
MODE_KEYS = {
    "none": {"mode"},
    "activity": {"mode", "stalled"},
    "counted": {"mode", "processed", "total", "stalled"},
    "phased": {"mode", "phase", "stalled"},
    "composite": {"mode", "children", "failed", "partial", "stalled"},
}
MEGABYTE = "x" * 1_000_000

COUNTS = {"processed": 40, "total": 120}
COMPOSITE = {"composite": {"children": 3, "failed": 0, "partial": 0}}


def job_progress(status: str, context: object, summary_counts: object, **kw: Any) -> Progress:
    """A job's progress from its whole stored documents, read as the statements read them
    (`document -> 'key'` is NULL unless the document is an object holding that key)."""
    documents = {"context": context, "summary_counts": summary_counts}
    values = [
        document.get(key) if isinstance(document := documents[name], dict) else None
        for name, key in PROGRESS_FIELDS
    ]
    return progress_of(status, *values, **kw)


def active(context: object = None, summary_counts: object = None, **kw: Any) -> Progress:
    return job_progress("dispatched", context, summary_counts, **kw)


# --- precedence -------------------------------------------------------------------------------


def test_phase_beats_composite_and_counts() -> None:
    ctx = {"phase": {"key": "fetching"}, **COMPOSITE}
    assert active(ctx, COUNTS) == Progress(
        mode="phased", hint="Fetching source data", phase="fetching"
    )


def test_composite_beats_counts() -> None:
    p = active(COMPOSITE, COUNTS)
    assert (p.mode, p.children, p.failed, p.partial) == ("composite", 3, 0, 0)
    assert p.processed is None and p.total is None


def test_counts_alone_are_counted() -> None:
    p = active({}, COUNTS)
    assert (p.mode, p.processed, p.total) == ("counted", 40, 120)


@pytest.mark.parametrize("ctx", [None, {}, [], "phase", 7, 1.5, True, {"other": 1}])
@pytest.mark.parametrize("counts", [None, {}, [], "40 of 120", 40, {"processed": 40}])
def test_nothing_usable_is_activity(ctx: object, counts: object) -> None:
    assert active(ctx, counts) == Progress(mode="activity", hint=DEFAULT_ACTIVITY_LABEL)


@pytest.mark.parametrize("ctx", [None, [], "x", 3, ["phase", {"key": "fetching"}]])
def test_non_dict_context_still_allows_counted(ctx: object) -> None:
    assert active(ctx, COUNTS).mode == "counted"


def test_malformed_phase_still_beats_composite_and_counts() -> None:
    p = active({"phase": "fetching", **COMPOSITE}, COUNTS)
    assert p == Progress(mode="phased", hint=UNKNOWN_PHASE_LABEL, phase=None)


def test_null_phase_counts_as_absent() -> None:
    assert active({"phase": None}, None).mode == "activity"
    assert active({"phase": None}, COUNTS).mode == "counted"
    assert active({"phase": None, **COMPOSITE}, COUNTS).mode == "composite"


def test_malformed_composite_falls_through_to_counted() -> None:
    ctx = {"composite": {"children": 0, "failed": 0, "partial": 0}}
    assert active(ctx, COUNTS).mode == "counted"
    assert active(ctx, None).mode == "activity"


@pytest.mark.parametrize("status", ACTIVE)
def test_every_active_status_reports_progress(status: str) -> None:
    assert job_progress(status, {}, COUNTS).mode == "counted"
    assert job_progress(status, {}, {}).mode == "activity"


# --- phased -------------------------------------------------------------------------------------


def test_vocabulary_is_the_contracts() -> None:
    assert set(PHASE_LABELS) == {"preparing", "fetching", "processing", "persisting", "finalizing"}
    labels = list(PHASE_LABELS.values())
    assert len(set(labels)) == len(labels)
    assert UNKNOWN_PHASE_LABEL not in labels
    for key, label in PHASE_LABELS.items():
        assert label and len(label) <= 40 and "%" not in label
        assert label != key  # an operator reads a label, never the raw key


@pytest.mark.parametrize("key", sorted(PHASE_LABELS))
def test_each_phase_key_gives_its_label(key: str) -> None:
    p = active({"phase": {"key": key}}, COUNTS)
    assert p == Progress(mode="phased", hint=PHASE_LABELS[key], phase=key)
    assert p.as_dict() == {"mode": "phased", "phase": key, "stalled": False}


def test_phase_extra_fields_are_ignored() -> None:
    p = active({"phase": {"key": "persisting", "detail": "secret table name", "pct": 50}}, None)
    assert p == Progress(mode="phased", hint="Saving results", phase="persisting")


@pytest.mark.parametrize(
    "raw",
    [
        "fetching",
        MEGABYTE,
        3,
        2.5,
        True,
        False,
        [],
        ["fetching"],
        {},
        {"name": "fetching"},
        {"key": None},
        {"key": 1},
        {"key": 1.0},
        {"key": True},
        {"key": ["fetching"]},
        {"key": {"key": "fetching"}},
        {"key": "FETCHING"},
        {"key": " fetching"},
        {"key": "Fetching source data"},
        {"key": "launching_missiles"},
        {"key": ""},
        {"key": MEGABYTE},
        {"key": "fetching" + MEGABYTE},
    ],
)
def test_malformed_phase_is_phased_generic_without_echo(raw: object) -> None:
    p = active({"phase": raw}, COUNTS)
    assert p == Progress(mode="phased", hint=UNKNOWN_PHASE_LABEL, phase=None)
    assert p.as_dict() == {"mode": "phased", "phase": None, "stalled": False}


# --- composite ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("children", "failed", "partial", "hint"),
    [
        (1, 0, 0, "1 part running"),
        (3, 0, 0, "3 parts running"),
        (12, 2, 1, "12 parts: 2 failed, 1 partial — check the failed and partial parts"),
        (12, 1, 0, "12 parts: 1 failed — check the failed part"),
        (12, 2, 0, "12 parts: 2 failed — check the failed parts"),
        (5, 0, 1, "5 parts: 1 partial — check the partial part"),
        (5, 0, 5, "5 parts: 5 partial — check the partial parts"),
        (4, 4, 0, "4 parts: 4 failed — check the failed parts"),
    ],
)
def test_composite_hints(children: int, failed: int, partial: int, hint: str) -> None:
    ctx = {"composite": {"children": children, "failed": failed, "partial": partial}}
    p = active(ctx, {"processed": 1, "total": 2})
    assert p == Progress(
        mode="composite", hint=hint, children=children, failed=failed, partial=partial
    )
    assert "%" not in hint
    assert p.as_dict() == {
        "mode": "composite",
        "children": children,
        "failed": failed,
        "partial": partial,
        "stalled": False,
    }


def test_composite_hint_never_has_a_percentage_even_with_counts() -> None:
    ctx = {"composite": {"children": 10, "failed": 3, "partial": 2}}
    p = active(ctx, {"processed": 5, "total": 10})
    assert p.hint is not None and "%" not in p.hint and "percent" not in p.hint.lower()


def test_composite_extra_fields_are_ignored() -> None:
    ctx = {"composite": {"children": 2, "failed": 0, "partial": 0, "name": "secret"}}
    assert active(ctx, None).hint == "2 parts running"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "3 parts",
        3,
        [3, 0, 0],
        {},
        {"children": 0, "failed": 0, "partial": 0},
        {"children": -1, "failed": 0, "partial": 0},
        {"children": 3, "failed": -1, "partial": 0},
        {"children": 3, "failed": 0, "partial": -1},
        {"children": True, "failed": 0, "partial": 0},
        {"children": 3, "failed": False, "partial": 0},
        {"children": 3, "failed": 0, "partial": True},
        {"children": 3, "failed": 2, "partial": 2},
        {"children": 3, "failed": 4, "partial": 0},
        {"children": "3", "failed": 0, "partial": 0},
        {"children": 3, "failed": "0", "partial": 0},
        {"children": 3.0, "failed": 0, "partial": 0},
        {"children": 3, "failed": 0.0, "partial": 0},
        {"children": 3},
        {"children": 3, "failed": 0},
        {"failed": 0, "partial": 0},
        {"children": None, "failed": 0, "partial": 0},
        {"children": MAX_COUNT + 1, "failed": 0, "partial": 0},
        {"children": 10**5000, "failed": 0, "partial": 0},
        {"children": [3], "failed": 0, "partial": 0},
    ],
)
def test_malformed_composite_degrades(raw: object) -> None:
    assert active({"composite": raw}, None) == Progress(
        mode="activity", hint=DEFAULT_ACTIVITY_LABEL
    )
    assert active({"composite": raw}, COUNTS).mode == "counted"


def test_largest_composite_hint_is_bounded() -> None:
    ctx = {"composite": {"children": MAX_COUNT, "failed": MAX_COUNT // 2, "partial": 1}}
    p = active(ctx, None)
    assert p.mode == "composite" and p.hint is not None and len(p.hint) <= HINT_MAX_LENGTH


# --- counted ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("processed", "total", "hint"),
    [
        (0, 1, "0 of 1 processed (0%)"),
        (40, 120, "40 of 120 processed (33%)"),
        (1, 3, "1 of 3 processed (33%)"),
        (2, 3, "2 of 3 processed (66%)"),
        (996, 1000, "996 of 1000 processed (99%)"),
        (999_999, 1_000_000, "999999 of 1000000 processed (99%)"),
        (120, 120, "120 of 120 processed (100%)"),
        (MAX_COUNT, MAX_COUNT, f"{MAX_COUNT} of {MAX_COUNT} processed (100%)"),
    ],
)
def test_counted_hints(processed: int, total: int, hint: str) -> None:
    p = active({}, {"processed": processed, "total": total, "noise": "ignored"})
    assert p == Progress(mode="counted", hint=hint, processed=processed, total=total)
    assert f"{processed} of {total}" in hint
    assert p.as_dict() == {
        "mode": "counted",
        "processed": processed,
        "total": total,
        "stalled": False,
    }


@pytest.mark.parametrize(
    "counts",
    [
        {"processed": 121, "total": 120},
        {"processed": 0, "total": 0},
        {"processed": 1, "total": 0},
        {"processed": -1, "total": 10},
        {"processed": 1, "total": -10},
        {"processed": 1.0, "total": 10},
        {"processed": 1, "total": 10.0},
        {"processed": float("nan"), "total": 10},
        {"processed": 1, "total": float("inf")},
        {"processed": True, "total": 10},
        {"processed": 1, "total": True},
        {"processed": False, "total": True},
        {"processed": "1", "total": 10},
        {"processed": 1, "total": "10"},
        {"processed": None, "total": 10},
        {"processed": [1], "total": 10},
        {"processed": {"n": 1}, "total": 10},
        {"processed": 1},
        {"total": 10},
        {"processed": 1, "total": MAX_COUNT + 1},
        {"processed": 10**5000, "total": 10**5001},
        {"processed": MEGABYTE, "total": MEGABYTE},
        [40, 120],
        "40 of 120",
    ],
)
def test_malformed_counts_are_activity(counts: object) -> None:
    assert active({}, counts) == Progress(mode="activity", hint=DEFAULT_ACTIVITY_LABEL)


# --- activity -----------------------------------------------------------------------------------


def test_activity_label_is_the_callers() -> None:
    p = job_progress("awaiting_external", {}, None, activity_label="Waiting on Acme Renders")
    assert p == Progress(mode="activity", hint="Waiting on Acme Renders")
    assert p.as_dict() == {"mode": "activity", "stalled": False}


def test_activity_label_is_kept_short_single_line_and_percent_free() -> None:
    assert active(activity_label="Waiting on 100% Studio").hint == "Waiting on 100 percent Studio"
    assert active(activity_label="Waiting\non\tX  ").hint == "Waiting on X"
    assert active(activity_label="   ").hint == DEFAULT_ACTIVITY_LABEL
    hint = active(activity_label="Waiting on " + MEGABYTE).hint
    assert hint is not None and len(hint) <= HINT_MAX_LENGTH and hint.endswith("…")


def test_activity_label_does_not_override_better_modes() -> None:
    assert active({}, COUNTS, activity_label="Waiting on X").mode == "counted"


# --- terminal statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [*TERMINAL, "", "QUEUED", "Dispatched", "unknown", "queued ", MEGABYTE]
)
def test_terminal_and_unknown_statuses_have_no_progress(status: str) -> None:
    rich = {"phase": {"key": "fetching"}, **COMPOSITE}
    for ctx, counts in [(rich, COUNTS), ({}, COUNTS), ({}, {}), (None, None)]:
        p = job_progress(status, ctx, counts)
        assert p == Progress(mode="none", hint=None)
        assert p.as_dict() == {"mode": "none"}


@pytest.mark.parametrize("status", [None, 1, ["queued"], {"status": "queued"}])
def test_non_string_status_has_no_progress(status: object) -> None:
    assert job_progress(status, {}, COUNTS).mode == "none"  # type: ignore[arg-type]


# --- Progress invariants ------------------------------------------------------------------------


def test_progress_is_frozen() -> None:
    p = active()
    with pytest.raises(AttributeError):
        p.hint = "changed"  # type: ignore[misc]


# --- writing-side patches -----------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(PHASE_LABELS))
def test_phase_patch_accepts_vocabulary(key: str) -> None:
    patch = phase_patch(key)
    assert patch == {"phase": {"key": key}}
    assert active(patch, None).phase == key


@pytest.mark.parametrize("key", ["", "unknown", "Fetching", "fetching ", MEGABYTE, 1, None])
def test_phase_patch_refuses_others(key: Any) -> None:
    with pytest.raises(ValueError) as info:
        phase_patch(key)
    assert "xxxx" not in str(info.value)


@pytest.mark.parametrize(("processed", "total"), [(0, 1), (5, 5), (40, 120), (0, MAX_COUNT)])
def test_counts_patch_accepts(processed: int, total: int) -> None:
    patch = counts_patch(processed, total)
    assert patch == {"processed": processed, "total": total}
    assert active({}, patch).mode == "counted"


@pytest.mark.parametrize(
    ("processed", "total"),
    [
        (1, 0),
        (0, 0),
        (6, 5),
        (-1, 5),
        (1, -5),
        (True, 5),
        (1, True),
        (1.0, 5),
        (1, 5.0),
        ("1", 5),
        (None, 5),
        (0, MAX_COUNT + 1),
    ],
)
def test_counts_patch_refuses(processed: Any, total: Any) -> None:
    with pytest.raises(ValueError):
        counts_patch(processed, total)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((1,), {"children": 1, "failed": 0, "partial": 0}),
        ((3, 1, 2), {"children": 3, "failed": 1, "partial": 2}),
        ((3, 3), {"children": 3, "failed": 3, "partial": 0}),
        ((MAX_COUNT, 0, MAX_COUNT), {"children": MAX_COUNT, "failed": 0, "partial": MAX_COUNT}),
    ],
)
def test_composite_patch_accepts(args: tuple[int, ...], expected: dict[str, int]) -> None:
    patch = composite_patch(*args)
    assert patch == {"composite": expected}
    assert active(patch, COUNTS).mode == "composite"


@pytest.mark.parametrize(
    "args",
    [
        (0,),
        (-1,),
        (2, 2, 1),
        (2, 3),
        (2, -1),
        (2, 0, -1),
        (True,),
        (2, False),
        (2.0,),
        ("2",),
        (2, None),
        (MAX_COUNT + 1,),
    ],
)
def test_composite_patch_refuses(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        composite_patch(*args)


# --- property: any JSON in, a safe hint out -----------------------------------------------------


def _fixed_text() -> str:
    """Every hint shape the module can produce on its own (numbers are normalised away)."""
    samples = [*PHASE_LABELS.values(), UNKNOWN_PHASE_LABEL, DEFAULT_ACTIVITY_LABEL]
    for n, f, p in [(1, 0, 0), (2, 0, 0), (3, 1, 0), (3, 2, 0), (3, 0, 1), (3, 0, 2), (3, 1, 1)]:
        samples.append(str(active(composite_patch(n, f, p), None).hint))
    samples.append(str(active({}, counts_patch(1, 3)).hint))
    return _normalise("\n".join(samples))


def _normalise(text: str) -> str:
    # Numbers in a hint are legitimate echoes of integers, not of strings.
    return re.sub(r"\d+", "0", text)


FIXED_TEXT = _fixed_text()
KEYS = ["phase", "composite", "processed", "total", "key", "children", "failed", "partial"]

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-3, max_value=30)
    | st.sampled_from([MAX_COUNT, MAX_COUNT + 1, 10**4200])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from([*PHASE_LABELS, "%", "100%", "99.9%", "Preparing inputs"])
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=20,
)
small_ints = st.integers(min_value=-2, max_value=40)
# The plausible shapes get their own branches so every mode is reached often, not just junk.
phase_values = json_values | st.fixed_dictionaries(
    {"key": st.sampled_from(list(PHASE_LABELS)) | st.text(min_size=4) | json_values},
    optional={"x": json_values},
)
composite_values = (
    json_values
    | st.fixed_dictionaries({"children": small_ints, "failed": small_ints, "partial": small_ints})
    | st.fixed_dictionaries(
        {},
        optional={
            "children": small_ints | json_values,
            "failed": small_ints | json_values,
            "partial": small_ints | json_values,
        },
    )
)
contexts = (
    json_values
    | st.fixed_dictionaries({"composite": composite_values}, optional={"other": json_values})
    | st.fixed_dictionaries(
        {}, optional={"phase": phase_values, "composite": composite_values, "other": json_values}
    )
)
summaries = (
    json_values
    | st.fixed_dictionaries({"processed": small_ints, "total": small_ints})
    | st.fixed_dictionaries(
        {},
        optional={
            "processed": small_ints | json_values,
            "total": small_ints | json_values,
            "other": json_values,
        },
    )
)
statuses = (
    st.sampled_from(ACTIVE)
    | st.sampled_from([*ACTIVE, *TERMINAL, "unknown"])
    | st.text(max_size=12)
)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*_strings(k), *_strings(v)]]
    return []


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, context=contexts, summary_counts=summaries)
def test_any_json_gives_a_safe_progress(
    status: str, context: object, summary_counts: object
) -> None:
    p = job_progress(status, context, summary_counts)

    assert p.mode in MODES
    assert (p.hint is None) == (p.mode == "none")
    assert set(p.as_dict()) == MODE_KEYS[p.mode]
    # Exactly the mode's fields are set (phase may be None: an unrecognised phase).
    for name in ("processed", "total", "phase", "children", "failed", "partial"):
        if name not in MODE_KEYS[p.mode]:
            assert getattr(p, name) is None, name
        elif name != "phase":
            assert type(getattr(p, name)) is int, name
    if p.mode == "none":
        assert status not in ACTIVE
        return

    assert p.hint is not None
    assert 0 < len(p.hint) <= HINT_MAX_LENGTH
    if p.mode != "counted":
        assert "%" not in p.hint
    if p.mode == "phased":
        assert p.phase is None or p.phase in PHASE_LABELS
        assert p.hint == PHASE_LABELS.get(p.phase or "", UNKNOWN_PHASE_LABEL)
    if p.mode == "counted":
        assert p.processed is not None and p.total is not None
        assert 0 <= p.processed <= p.total and p.total > 0
        assert f"{p.processed} of {p.total}" in p.hint

    for s in _strings([status, context, summary_counts]):
        if len(s) >= 4 and _normalise(s) not in FIXED_TEXT:
            assert s not in p.hint
