"""The operator dashboard page: static files shipped in the package, served at `/` and
`/login`. The page is a plain client of the public API; nothing here reads the database."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

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


def install_page(app: FastAPI) -> None:
    app.include_router(router)
    # Unknown files under /static fall through to the JSON 404 like any other path.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
