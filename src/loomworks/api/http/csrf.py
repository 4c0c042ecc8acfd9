"""Cross-site refusal for state-changing routes: a browser page from another site must not be
able to sign someone in or out, or decide for them, with their cookie.

Routes declare it: `@router.post(..., dependencies=[SameSite])`. Browsers mark cross-site
requests with `Sec-Fetch-Site: cross-site` and send `Origin` on every POST; clients such as
curl send neither and are let through (they hold the cookie themselves, so there is nothing
to forge). A request with `Authorization: Bearer` is not checked: a browser never adds that
header by itself, so whoever sent it holds the token.
"""

from __future__ import annotations

from fastapi import Depends, Request

from loomworks.api.deps import AppSettings
from loomworks.api.http.errors import Forbidden

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalised_origin(origin: str) -> str:
    """scheme://host[:port], lower-case, without a default port or a trailing slash."""
    origin = origin.strip().rstrip("/").lower()
    scheme, _, host = origin.partition("://")
    port = _DEFAULT_PORTS.get(scheme)
    if port is not None and host.endswith(f":{port}"):
        host = host[: -len(port) - 1]
    return f"{scheme}://{host}"


def own_origin(request: Request) -> str:
    """This service's origin as the client addressed it (scheme and Host header)."""
    return normalised_origin(f"{request.url.scheme}://{request.url.netloc}")


async def refuse_cross_site(request: Request, settings: AppSettings) -> None:
    """403 for a request another site's page made; nothing has been read or changed yet."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise Forbidden("Cross-site request refused.")
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {normalised_origin(o) for o in settings.allowed_origins}
    if normalised_origin(origin) not in allowed | {own_origin(request)}:
        raise Forbidden("Cross-site request refused: this origin may not change anything here.")


SameSite = Depends(refuse_cross_site)
