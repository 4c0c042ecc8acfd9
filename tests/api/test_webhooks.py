"""/me/webhooks: create (secret once), list, delete, ping, deliveries; 404 for someone else's,
422 for unsafe URLs, 403 cross-site. Deliveries themselves: tests/live/test_webhooks.py."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import TokenScope
from loomworks.db.tables import webhook_deliveries, webhooks
from loomworks.db.tokens import create_token
from tests.fixtures.data import as_, make_engagement, make_person, make_session

# A public address written as such: nothing has to resolve.
PUBLIC_URL = "http://93.184.216.34/hooks/loomworks"
ROUTES = [
    ("POST", "/me/webhooks"),
    ("GET", "/me/webhooks"),
    ("DELETE", f"/me/webhooks/{uuid.uuid4()}"),
    ("POST", f"/me/webhooks/{uuid.uuid4()}/ping"),
    ("GET", f"/me/webhooks/{uuid.uuid4()}/deliveries"),
]


async def signed_in(db: AsyncConnection) -> dict[str, str]:
    return as_(await make_session(db, await make_person(db)))


async def _count(db: AsyncConnection, table: object) -> int:
    return int((await db.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await client.post(
        "/me/webhooks",
        json={"url": PUBLIC_URL, "events": ["needs_you.arrived"], **body},
        headers=headers,
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_anonymous_is_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={"url": PUBLIC_URL, "events": ["ping"]})
    assert response.status_code == 401
    assert response.json()["detail"]


async def test_create_shows_the_secret_once(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await signed_in(db)
    created = await create(client, me, events=["needs_you.arrived", "job.failed"])
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("lwhook_") and len(body["secret"]) > 40
    assert body["url"] == PUBLIC_URL
    assert body["events"] == ["needs_you.arrived", "job.failed"]
    assert body["engagement_ids"] is None
    assert body["active"] is True and body["deactivated_reason"] is None

    listed = await client.get("/me/webhooks", headers=me)
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "private, no-store"
    (item,) = listed.json()["items"]
    assert item["id"] == body["id"]
    assert "secret" not in item
    assert body["secret"] not in listed.text


async def test_only_my_engagements_may_be_named(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await make_person(db)
    headers = as_(await make_session(db, me))
    mine = await make_engagement(db, "Harbour", member=me)
    theirs = await make_engagement(db, "Quarry")
    refused = await create(client, headers, engagement_ids=[str(mine), str(theirs)])
    assert refused.status_code == 404
    assert await _count(db, webhooks) == 0
    accepted = await create(client, headers, engagement_ids=[str(mine), str(mine)])
    assert accepted.status_code == 201
    assert accepted.json()["engagement_ids"] == [str(mine)]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://0.0.0.0/hook",
        "ftp://93.184.216.34/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "not a url",
        "https:///no-host",
    ],
)
async def test_unsafe_urls_are_422_without_the_setting(
    client: httpx.AsyncClient, db: AsyncConnection, url: str
) -> None:
    response = await create(client, await signed_in(db), url=url)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert await _count(db, webhooks) == 0


@pytest.mark.parametrize(
    "events", [[], ["ping"], ["needs_you.left"], ["job.failed", "nonsense"], "job.failed"]
)
async def test_events_must_be_subscribable(
    client: httpx.AsyncClient, db: AsyncConnection, events: object
) -> None:
    response = await create(client, await signed_in(db), events=events)
    assert response.status_code == 422


async def test_someone_elses_webhook_is_404(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    owner, other = await signed_in(db), await signed_in(db)
    webhook_id = (await create(client, owner)).json()["id"]
    for method, path in [
        ("DELETE", f"/me/webhooks/{webhook_id}"),
        ("POST", f"/me/webhooks/{webhook_id}/ping"),
        ("GET", f"/me/webhooks/{webhook_id}/deliveries"),
        ("DELETE", f"/me/webhooks/{uuid.uuid4()}"),
    ]:
        response = await client.request(method, path, headers=other)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"]
    assert await _count(db, webhooks) == 1
    assert await _count(db, webhook_deliveries) == 0
    bad_id = await client.get("/me/webhooks/not-a-uuid/deliveries", headers=owner)
    assert bad_id.status_code == 422


async def test_ping_is_accepted_and_delete_removes(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await signed_in(db)
    webhook_id = (await create(client, me)).json()["id"]
    pinged = await client.post(f"/me/webhooks/{webhook_id}/ping", headers=me)
    assert pinged.status_code == 202
    uuid.UUID(pinged.json()["delivery_id"])
    listing = await client.get(f"/me/webhooks/{webhook_id}/deliveries", headers=me)
    assert listing.status_code == 200
    assert listing.headers["cache-control"] == "private, no-store"
    assert isinstance(listing.json()["items"], list)

    deleted = await client.delete(f"/me/webhooks/{webhook_id}", headers=me)
    assert deleted.status_code == 204
    assert (await client.get("/me/webhooks", headers=me)).json() == {"items": []}
    assert await _count(db, webhook_deliveries) == 0
    again = await client.delete(f"/me/webhooks/{webhook_id}", headers=me)
    assert again.status_code == 404


@pytest.mark.parametrize(
    "cross_site", [{"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}]
)
async def test_cross_site_changes_are_403(
    client: httpx.AsyncClient, db: AsyncConnection, cross_site: dict[str, str]
) -> None:
    me = await signed_in(db)
    webhook_id = (await create(client, me)).json()["id"]
    refused = [
        await create(client, {**me, **cross_site}),
        await client.post(f"/me/webhooks/{webhook_id}/ping", headers={**me, **cross_site}),
        await client.delete(f"/me/webhooks/{webhook_id}", headers={**me, **cross_site}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert await _count(db, webhooks) == 1
    assert await _count(db, webhook_deliveries) == 0


async def test_a_disabled_person_can_neither_list_nor_ping_nor_read_deliveries(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """Disabled straight in the table (which also revokes their session and token)."""
    ada = await make_person(db)
    me = as_(await make_session(db, ada))
    webhook_id = (await create(client, me)).json()["id"]
    _, secret = await create_token(
        db,
        person_id=ada.id,
        name="bot",
        scopes=(TokenScope.READ, TokenScope.DECIDE),
        lifetime=timedelta(days=1),
    )
    await db.execute(text("UPDATE persons SET disabled_at = now() WHERE id = :id"), {"id": ada.id})
    for headers in (me, {"authorization": f"Bearer {secret}"}):
        for method, path in [
            ("GET", "/me/webhooks"),
            ("POST", f"/me/webhooks/{webhook_id}/ping"),
            ("GET", f"/me/webhooks/{webhook_id}/deliveries"),
            ("DELETE", f"/me/webhooks/{webhook_id}"),
        ]:
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
    assert await _count(db, webhooks) == 1
    assert await _count(db, webhook_deliveries) == 0
