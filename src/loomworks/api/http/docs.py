"""/docs (Swagger UI) and /redoc served with assets vendored in the package, so the API's
documentation works offline and loads nothing from a CDN (web/docs/README.md says how the
Redoc bundle was made to ask no other origin, and tests/web/test_docs_offline.py checks it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from loomworks.api.schemas.examples import example_of

ASSETS_DIR = Path(__file__).resolve().parents[2] / "web" / "docs"
ASSETS_URL = "/docs/assets"
# Nothing but this service: the browser refuses any request to another origin. Inline
# scripts and styles and eval stay allowed, as the vendored bundles need them (Swagger UI
# starts from an inline script, Redoc compiles schema validators).
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self' data: blob: 'unsafe-inline' 'unsafe-eval'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def install_offline_docs(app: FastAPI) -> None:
    """Needs FastAPI(docs_url=None, redoc_url=None): these replace the CDN-backed pages."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    title = f"{app.title} - API"
    pages = {
        "/docs": get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            # The default would send the document to validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        ),
        "/redoc": get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            with_google_fonts=False,
        ),
    }
    for path, page in pages.items():
        page.headers.update(DOCS_HEADERS)
        app.add_api_route(path, _serving(page), methods=["GET"], include_in_schema=False)
    _keep_nulls_in_examples(app)


def _keep_nulls_in_examples(app: FastAPI) -> None:
    """FastAPI drops every null from the document it builds, examples included
    (fastapi/fastapi#5559), which would leave a required nullable field out of an example
    and so make the example invalid against its own schema: put the body examples back whole."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = build()  # built once, then FastAPI's cached copy
        if fresh:
            for name, schema in document.get("components", {}).get("schemas", {}).items():
                example = example_of(name)
                if example is not None:
                    schema["examples"] = [example]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _serving(page: HTMLResponse) -> Callable[[], Awaitable[HTMLResponse]]:
    async def serve() -> HTMLResponse:
        return page

    return serve
