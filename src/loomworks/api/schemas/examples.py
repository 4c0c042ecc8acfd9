"""One realistic example per request and response body of the API, shown in /docs and /redoc.

The examples (examples.json, keyed by schema name) are the service's own answers on the demo
portfolio (`serve --demo`, a dozen simulator ticks in), lists cut to a couple of items and
secrets replaced. A model built on `Documented` carries EXAMPLES[its class name] in its JSON
schema; tests/api/test_openapi.py checks that every operation has one and that each
validates against its own schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

EXAMPLES: dict[str, Any] = json.loads(
    Path(__file__).with_name("examples.json").read_text(encoding="utf-8")
)


def _tomorrow_morning() -> dict[str, Any]:
    morning = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    return {"until": morning.replace(microsecond=0).isoformat()}


# Bodies only valid relative to now (a snooze ends in the future, at most 30 days ahead):
# written when the document is built, so the example stays one the API accepts.
TIMELY: dict[str, Callable[[], Any]] = {"SnoozeUpdate": _tomorrow_morning}


def example_of(name: str) -> Any | None:
    """The example of the schema called `name`, or None."""
    timely = TIMELY.get(name)
    return timely() if timely is not None else EXAMPLES.get(name)


def _example(schema: dict[str, Any], model: type[Any]) -> None:
    example = example_of(model.__name__)
    if example is not None:
        schema["examples"] = [example]


class Documented(BaseModel):
    """A body the OpenAPI document shows with its example, EXAMPLES[its class name]."""

    model_config = ConfigDict(json_schema_extra=_example)
