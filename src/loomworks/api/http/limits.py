"""Hostile input: bodies over 64 KiB refused before they are read, text that PostgreSQL or
UTF-8 cannot hold refused as 422, and validation errors that never echo what was sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
_TOO_LARGE = f"Request body larger than {MAX_BODY_BYTES // 1024} KiB."


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit. An HTTPException, because
    FastAPI lets those out of its body parsing (anything else becomes a 400) and answers them
    with {"detail": ...}."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=_TOO_LARGE)


class BodyLimit:
    """Pure ASGI middleware: a declared Content-Length over the limit is answered at once,
    without reading the body or running the route; a chunked body is counted as it arrives
    and cut off at the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        # A length of more digits than the limit has is over it (and int() of thousands of
        # digits would raise).
        if declared.isdigit() and (
            len(declared) > len(str(self.max_bytes)) or int(declared) > self.max_bytes
        ):
            await _too_large(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Read outside FastAPI's body parsing (nothing does so today): answer here.
            if started:
                raise
            await _too_large(send)


async def _too_large(send: Send) -> None:
    # Connection: close, since the rest of the body was never read.
    response = JSONResponse(
        {"detail": _TOO_LARGE}, status_code=413, headers={"Connection": "close"}
    )
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL, and a lone surrogate (\\ud800 in JSON) is not Unicode
    that UTF-8 can encode: refuse both as bad input rather than fail at the database."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return text


# What the schema says of text that `storable` checks: no NUL (lone surrogates cannot be
# written in a JSON Schema pattern).
NO_NUL = {"pattern": "^[^\\u0000]*$"}

# Every free-text field of a request body is SafeText, so NUL and lone surrogates are a 422.
SafeText = Annotated[str, AfterValidator(storable), Field(json_schema_extra=NO_NUL)]


def _printable(value: str | int) -> str | int:
    if isinstance(value, int):
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Each problem's type, location and message. FastAPI's default also echoes the `input`
    (and `ctx`): hostile input echoed back, and a lone surrogate in it made the error
    response itself fail with a 500. Locations can hold body keys, so they are made
    encodable too."""
    return [
        {
            "type": str(error.get("type", "invalid")),
            "loc": [_printable(part) for part in error.get("loc", ())],
            "msg": _printable(_in_characters(error) or str(error.get("msg", "Invalid value."))),
        }
        for error in errors
    ]


def _in_characters(error: Any) -> str | None:
    """A text's length limit in characters, as pydantic words it for a plain string: on an
    optional validated text (SafeText | None) it says "at most N items after validation"."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind not in ("too_long", "too_short") or not isinstance(error.get("input"), str):
        return None
    bound, limit = ("most", "max_length") if kind == "too_long" else ("least", "min_length")
    n = context.get(limit)
    if not isinstance(n, int):
        return None
    return f"String should have at {bound} {n} character{'' if n == 1 else 's'}"


def install_input_limits(app: FastAPI) -> None:
    app.add_middleware(BodyLimit)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": safe_validation_errors(exc.errors())}, status_code=422)
