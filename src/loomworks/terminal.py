"""The inbox in a terminal: `loomworks login | inbox | decide | watch | logout`, a client of the
HTTP API like any other. `login` trades the password for a read+decide personal access token
once and keeps only the token, in a 0600 file under the user's config directory."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

if TYPE_CHECKING:  # imported where used: `loomworks --help` should not pay for it
    import httpx

CREDENTIALS_FILE = "credentials.json"
# The last inbox listed: `decide` still finds an item a colleague has just decided, so the
# service can say who was quicker (409) instead of "no such item".
INBOX_FILE = "inbox.json"
TOKEN_DAYS = 90
TIMEOUT_SECONDS = 10.0
STREAM_READ_SECONDS = 60.0  # the event stream sends a heartbeat every 15 s at the most
RECONNECT_SECONDS = 3.0


class TerminalError(Exception):
    """Printed as one line; the command exits 1."""


@dataclass(frozen=True)
class Credentials:
    url: str
    email: str
    token_id: str
    token: str


def config_dir() -> Path:
    override = os.environ.get("LOOMWORKS_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("loomworks"))


def add_commands(commands: Any) -> None:
    """The terminal's subcommands, on the `loomworks` parser's subparsers."""
    login = commands.add_parser("login", help="sign in to a Loomworks service from this terminal")
    login.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    login.add_argument("--email", required=True)
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    login.set_defaults(run=_login)
    inbox = commands.add_parser("inbox", help="what waits for my decision")
    inbox.add_argument("--json", action="store_true", help="the items as JSON")
    inbox.set_defaults(run=_inbox)
    decide = commands.add_parser("decide", help="decide an item of my inbox")
    decide.add_argument("item_id")
    decide.add_argument("decision", help="confirm, reject, accept, retry, ...")
    decide.add_argument("--note", help="a note kept with the decision")
    decide.set_defaults(run=_decide)
    watch = commands.add_parser("watch", help="print each new needs_you item as it arrives")
    watch.add_argument("--json", action="store_true", help="one JSON object per line")
    watch.set_defaults(run=_watch)
    commands.add_parser("logout", help="revoke this terminal's token").set_defaults(run=_logout)


# ---------------------------------------------------------------- credentials


def _save(credentials: Credentials) -> Path:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CREDENTIALS_FILE
    # Created 0600 from the start: the token is never readable by others, even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(asdict(credentials), file)
    path.chmod(0o600)
    return path


def _load() -> Credentials:
    path = config_dir() / CREDENTIALS_FILE
    try:
        return Credentials(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise TerminalError(
            "not signed in; run `loomworks login --url URL --email EMAIL`"
        ) from None
    except (ValueError, TypeError) as exc:
        raise TerminalError(f"{path} is damaged ({exc}); run `loomworks login` again") from None


# ---------------------------------------------------------------- HTTP


def _client(base_url: str, token: str | None = None) -> httpx.Client:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT_SECONDS)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request; a refusal or an unreachable service becomes one line (TerminalError)."""
    import httpx

    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise TerminalError(f"cannot reach {client.base_url}: {exc}") from None
    _refused(response)
    return response


def _refused(response: httpx.Response) -> None:
    if response.status_code == 401 and "authorization" in response.request.headers:
        raise TerminalError("the token is no longer valid; run `loomworks login` again")
    if response.status_code >= 400:
        raise TerminalError(f"{response.status_code}: {_detail(response)}")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, list):  # a 422's field errors
        detail = "; ".join(str(entry.get("msg", entry)) for entry in detail)
    return str(detail or response.reason_phrase)


def _needs_you(client: httpx.Client) -> Iterator[dict[str, Any]]:
    """Every item of my needs_you, newest first, page by page."""
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = _call(client, "GET", "/me/dashboard/needs_you", params=params).json()
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


# ---------------------------------------------------------------- commands


def _login(settings: object, args: argparse.Namespace) -> None:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    with _client(args.url) as client:
        _call(client, "POST", "/auth/login", json={"email": args.email, "password": password})
        name = f"loomworks CLI on {socket.gethostname()}"[:100]
        body = {"name": name, "scopes": ["read", "decide"], "expires_in_days": TOKEN_DAYS}
        made = _call(client, "POST", "/me/tokens", json=body).json()
        # The file keeps the token only: the browser-style session ends here.
        _call(client, "POST", "/auth/logout")
    path = _save(Credentials(str(client.base_url), args.email, made["id"], made["token"]))
    print(f"Signed in as {args.email}; token kept in {path} (expires {made['expires_at']}).")


def _logout(settings: object, args: argparse.Namespace) -> None:
    credentials = _load()
    with _client(credentials.url, credentials.token) as client:
        response = client.delete(f"/me/tokens/{credentials.token_id}")
    if response.status_code not in (204, 401, 404):  # already gone is fine
        raise TerminalError(f"{response.status_code}: {_detail(response)}")
    for name in (CREDENTIALS_FILE, INBOX_FILE):
        (config_dir() / name).unlink(missing_ok=True)
    print(f"Signed out; the token for {credentials.email} is revoked.")


def _remember(items: list[dict[str, Any]]) -> None:
    path = config_dir() / INBOX_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({item["item_id"]: item for item in items}, file)


def _remembered(item_id: str) -> dict[str, Any] | None:
    try:
        item: dict[str, Any] | None = json.loads((config_dir() / INBOX_FILE).read_text()).get(
            item_id
        )
    except (OSError, ValueError):
        return None
    return item


def _inbox(settings: object, args: argparse.Namespace) -> None:
    credentials = _load()
    with _client(credentials.url, credentials.token) as client:
        items = list(_needs_you(client))
    _remember(items)
    if args.json:
        print(json.dumps(items, indent=2))
    elif not items:
        print("Nothing waits for you.")
    else:
        for item in items:
            print(_line(item, with_decisions=True))


def _decide(settings: object, args: argparse.Namespace) -> None:
    credentials = _load()
    with _client(credentials.url, credentials.token) as client:
        waiting = (i for i in _needs_you(client) if i["item_id"] == args.item_id)
        item = next(waiting, None) or _remembered(args.item_id)
        if item is None:
            raise TerminalError(f"no item {args.item_id} waits for you (see `loomworks inbox`)")
        action = next((a for a in item["actions"] if a["decision"] == args.decision), None)
        if action is None:
            offered = ", ".join(a["decision"] for a in item["actions"])
            raise TerminalError(f"{item['item_label']} takes {offered}, not {args.decision!r}")
        body = {"note": args.note} if args.note else None
        decided = _call(client, "POST", action["url"], json=body).json()
    print(
        f"{action['label']}: {item['item_label']} ({item['engagement_name']}) -> {decided['state']}"
    )


def _watch(settings: object, args: argparse.Namespace) -> None:
    """Print each item that enters my needs_you, pushed by the event stream; reconnects on its
    own until interrupted."""
    import httpx

    credentials = _load()
    with _client(credentials.url, credentials.token) as client:
        seen = {item["item_id"] for item in _needs_you(client)}
        announced = False
        while True:
            try:
                for _ in _needs_you_changes(client):
                    if not announced:
                        print(f"Watching {credentials.url} (Ctrl-C to stop).", file=sys.stderr)
                        sys.stderr.flush()
                        announced = True
                    for item in _needs_you(client):
                        if item["item_id"] not in seen:
                            seen.add(item["item_id"])
                            print(json.dumps(item) if args.json else _line(item), flush=True)
            except (httpx.HTTPError, TerminalError) as exc:
                if isinstance(exc, TerminalError) and "no longer valid" in str(exc):
                    raise
            time.sleep(RECONNECT_SECONDS)


def _needs_you_changes(client: httpx.Client) -> Iterator[None]:
    """Yields once per event saying needs_you may have changed (and once on connecting)."""
    import httpx

    timeout = httpx.Timeout(TIMEOUT_SECONDS, read=STREAM_READ_SECONDS)
    with client.stream("GET", "/me/dashboard/events", timeout=timeout) as r:
        if r.status_code != 200:
            r.read()
            _refused(r)
        yield
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event == "zone_changed":
                data = json.loads(line.partition(":")[2] or "{}")
                if data.get("zone") in (None, "needs_you"):
                    yield
            elif not line:
                event = ""


def _line(item: dict[str, Any], *, with_decisions: bool = False) -> str:
    when = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00")).astimezone(UTC)
    parts = [
        when.strftime("%Y-%m-%d %H:%M"),
        item["engagement_name"],
        item["item_kind"],
        item["item_label"],
        item["item_id"],
    ]
    if with_decisions:
        parts.append("[" + "|".join(a["decision"] for a in item["actions"]) + "]")
    return "  ".join(parts)
