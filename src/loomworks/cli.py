"""The `loomworks` command: serve the API (with optional demo data) and administer it."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn

from loomworks.core.states import Designation

# Imported where used: `loomworks --help` and a mistyped command answer without loading the
# database stack (SQLAlchemy, asyncpg, pydantic, alembic), and each command loads what it needs.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from loomworks.db.people import Person
    from loomworks.platform.settings import Settings

MIN_PASSWORD_LENGTH = 12


class CommandError(Exception):
    """A user mistake: printed as one line, exit code 1."""


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        raise SystemExit(2)
    from pydantic import ValidationError

    from loomworks.platform.settings import Settings, first_error

    try:
        settings = Settings()
    except ValidationError as exc:
        _fail(f"invalid setting {first_error(exc)}")
    try:
        args.run(settings, args)
    except CommandError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the embedded server has already been stopped on the way out.
        raise SystemExit(130) from None


def _fail(message: str) -> NoReturn:
    print(f"loomworks: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loomworks", description=__doc__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API (embedded PostgreSQL unless configured)")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--demo", action="store_true", help="seed demo data and print a curl line")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(metavar="ACTION")
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(
        run=_db_upgrade
    )

    person = commands.add_parser("person", help="people").add_subparsers(metavar="ACTION")
    person_add = person.add_parser("add", help="add a person who can sign in")
    person_add.add_argument("email")
    person_add.add_argument("--name", required=True, help="display name")
    _password_options(person_add)
    person_add.set_defaults(run=_person_add)
    person.add_parser("list", help="list everyone who can sign in").set_defaults(run=_person_list)
    person_password = person.add_parser(
        "set-password", help="set a person's password and sign them out everywhere"
    )
    person_password.add_argument("email")
    _password_options(person_password)
    person_password.set_defaults(run=_person_set_password)

    engagement = commands.add_parser("engagement", help="engagements").add_subparsers(
        metavar="ACTION"
    )
    engagement_add = engagement.add_parser("add", help="create an engagement")
    engagement_add.add_argument("name")
    engagement_add.set_defaults(run=_engagement_add)
    engagement.add_parser("list", help="list engagements and their member counts").set_defaults(
        run=_engagement_list
    )

    member = commands.add_parser("member", help="memberships").add_subparsers(metavar="ACTION")
    member_add = member.add_parser("add", help="make a person a member of an engagement")
    member_add.add_argument("email")
    member_add.add_argument("engagement", help="engagement name or id")
    member_add.add_argument("--designation", required=True, choices=[str(d) for d in Designation])
    member_add.set_defaults(run=_member_add)
    member_list = member.add_parser("list", help="list an engagement's members")
    member_list.add_argument("engagement", help="engagement name or id")
    member_list.set_defaults(run=_member_list)
    member_remove = member.add_parser("remove", help="remove a person from an engagement")
    member_remove.add_argument("email")
    member_remove.add_argument("engagement", help="engagement name or id")
    member_remove.set_defaults(run=_member_remove)
    member_designation = member.add_parser("set-designation", help="change a member's designation")
    member_designation.add_argument("email")
    member_designation.add_argument("engagement", help="engagement name or id")
    member_designation.add_argument("designation", choices=[str(d) for d in Designation])
    member_designation.set_defaults(run=_member_set_designation)

    session = commands.add_parser("session", help="sessions").add_subparsers(metavar="ACTION")
    session_issue = session.add_parser("issue", help="issue a session token for a person")
    session_issue.add_argument("email")
    session_issue.set_defaults(run=_session_issue)
    session_revoke = session.add_parser("revoke", help="sign a person out of every session")
    session_revoke.add_argument("email")
    session_revoke.set_defaults(run=_session_revoke)
    return parser


def _password_options(command: argparse.ArgumentParser) -> None:
    given = command.add_mutually_exclusive_group()
    given.add_argument("--password", help="the password (prompted for when omitted)")
    given.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> None:
    _with_database(settings)
    print("database is at the newest schema")


Work = Callable[["AsyncConnection"], Awaitable[None]]


def _migrate_and_run(url: str, work: Work | None = None, *, connect_timeout: float | None) -> None:
    """Migrate `url` to head, then run `work` in one transaction that commits if it succeeds."""
    import asyncio

    from sqlalchemy import make_url

    from loomworks.platform.engine import TOOL_TIMEOUTS, create_engine
    from loomworks.platform.faults import describe, is_unavailable
    from loomworks.platform.migrate import upgrade_to_head
    from loomworks.platform.urls import BadDatabaseURL

    async def run() -> None:
        # Connecting is bounded like the service's; migrations and commands take their time.
        timeouts = TOOL_TIMEOUTS._replace(connect=connect_timeout or TOOL_TIMEOUTS.connect)
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
    from loomworks.platform.embedded import database_url_or_embedded

    with database_url_or_embedded(settings) as url:
        _migrate_and_run(url, work, connect_timeout=settings.db_connect_timeout_seconds)


async def _person_or_fail(conn: AsyncConnection, email: str) -> Person:
    from loomworks.db.people import person_by_email

    person = await person_by_email(conn, email)
    if person is None:
        raise CommandError(f"no person with email {email!r}")
    return person


def _curl_line(
    settings: Settings, token: str, host: str | None = None, port: int | None = None
) -> str:
    base = f"http://{host or settings.host}:{port or settings.port}"
    return f"curl -b 'loomworks_session={token}' {base}/me/dashboard/active"


def _person_add(settings: Settings, args: argparse.Namespace) -> None:
    email = args.email.strip()
    if "@" not in email or len(email) > 320:
        raise CommandError(f"{email!r} is not an email address")
    password = _new_password(args, email)

    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.people import create_person

        person = await create_person(conn, email=email, display_name=args.name, password=password)
        if person is None:
            raise CommandError(f"a person with email {email.lower()!r} already exists")
        print(f"added person {person.email} ({person.id})")

    _with_database(settings, work)


def _new_password(args: argparse.Namespace, email: str) -> str:
    """From --password, --password-stdin or the terminal (twice); never echoed."""
    import getpass

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
        from loomworks.db.people import all_persons

        _print_rows([(p.email, p.display_name, str(p.id)) for p in await all_persons(conn)])

    _with_database(settings, work)


def _person_set_password(settings: Settings, args: argparse.Namespace) -> None:
    password = _new_password(args, args.email)

    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.people import revoke_sessions_of, set_password

        person = await _person_or_fail(conn, args.email)
        await set_password(conn, person_id=person.id, password=password)
        # Whoever knew the old password may hold a session; a new password ends them all.
        ended = await revoke_sessions_of(conn, person_id=person.id)
        print(f"password of {person.email} changed; {_sessions(ended)} signed out")

    _with_database(settings, work)


def _engagement_add(settings: Settings, args: argparse.Namespace) -> None:
    name = args.name.strip()
    if not name:
        raise CommandError("the engagement name must not be empty")

    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.engagements import create_engagement_once

        engagement_id = await create_engagement_once(conn, name=name)
        if engagement_id is None:
            raise CommandError(f"an engagement named {name!r} already exists")
        print(f"added engagement {name!r} ({engagement_id})")

    _with_database(settings, work)


def _engagement_list(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.engagements import all_engagements

        rows = await all_engagements(conn)
        _print_rows([(e.name, str(e.id), f"{e.members} members") for e in rows])

    _with_database(settings, work)


def _member_list(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.engagements import members_of

        engagement_id = await _engagement_id(conn, args.engagement)
        members = await members_of(conn, engagement_id=engagement_id)
        _print_rows([(m.email, m.display_name, m.designation) for m in members])

    _with_database(settings, work)


def _member_remove(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.engagements import remove_member

        person = await _person_or_fail(conn, args.email)
        engagement_id = await _engagement_id(conn, args.engagement)
        if not await remove_member(conn, person_id=person.id, engagement_id=engagement_id):
            raise CommandError(f"{person.email} is not a member of {args.engagement!r}")
        print(f"{person.email} is no longer a member of {args.engagement!r}")

    _with_database(settings, work)


def _member_set_designation(settings: Settings, args: argparse.Namespace) -> None:
    from loomworks.db.engagements import set_designation

    _designate(settings, args, set_designation, refused="{email} is not a member of {name!r}")


def _print_rows(rows: list[tuple[str, ...]]) -> None:
    """Columns separated by two spaces, padded to line up; nothing at all for no rows."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


def _member_add(settings: Settings, args: argparse.Namespace) -> None:
    from loomworks.db.engagements import add_member

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
    from loomworks.db.engagements import find_engagements

    matches = await find_engagements(conn, name_or_id)
    if not matches:
        raise CommandError(f"no engagement named {name_or_id!r}")
    if len(matches) > 1:
        raise CommandError(f"{len(matches)} engagements are named {name_or_id!r}; give the id")
    return matches[0]


def _session_issue(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.people import issue_session

        person = await _person_or_fail(conn, args.email)
        token = await issue_session(conn, person_id=person.id, lifetime=settings.session_lifetime)
        print(token)
        print(_curl_line(settings, token))

    _with_database(settings, work)


def _session_revoke(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: AsyncConnection) -> None:
        from loomworks.db.people import revoke_sessions_of

        person = await _person_or_fail(conn, args.email)
        ended = await revoke_sessions_of(conn, person_id=person.id)
        print(f"{person.email}: {_sessions(ended)} signed out")

    _with_database(settings, work)


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from loomworks.app import BackgroundWork, create_app
    from loomworks.db.people import issue_session
    from loomworks.demo.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
    from loomworks.demo.simulator import run_simulator
    from loomworks.platform.embedded import database_url_or_embedded
    from loomworks.workers import run_workers, server_options

    host = args.host or settings.host
    port = args.port or settings.port

    async def seed(conn: AsyncConnection) -> None:
        portfolio = await seed_demo(conn)
        token = await issue_session(
            conn, person_id=portfolio.operator.id, lifetime=settings.session_lifetime
        )
        state = "seeded" if portfolio.created else "already present"
        print(f"Demo data {state}. Open http://{host}:{port}/ in a browser and sign in as")
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


if __name__ == "__main__":
    main()
