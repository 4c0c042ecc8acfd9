"""What the `loomworks` commands do once parsed (cli.py): serve the API and administer the
database. Imported only when a command runs, so `loomworks --help` stays fast."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.core.states import Designation
from loomworks.db.engagements import (
    add_member,
    all_engagements,
    create_engagement_once,
    engagement_contents,
    engagements_left_without_owner,
    find_engagements,
    members_of,
    remove_engagement,
    remove_member,
    rename_engagement,
    set_designation,
)
from loomworks.db.people import (
    Person,
    PersonDisabled,
    all_persons,
    count_live_sessions,
    create_person,
    decisions_by,
    issue_session,
    person_by_email,
    remove_person,
    revoke_sessions_of,
    set_disabled,
    set_password,
)
from loomworks.db.tokens import count_live_tokens, revoke_token, revoke_tokens_of, tokens_of
from loomworks.db.webhooks import count_webhooks
from loomworks.platform.embedded import database_url_or_embedded
from loomworks.platform.engine import TOOL_TIMEOUTS, create_engine
from loomworks.platform.faults import describe, is_unavailable
from loomworks.platform.migrate import upgrade_to_head
from loomworks.platform.settings import Settings, first_error
from loomworks.platform.urls import BadDatabaseURL

MIN_PASSWORD_LENGTH = 12


class CommandError(Exception):
    """A user mistake: printed as one line, exit code 1."""


def run(name: str, args: argparse.Namespace) -> None:
    """Run the command `name` (a function of this module) with the service's settings."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise CommandError(f"invalid setting {first_error(exc)}") from None
    globals()[name](settings, args)


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> None:
    _with_database(settings)
    print("database is at the newest schema")


Work = Callable[[AsyncConnection], Awaitable[None]]


def _migrate_and_run(
    url: str, work: Work | None = None, *, connect_timeout: float = TOOL_TIMEOUTS.connect
) -> None:
    """Migrate `url` to head, then run `work` in one transaction that commits if it succeeds."""

    async def run() -> None:
        # Connecting is bounded like the service's; migrations and commands take their time.
        timeouts = TOOL_TIMEOUTS._replace(connect=connect_timeout)
        engine = create_engine(url, pool_size=1, timeouts=timeouts)
        try:
            await upgrade_to_head(engine)
            if work is not None:
                async with engine.begin() as conn:
                    await work(conn)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except BadDatabaseURL as exc:
        raise CommandError(str(exc)) from None
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        where = make_url(url).render_as_string(hide_password=True)
        raise CommandError(f"cannot reach the database at {where}: {describe(exc)}") from None


def _with_database(settings: Settings, work: Work | None = None) -> None:
    """_migrate_and_run on the configured database, or the embedded one while it runs."""
    with database_url_or_embedded(settings) as url:
        _migrate_and_run(url, work, connect_timeout=settings.db_connect_timeout_seconds)


async def _person_or_fail(conn: AsyncConnection, email: str) -> Person:
    person = await person_by_email(conn, email)
    if person is None:
        raise CommandError(f"no person with email {email!r}")
    return person


def base_url(host: str, port: int) -> str:
    """Where a client on this machine reaches the server: a wildcard bind address is
    reached on loopback, and an IPv6 address goes in brackets."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 (a name for it, not a bind)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _curl_line(
    settings: Settings, token: str, host: str | None = None, port: int | None = None
) -> str:
    base = base_url(host or settings.host, port or settings.port)
    return f"curl -b 'loomworks_session={token}' {base}/me/dashboard/active"


def _person_add(settings: Settings, args: argparse.Namespace) -> None:
    email = args.email.strip()
    if "@" not in email or len(email) > 320:
        raise CommandError(f"{email!r} is not an email address")
    password = _new_password(args, email)

    async def work(conn: AsyncConnection) -> None:
        person = await create_person(conn, email=email, display_name=args.name, password=password)
        if person is None:
            raise CommandError(f"a person with email {email.lower()!r} already exists")
        print(f"added person {person.email} ({person.id})")

    _with_database(settings, work)


def _new_password(args: argparse.Namespace, email: str) -> str:
    """From --password, --password-stdin or the terminal (twice); never echoed."""
    if args.password is not None:
        password: str = args.password
    elif args.password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    elif not sys.stdin.isatty():
        # getpass would fall back to reading stdin with a warning; say what to do instead.
        raise CommandError("no terminal to read a password from: use --password-stdin")
    else:
        password = getpass.getpass(f"Password for {email}: ")
        if getpass.getpass("Same password again: ") != password:
            raise CommandError("the passwords do not match")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CommandError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _person_list(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        rows = [(p.email, p.display_name, str(p.id)) for p in await all_persons(conn)]
        _print_rows(rows, empty="no people yet (add one with: loomworks person add)")

    _with_database(settings, work)


def _person_set_password(settings: Settings, args: argparse.Namespace) -> None:
    password = _new_password(args, args.email)

    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        await set_password(conn, person_id=person.id, password=password)
        # Whoever knew the old password may hold a session; a new password ends them all.
        ended = await revoke_sessions_of(conn, person_id=person.id)
        print(f"password of {person.email} changed; {_sessions(ended)} signed out")

    _with_database(settings, work)


def _engagement_name(given: str) -> str:
    name = given.strip()
    if not name:
        raise CommandError("the engagement name must not be empty")
    return name


def _engagement_add(settings: Settings, args: argparse.Namespace) -> None:
    name = _engagement_name(args.name)

    async def work(conn: AsyncConnection) -> None:
        engagement_id = await create_engagement_once(conn, name=name)
        if engagement_id is None:
            raise CommandError(f"an engagement named {name!r} already exists")
        print(f"added engagement {name!r} ({engagement_id})")

    _with_database(settings, work)


def _engagement_list(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        rows = await all_engagements(conn)
        _print_rows(
            [(e.name, str(e.id), _count(e.members, "member")) for e in rows],
            empty="no engagements yet (add one with: loomworks engagement add)",
        )

    _with_database(settings, work)


def _member_list(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        engagement_id = await _engagement_id(conn, args.engagement)
        members = await members_of(conn, engagement_id=engagement_id)
        _print_rows(
            [(m.email, m.display_name, m.designation) for m in members],
            empty=f"{args.engagement!r} has no members",
        )

    _with_database(settings, work)


def _member_remove(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        engagement_id = await _engagement_id(conn, args.engagement)
        await _keep_an_owner(conn, person, args, engagement_id=engagement_id)
        if not await remove_member(conn, person_id=person.id, engagement_id=engagement_id):
            raise CommandError(f"{person.email} is not a member of {args.engagement!r}")
        print(f"{person.email} is no longer a member of {args.engagement!r}")

    _with_database(settings, work)


def _member_set_designation(settings: Settings, args: argparse.Namespace) -> None:
    _designate(settings, args, set_designation, refused="{email} is not a member of {name!r}")


def _print_rows(rows: Sequence[tuple[str, ...]], *, empty: str) -> None:
    """Columns separated by two spaces, padded to line up; `empty` when there are none."""
    if not rows:
        print(empty)
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _sessions(count: int) -> str:
    return _count(count, "session")


def _member_add(settings: Settings, args: argparse.Namespace) -> None:
    _designate(settings, args, add_member, refused="{email} is already a member of {name!r}")


def _designate(
    settings: Settings,
    args: argparse.Namespace,
    change: Callable[..., Awaitable[bool]],
    *,
    refused: str,
) -> None:
    """Give args.email the designation args.designation in args.engagement by `change`
    (add_member or set_designation); `refused` says why when it changes nothing."""

    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        engagement_id = await _engagement_id(conn, args.engagement)
        if change is set_designation and args.designation != Designation.OWNER:
            await _keep_an_owner(conn, person, args, engagement_id=engagement_id)
        changed = await change(
            conn,
            person_id=person.id,
            engagement_id=engagement_id,
            designation=Designation(args.designation),
        )
        if not changed:
            raise CommandError(refused.format(email=person.email, name=args.engagement))
        print(f"{person.email} is now {args.designation} of {args.engagement!r}")

    _with_database(settings, work)


async def _engagement_id(conn: AsyncConnection, name_or_id: str) -> uuid.UUID:
    matches = await find_engagements(conn, name_or_id)
    if not matches:
        raise CommandError(f"no engagement named {name_or_id!r}")
    if len(matches) > 1:
        raise CommandError(f"{len(matches)} engagements are named {name_or_id!r}; give the id")
    return matches[0]


async def _keep_an_owner(
    conn: AsyncConnection,
    person: Person,
    args: argparse.Namespace,
    *,
    engagement_id: uuid.UUID | None = None,
) -> None:
    """Refuse (unless --force) to leave an engagement without an owner."""
    orphaned = await engagements_left_without_owner(
        conn, person_id=person.id, engagement_id=engagement_id
    )
    if orphaned and not args.force:
        names = ", ".join(repr(name) for name in orphaned)
        raise CommandError(
            f"{person.email} is the only owner of {names}; make someone else owner first, "
            "or add --force"
        )


def _person_toggle(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        if not args.disabled:
            await set_disabled(conn, person_id=person.id, disabled=False)
            # Their webhooks stay off (see db/people.py): they turn each back on with a ping.
            off = await count_webhooks(conn, person_id=person.id, active=False)
            stay, them = ("stays", "it") if off == 1 else ("stay", "them")
            note = f"; {_count(off, 'webhook')} {stay} off until they ping {them}" if off else ""
            print(f"{person.email} may sign in again{note}")
            return
        # Counted first: the trigger on persons.disabled_at ends all of them (db/people.py).
        ended = await count_live_sessions(conn, person_id=person.id)
        revoked = await count_live_tokens(conn, person_id=person.id)
        switched = await count_webhooks(conn, person_id=person.id, active=True)
        await set_disabled(conn, person_id=person.id, disabled=True)
        print(
            f"{person.email} is disabled; {_sessions(ended)} signed out, "
            f"{_count(revoked, 'token')} revoked, {_count(switched, 'webhook')} switched off"
        )

    _with_database(settings, work)


def _person_remove(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        decided = await decisions_by(conn, person_id=person.id)
        if decided:
            raise CommandError(
                f"{person.email} has {_count(decided, 'decision')} on record; "
                f"disable them instead (loomworks person disable {person.email})"
            )
        await _keep_an_owner(conn, person, args)
        ended = await revoke_sessions_of(conn, person_id=person.id)
        await remove_person(conn, person_id=person.id)  # their tokens and webhooks go with them
        print(f"{person.email} removed; {_sessions(ended)} signed out")

    _with_database(settings, work)


def _engagement_rename(settings: Settings, args: argparse.Namespace) -> None:
    name = _engagement_name(args.name)

    async def work(conn: AsyncConnection) -> None:
        engagement_id = await _engagement_id(conn, args.engagement)
        if not await rename_engagement(conn, engagement_id=engagement_id, name=name):
            raise CommandError(f"an engagement named {name!r} already exists")
        print(f"{args.engagement!r} is now {name!r} ({engagement_id})")

    _with_database(settings, work)


def _engagement_remove(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        engagement_id = await _engagement_id(conn, args.engagement)
        held = await engagement_contents(conn, engagement_id=engagement_id)
        contents = (
            f"{_count(held.members, 'member')}, {_count(held.jobs, 'job')}, "
            f"{_count(held.items, 'item')} and {_count(held.decisions, 'decision')} on record"
        )
        if not args.yes:  # deleting history cannot be undone: say what goes, then ask for --yes
            raise CommandError(
                f"engagement {args.engagement!r} holds {contents}; nothing removed: "
                f"run again with --yes to delete it with all of them"
            )
        await remove_engagement(conn, engagement_id=engagement_id)
        print(f"engagement {args.engagement!r} ({engagement_id}) removed with {contents}")

    _with_database(settings, work)


async def _new_session(
    conn: AsyncConnection, settings: Settings, person_id: uuid.UUID, email: str
) -> str:
    """A session token for the person; a disabled person gets none (db/people.py), and the
    line says how to enable them."""
    try:
        return await issue_session(conn, person_id=person_id, lifetime=settings.session_lifetime)
    except PersonDisabled:
        enable = f"loomworks person enable {email}"
        raise CommandError(f"{email} is disabled: `{enable}` first") from None


def _session_issue(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        token = await _new_session(conn, settings, person.id, person.email)
        print(token)
        print(_curl_line(settings, token))

    _with_database(settings, work)


def _session_revoke(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        ended = await revoke_sessions_of(conn, person_id=person.id)
        print(f"{person.email}: {_sessions(ended)} signed out")

    _with_database(settings, work)


def _token_list(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        tokens = await tokens_of(conn, person_id=person.id)
        rows: list[tuple[str, ...]] = [
            (
                str(t.id),
                t.name,
                "+".join(t.scopes),
                f"expires {t.expires_at:%Y-%m-%d}",
                f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used",
            )
            for t in tokens
        ]
        _print_rows(rows, empty=f"{person.email} has no live tokens")

    _with_database(settings, work)


def _token_revoke(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        person = await _person_or_fail(conn, args.email)
        if args.id is None:
            ended = await revoke_tokens_of(conn, person_id=person.id)
        elif await revoke_token(conn, person_id=person.id, token_id=args.id):
            ended = 1
        else:
            raise CommandError(f"{person.email} has no live token {args.id}")
        print(f"{person.email}: {_count(ended, 'token')} revoked")

    _with_database(settings, work)


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from loomworks.app import BackgroundWork, create_app
    from loomworks.demo.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
    from loomworks.demo.simulator import run_simulator
    from loomworks.workers import run_workers, server_options

    host = args.host or settings.host
    port = args.port or settings.port

    async def seed(conn: AsyncConnection) -> None:
        portfolio = await seed_demo(conn)
        token = await _new_session(conn, settings, portfolio.operator.id, DEMO_EMAIL)
        state = "seeded" if portfolio.created else "already present"
        print(f"Demo data {state}. Open {base_url(host, port)}/ in a browser and sign in as")
        print(f"{DEMO_EMAIL} / {DEMO_PASSWORD}, or:")
        print(_curl_line(settings, token, host, port), flush=True)

    def simulate(engine: AsyncEngine) -> Awaitable[None]:
        return run_simulator(engine, tick_seconds=settings.demo_tick_seconds)

    # The demo's jobs move while the server runs; the app only sees a background coroutine.
    background: list[BackgroundWork] = [simulate] if args.demo else []
    with database_url_or_embedded(settings) as url:
        _migrate_and_run(
            url, seed if args.demo else None, connect_timeout=settings.db_connect_timeout_seconds
        )
        if args.workers > 1:
            run_workers(
                settings,
                url=url,
                host=host,
                port=port,
                workers=args.workers,
                background=background,
            )
            return
        app = create_app(settings, database_url=url, background=background)
        uvicorn.Server(uvicorn.Config(app, **server_options(settings, host, port))).run()
