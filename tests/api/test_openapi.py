"""The OpenAPI document lists every operation's error statuses and the cookie scheme; the
documentation pages work offline."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import httpx
import jsonschema_rs
import pytest
from pydantic import BaseModel

from loomworks.api.schemas import (
    dashboard,
    decisions,
    engagements,
    jobs,
    people,
    tokens,
    triage,
    webhooks,
)
from loomworks.api.schemas.examples import EXAMPLES, TIMELY

ERROR_REF = "#/components/schemas/ErrorBody"
VALIDATION_REF = "#/components/schemas/ValidationErrorBody"


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _schema_ref(response: dict[str, Any]) -> str:
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref


async def test_every_operation_documents_its_error_statuses(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 12
    for method, path, operation in operations:
        responses = operation["responses"]
        errors = {int(status) for status in responses if int(status) >= 400}
        where = f"{method} {path}"
        assert 503 in errors, where  # every operation reads the database
        if operation.get("parameters") or "requestBody" in operation:
            assert 422 in errors, where
        if "requestBody" in operation:
            assert 413 in errors, where
        if "{engagement_id}" in path:
            assert 404 in errors, where
        if "security" in operation:
            assert 401 in errors, where
        if method == "POST":
            assert 403 in errors, where  # state-changing: cross-site refusal
        for status in errors:
            expected = VALIDATION_REF if status == 422 else ERROR_REF
            assert _schema_ref(responses[str(status)]) == expected, (where, status)


async def test_specific_error_statuses(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert {"401", "403", "413", "422", "429", "503"} <= set(
        paths["/auth/login"]["post"]["responses"]
    )
    assert (
        "409"
        in paths["/engagements/{engagement_id}/renders/{render_id}/content"]["get"]["responses"]
    )
    assert "400" in paths["/me/dashboard/active"]["get"]["responses"]


async def test_error_schemas_are_detail_bodies(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["detail"]
    assert schemas["ErrorBody"]["properties"]["detail"]["type"] == "string"
    assert schemas["ValidationErrorBody"]["properties"]["detail"]["type"] == "array"


async def test_the_session_cookie_and_tokens_are_security_schemes(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "loomworks_session",
        "description": "The session cookie that POST /auth/login sets.",
    }
    assert schemes["token"]["type"] == "http" and schemes["token"]["scheme"] == "bearer"
    me = document["paths"]["/me"]["get"]
    assert me["security"] == [{"session": []}, {"token": []}]  # either one
    assert "security" not in document["paths"]["/auth/login"]["post"]


def _local_urls(html: str) -> list[str]:
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert urls
    for url in urls:
        assert url.startswith("/"), f"{url} is not served by this service"
    assert "http://" not in html and "https://" not in html
    return urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # The browser itself refuses any other origin (tests/web/test_docs_offline.py: none asked).
    assert response.headers["content-security-policy"].startswith("default-src 'self' ")
    for url in _local_urls(response.text):
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url


async def test_paging_parameters_are_documented_as_validated(document: dict[str, Any]) -> None:
    parameters = {
        p["name"]: p for p in document["paths"]["/me/dashboard/recent"]["get"]["parameters"]
    }
    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == (
        "integer",
        1,
        100,
        50,
    )


# --- examples: every operation shows a realistic body, and each example is a valid one ----------

JSON = "application/json"
MODELS: dict[str, type[BaseModel]] = {
    name: model
    for module in (dashboard, decisions, engagements, jobs, people, tokens, triage, webhooks)
    for name, model in inspect.getmembers(module, inspect.isclass)
    if issubclass(model, BaseModel)
}


def _components(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The component names a body schema refers to, directly or as a member of anyOf/oneOf."""
    members = schema.get("anyOf", schema.get("oneOf", [schema]))
    return [m["$ref"].rsplit("/", 1)[1] for m in members if "$ref" in m]


def _examples(document: dict[str, Any], content: dict[str, Any]) -> list[Any]:
    """The examples a JSON body shows: its own, or its referenced components'."""
    found = list(content.get("examples", {}).values())
    found = [example["value"] for example in found]
    if "example" in content:
        found.append(content["example"])
    components = document["components"]["schemas"]
    for name in _components(document, content.get("schema", {})):
        found += components[name].get("examples", [])
    return found


def _bodies(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every JSON request body and 2xx JSON response of every operation, named."""
    bodies = []
    for method, path, operation in _operations(document):
        request = operation.get("requestBody", {}).get("content", {}).get(JSON)
        if request is not None:
            bodies.append((f"{method} {path} request", request))
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get(JSON)
            if status.startswith("2") and content is not None:
                bodies.append((f"{method} {path} {status}", content))
    return bodies


async def test_every_operation_shows_an_example(document: dict[str, Any]) -> None:
    bodies = _bodies(document)
    assert len(bodies) >= 50
    missing = [name for name, content in bodies if not _examples(document, content)]
    assert missing == []


async def test_every_example_validates_against_its_own_schema(document: dict[str, Any]) -> None:
    """Against the document's JSON schema (jsonschema-rs, which schemathesis brings), and the
    component examples against their pydantic models too."""
    checked = 0
    for name, content in _bodies(document):
        validator = jsonschema_rs.Draft202012Validator(
            {**content["schema"], "components": document["components"]}
        )
        for example in _examples(document, content):
            errors = [error.message for error in validator.iter_errors(example)]
            assert errors == [], f"{name}: {errors}"
            checked += 1
    assert checked >= 50
    for component in [*EXAMPLES, *TIMELY]:
        (example,) = document["components"]["schemas"][component]["examples"]
        MODELS[component].model_validate_json(json.dumps(example))
