"""The operator dashboard page: static files shipped in the package, served at `/` and
`/login`, and the registry document the page builds its zones, filters and wording from
(`GET /dashboard/registry.json`). Nothing here reads the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from loomworks.api.http.responses import JSONBody
from loomworks.core.kinds import SOURCE_OF
from loomworks.core.labels import KIND_NAMES
from loomworks.core.zones import ZONES

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"

# Every asset comes from this service; the page talks only to its own API.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

router = APIRouter(include_in_schema=False)


def _page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/")
async def dashboard_page() -> FileResponse:
    """The dashboard (it shows the sign-in form itself when there is no session)."""
    return _page()


@router.get("/login")
async def login_page() -> FileResponse:
    """The same page, opened on its sign-in form."""
    return _page()


def registry_document() -> dict[str, Any]:
    """Every zone in page order with its wording and audience, and each of its kinds with its
    name and the decisions it accepts (none for kinds with no rows behind them yet)."""
    return {
        "zones": [
            {
                "zone": str(spec.zone),
                "title": spec.title,
                "empty": spec.empty,
                "audience": str(spec.audience),
                "clock": spec.clock_sensitive,  # its items change with the clock alone
                "kinds": [
                    {
                        "kind": str(kind),
                        "name": KIND_NAMES[kind],
                        "decisions": [
                            {
                                "decision": decision.name,
                                "label": decision.label,
                                "done": decision.done,  # how it reads once taken
                            }
                            for decision in (SOURCE_OF[kind].decisions if kind in SOURCE_OF else ())
                        ],
                    }
                    for kind in spec.kinds
                ],
            }
            for spec in ZONES.values()
        ]
    }


@router.get("/dashboard/registry.json")
async def registry() -> JSONBody:
    """The registry as the page reads it: a public document, the same for every caller."""
    return JSONBody(registry_document(), headers={"Cache-Control": "no-cache"})


def install_page(app: FastAPI) -> None:
    app.include_router(router)
    # Unknown files under /static fall through to the JSON 404 like any other path.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
