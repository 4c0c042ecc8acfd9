"""What an item's detail shows before deciding: the facts of shapes, assertions and external
failures, a render's files with their inline URLs (sandboxed, never sniffed), its inline
content; and the file route's 404 rules, the same as downloads'."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.fixtures.data import (
    T0,
    as_,
    make_assertion,
    make_engagement,
    make_external,
    make_person,
    make_render,
    make_session,
    make_shape,
    sign_in,
)

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>window.pwned = 1</script></svg>'


def _facts(detail: dict[str, object]) -> dict[str, tuple[str, str]]:
    facts = detail["facts"]
    assert isinstance(facts, list)
    return {fact["key"]: (fact["label"], fact["value"]) for fact in facts}


async def test_facts_of_shapes_assertions_and_external_failures(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid, title="North wing footprint", shape_type="site_plan")
    assertion = await make_assertion(db, eid, statement="The survey covers the whole site.")
    failed = await make_external(
        db,
        eid,
        status="failed",
        completed_at=T0,
        provider="Acme Surveys",
        description="Lidar pass",
        context={"error": "The provider timed out after 30 s."},
    )
    odd = await make_external(db, eid, status="failed", completed_at=T0, context={"error": [1]})

    shape_detail = (await client.get(f"/engagements/{eid}/shapes/{shape}")).json()
    assert _facts(shape_detail) == {
        "title": ("Title", "North wing footprint"),
        "shape_type": ("Type", "Site plan"),
    }
    assert shape_detail["files"] == [] and shape_detail["inline_content"] is None
    assertion_detail = (await client.get(f"/engagements/{eid}/assertions/{assertion}")).json()
    assert _facts(assertion_detail) == {
        "statement": ("Statement", "The survey covers the whole site.")
    }
    external = (await client.get(f"/engagements/{eid}/external-productions/{failed}")).json()
    assert _facts(external) == {
        "provider": ("Provider", "Acme Surveys"),
        "description": ("Description", "Lidar pass"),
        "failure_reason": ("Why it failed", "The provider timed out after 30 s."),
    }
    # Odd metadata is left out, never shown raw.
    odd_detail = (await client.get(f"/engagements/{eid}/external-productions/{odd}")).json()
    assert set(_facts(odd_detail)) == {"provider"}


async def test_a_render_lists_its_files_with_inline_urls(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    csv = b"room,area\nHall,42\nKitchen,18\n"
    render = await make_render(
        db,
        eid,
        title="Room schedule",
        content_kind="multi_file",
        files=[("rooms.csv", "text/csv", csv), ("plan.svg", "image/svg+xml", SVG)],
    )
    detail = (await client.get(f"/engagements/{eid}/renders/{render}")).json()
    assert detail["content_kind"] == "multi_file" and detail["inline_content"] is None
    assert _facts(detail)["content_kind"] == ("Content", "Several files")
    files = {f["filename"]: f for f in detail["files"]}
    assert set(files) == {"rooms.csv", "plan.svg"}
    rooms = files["rooms.csv"]
    assert (rooms["media_type"], rooms["byte_size"]) == ("text/csv", len(csv))
    assert rooms["url"] == f"/engagements/{eid}/renders/{render}/files/{rooms['file_id']}"

    shown = await client.get(rooms["url"])
    assert shown.status_code == 200 and shown.content == csv
    assert shown.headers["content-type"].startswith("text/csv")
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in shown.headers["content-security-policy"]
    svg = await client.get(files["plan.svg"]["url"])
    assert svg.status_code == 200 and svg.content == SVG
    assert "sandbox" in svg.headers["content-security-policy"]


async def test_an_inline_render_carries_its_content(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    content = {"rooms": 12, "floors": [{"name": "Ground", "area": 310.5}]}
    render = await make_render(db, eid, inline_content=content)
    detail = (await client.get(f"/engagements/{eid}/renders/{render}")).json()
    assert detail["content_kind"] == "inline_dict"
    assert detail["inline_content"] == content and detail["files"] == []


async def test_file_urls_answer_only_members_and_only_for_their_render(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    render = await make_render(
        db, eid, content_kind="binary_blob", files=[("a.png", "image/png", b"\x89PNG")]
    )
    other = await make_render(
        db, eid, display_number=2, content_kind="binary_blob", files=[("b.txt", "text/plain", b"b")]
    )
    detail = (await client.get(f"/engagements/{eid}/renders/{render}")).json()
    (file,) = detail["files"]
    other_file = (await client.get(f"/engagements/{eid}/renders/{other}")).json()["files"][0]
    outsider = as_(await make_session(db, await make_person(db)))
    answers = [
        await client.get(file["url"], headers=outsider),
        await client.get(f"/engagements/{eid}/renders/{render}/files/{other_file['file_id']}"),
        await client.get(f"/engagements/{eid}/renders/{render}/files/{uuid.uuid4()}"),
        await client.get(f"/engagements/{eid}/renders/{uuid.uuid4()}/files/{file['file_id']}"),
    ]
    assert [a.status_code for a in answers] == [404] * 4
    assert all(a.json()["detail"] for a in answers)
    assert (await client.get(file["url"])).content == b"\x89PNG"
    anonymous = await client.get(file["url"], headers={"cookie": ""})
    assert anonymous.status_code == 401
