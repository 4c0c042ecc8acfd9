"""The `loomworks` command: serve the API (with optional demo data), administer it, and the
inbox in a terminal. This module only parses; what a command does is in commands.py (the
database stack, imported when a command runs) or terminal.py (an HTTP client)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any, NoReturn

from loomworks import terminal
from loomworks.core.states import Designation

DESCRIPTION = (
    "Serve the Loomworks API (with optional demo data), administer it, and work the inbox "
    "from a terminal."
)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        raise SystemExit(2)
    try:
        if callable(args.run):  # a terminal command
            args.run(None, args)
            return
        from loomworks import commands

        try:
            commands.run(args.run, args)
        except commands.CommandError as exc:
            _fail(str(exc))
    except terminal.TerminalError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the embedded server has already been stopped on the way out.
        raise SystemExit(130) from None


def _fail(message: str) -> NoReturn:
    print(f"loomworks: error: {message}", file=sys.stderr)
    raise SystemExit(1)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line (`loomworks serve: error: ...`), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="loomworks", description=DESCRIPTION)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    for add in (_serve_commands, _person_commands, _engagement_commands, _member_commands):
        add(commands)
    _credential_commands(commands)
    terminal.add_commands(commands)
    return parser


def _serve_commands(commands: Any) -> None:
    """serve and db upgrade."""
    serve = commands.add_parser("serve", help="run the API (embedded PostgreSQL unless configured)")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=None, help="port, 1-65535 (default 8000)")
    serve.add_argument("--demo", action="store_true", help="seed demo data and print a curl line")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    serve.set_defaults(run="_serve")

    db = commands.add_parser("db", help="database maintenance").add_subparsers(metavar="ACTION")
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(
        run="_db_upgrade"
    )


def _person_commands(commands: Any) -> None:
    """person add, list, set-password, disable, enable, remove."""
    person = commands.add_parser("person", help="people").add_subparsers(metavar="ACTION")
    person_add = person.add_parser("add", help="add a person who can sign in")
    person_add.add_argument("email")
    person_add.add_argument("--name", required=True, help="display name")
    _password_options(person_add)
    person_add.set_defaults(run="_person_add")
    person.add_parser("list", help="list everyone who can sign in").set_defaults(run="_person_list")
    person_password = person.add_parser(
        "set-password", help="set a person's password and sign them out everywhere"
    )
    person_password.add_argument("email")
    _password_options(person_password)
    person_password.set_defaults(run="_person_set_password")
    for action, help_text in (
        ("disable", "stop a person signing in and end their sessions (history stays)"),
        ("enable", "let a disabled person sign in again"),
    ):
        toggle = person.add_parser(action, help=help_text)
        toggle.add_argument("email")
        toggle.set_defaults(run="_person_toggle", disabled=action == "disable")
    person_remove = person.add_parser(
        "remove", help="delete a person with no decisions on record (else: disable)"
    )
    person_remove.add_argument("email")
    _force_option(person_remove)
    person_remove.set_defaults(run="_person_remove")


def _engagement_commands(commands: Any) -> None:
    """engagement add, list, rename, remove."""
    engagement = commands.add_parser("engagement", help="engagements").add_subparsers(
        metavar="ACTION"
    )
    engagement_add = engagement.add_parser("add", help="create an engagement")
    engagement_add.add_argument("name")
    engagement_add.set_defaults(run="_engagement_add")
    engagement.add_parser("list", help="list engagements and their member counts").set_defaults(
        run="_engagement_list"
    )
    engagement_rename = engagement.add_parser("rename", help="give an engagement a new name")
    engagement_rename.add_argument("engagement", help="engagement name or id")
    engagement_rename.add_argument("name", help="the new name")
    engagement_rename.set_defaults(run="_engagement_rename")
    engagement_remove = engagement.add_parser(
        "remove", help="delete an engagement with all its jobs, items and history"
    )
    engagement_remove.add_argument("engagement", help="engagement name or id")
    engagement_remove.add_argument(
        "--yes", action="store_true", help="delete it (without: say what it holds, delete nothing)"
    )
    engagement_remove.set_defaults(run="_engagement_remove")


def _member_commands(commands: Any) -> None:
    """member add, list, remove, set-designation."""
    member = commands.add_parser("member", help="memberships").add_subparsers(metavar="ACTION")
    member_add = member.add_parser("add", help="make a person a member of an engagement")
    member_add.add_argument("email")
    member_add.add_argument("engagement", help="engagement name or id")
    member_add.add_argument("--designation", required=True, choices=[str(d) for d in Designation])
    member_add.set_defaults(run="_member_add")
    member_list = member.add_parser("list", help="list an engagement's members")
    member_list.add_argument("engagement", help="engagement name or id")
    member_list.set_defaults(run="_member_list")
    member_remove = member.add_parser("remove", help="remove a person from an engagement")
    member_remove.add_argument("email")
    member_remove.add_argument("engagement", help="engagement name or id")
    _force_option(member_remove)
    member_remove.set_defaults(run="_member_remove")
    member_designation = member.add_parser("set-designation", help="change a member's designation")
    member_designation.add_argument("email")
    member_designation.add_argument("engagement", help="engagement name or id")
    member_designation.add_argument("designation", choices=[str(d) for d in Designation])
    _force_option(member_designation)
    member_designation.set_defaults(run="_member_set_designation")


def _credential_commands(commands: Any) -> None:
    """session issue and revoke; token list and revoke."""
    session = commands.add_parser("session", help="sessions").add_subparsers(metavar="ACTION")
    session_issue = session.add_parser("issue", help="issue a session token for a person")
    session_issue.add_argument("email")
    session_issue.set_defaults(run="_session_issue")
    session_revoke = session.add_parser("revoke", help="sign a person out of every session")
    session_revoke.add_argument("email")
    session_revoke.set_defaults(run="_session_revoke")
    token = commands.add_parser("token", help="personal access tokens").add_subparsers(
        metavar="ACTION"
    )
    token_list = token.add_parser("list", help="list a person's live tokens")
    token_list.add_argument("email")
    token_list.set_defaults(run="_token_list")
    token_revoke = token.add_parser("revoke", help="revoke a person's tokens (all, or --id)")
    token_revoke.add_argument("email")
    token_revoke.add_argument("--id", type=uuid.UUID, help="only this token")
    token_revoke.set_defaults(run="_token_revoke")


def _password_options(command: argparse.ArgumentParser) -> None:
    given = command.add_mutually_exclusive_group()
    given.add_argument("--password", help="the password (prompted for when omitted)")
    given.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def _force_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--force", action="store_true", help="also when it leaves an engagement without an owner"
    )


def _port(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1-65535)")
    return int(value)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


if __name__ == "__main__":
    main()
