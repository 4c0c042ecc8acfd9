"""Render downloads: bytes with their media type, zips of multi-file renders, members only."""

from __future__ import annotations

import io
import uuid
import zipfile

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.renders import CHUNK_BYTES
from loomworks.db.tables import renders
from tests.fixtures.data import make_engagement, make_person, make_render, sign_in


def content_url(engagement_id: uuid.UUID, render_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/renders/{render_id}/content"


async def test_download_anonymous_401(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    rid = await make_render(
        db, eid, content_kind="binary_blob", files=[("a.txt", "text/plain", b"A")]
    )
    response = await client.get(content_url(eid, rid))
    assert response.status_code == 401
    assert response.json()["detail"]


async def test_binary_blob_streams_bytes_media_type_and_filename(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me, designation="viewer")
    # Larger than one streaming chunk, with every byte value, to prove the slices join up.
    payload = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 7)
    rid = await make_render(
        db, eid, content_kind="binary_blob", files=[("Élévation plan.png", "image/png", payload)]
    )
    response = await client.get(content_url(eid, rid))
    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(payload))
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    tag = f"%20%28render%20{await _number(db, rid)}%20{rid.hex[:8]}%29"
    assert f"filename*=UTF-8''%C3%89l%C3%A9vation%20plan{tag}.png" in disposition
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_multi_file_is_a_zip_of_its_files(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    files = [
        ("README.txt", "text/plain", b"read me"),
        ("../../etc/data.csv", "text/csv", b"a,b\n" * 1000),
        ("README.txt", "text/plain", b"second readme"),
    ]
    rid = await make_render(db, eid, content_kind="multi_file", files=files, title="Survey pack")
    response = await client.get(content_url(eid, rid))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    name = f"Survey pack (render {await _number(db, rid)} {rid.hex[:8]}).zip"
    assert f'filename="{name}"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert {name: archive.read(name) for name in archive.namelist()} == {
        "README.txt": b"read me",
        "data.csv": b"a,b\n" * 1000,
        "README (2).txt": b"second readme",
    }


async def test_non_member_gets_404_like_a_missing_render(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await sign_in(client, db)
    owner = await make_person(db)
    secret = await make_engagement(db, "Secret", member=owner)
    rid = await make_render(
        db,
        secret,
        content_kind="binary_blob",
        files=[("s.txt", "text/plain", b"secret")],
        title="Secret title",
    )
    hidden = await client.get(content_url(secret, rid))
    missing = await client.get(content_url(secret, uuid.uuid4()))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert "Secret" not in hidden.text


async def test_render_must_belong_to_the_engagement_in_the_url(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    mine = await make_engagement(db, "Mine", member=me)
    owner = await make_person(db)
    theirs = await make_engagement(db, "Theirs", member=owner)
    rid = await make_render(
        db, theirs, content_kind="binary_blob", files=[("s", "text/plain", b"x")]
    )
    assert (await client.get(content_url(mine, rid))).status_code == 404


async def test_inline_and_unfinished_renders_have_no_download(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    inline = await make_render(db, eid, content_kind="inline_dict")
    producing = await make_render(db, eid, state="producing", content_kind="binary_blob")
    inline_response = await client.get(content_url(eid, inline))
    assert inline_response.status_code == 404
    assert "no downloadable file" in inline_response.json()["detail"]
    producing_response = await client.get(content_url(eid, producing))
    assert producing_response.status_code == 409
    assert "not been produced" in producing_response.json()["detail"]


async def test_malformed_ids_are_422(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    await sign_in(client, db)
    response = await client.get(f"/engagements/x/renders/{uuid.uuid4()}/content")
    assert response.status_code == 422


async def _number(db: AsyncConnection, render_id: uuid.UUID) -> int:
    number = (
        await db.execute(select(renders.c.display_number).where(renders.c.id == render_id))
    ).scalar_one()
    return int(number)


async def test_two_renders_of_the_same_file_download_under_different_names(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    names = set()
    for _ in range(2):
        rid = await make_render(
            db, eid, content_kind="binary_blob", files=[("deck-section.csv", "text/csv", b"a")]
        )
        disposition = (await client.get(content_url(eid, rid))).headers["content-disposition"]
        names.add(disposition.split('filename="')[1].split('"')[0])
    assert len(names) == 2
    assert all(name.startswith("deck-section (render ") and name.endswith(".csv") for name in names)
