"""Live dashboard events: the process's one LISTEN connection, fanned out to the open
`/me/dashboard/events` streams of the people who may see each change (docs/live.md).

The database notifies `<engagement> <item kind> <version>` when a zone's counters move
(db/counters.py) and `<person>` when someone's memberships change. The hub turns a batch of
the first into one `ZoneChanged` per (engagement, zone) and offers it to the subscribers who
see that engagement in that zone; the second refreshes what that person's subscribers see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.core.access import admits
from loomworks.core.kinds import SOURCE_OF
from loomworks.core.states import Zone
from loomworks.core.zones import audience_of
from loomworks.db.counters import MEMBERSHIP_CHANNEL, NOTIFY_CHANNEL
from loomworks.db.events import NO_CHANGES, VisibleChange, valid_session_hashes, visible_changes
from loomworks.platform import metrics
from loomworks.platform.shutdown import Shutdown

log = logging.getLogger(__name__)

# Reconnecting the listener: first after this long, doubling up to the cap.
BACKOFF_START_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 5.0
# Beats come this much faster than the heartbeat setting, so that a keep-alive, once queued
# and written, is never later than promised.
HEARTBEAT_MARGIN = 0.9
# The listening connection's application_name, as pg_stat_activity shows it.
LISTENER_NAME = "loomworks-events"


@dataclass(frozen=True, slots=True)
class ZoneChanged:
    """What a stream sends: this engagement's items in this zone changed, as of `version`."""

    zone: Zone
    engagement_id: uuid.UUID
    version: int


@dataclass(frozen=True, slots=True)
class Ended:
    """The stream's last message: why it ends."""

    reason: str


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A heartbeat: the stream sends a comment."""


KEEP_ALIVE = KeepAlive()
Message = ZoneChanged | KeepAlive | Ended


@dataclass(frozen=True, slots=True)
class Visibility:
    """The engagements a person belongs to, and the (engagement, zone) pairs they see there:
    a zone's audience (core/zones, core/access) says which designations see it."""

    members: frozenset[uuid.UUID]
    seen: frozenset[tuple[uuid.UUID, Zone]]

    def sees(self, zone: Zone, engagement_id: uuid.UUID) -> bool:
        return (engagement_id, zone) in self.seen

    def pairs(self) -> set[tuple[uuid.UUID, Zone]]:
        return set(self.seen)

    @classmethod
    def of(cls, rows: Iterable[VisibleChange]) -> Visibility:
        rows = list(rows)
        return cls(
            members=frozenset(row.engagement_id for row in rows),
            seen=frozenset(
                (row.engagement_id, zone)
                for row in rows
                for zone in Zone
                if admits(audience_of(zone), row.designation)
            ),
        )


NOTHING = Visibility(frozenset(), frozenset())


class Subscriber:
    """One open stream: whose it is, what it may see, and its bounded queue of messages."""

    def __init__(
        self, *, person_id: uuid.UUID, token_hash: str, position: int, queue_size: int
    ) -> None:
        self.person_id = person_id
        self.token_hash = token_hash
        # The newest version this stream has been given (or resumed from): where a catch-up
        # after a listener reconnect starts. Membership events carry it as their id.
        self.position = position
        self.queue: asyncio.Queue[Message] = asyncio.Queue(queue_size)
        # None until its first visibility query answers: events meanwhile wait in `early`.
        self.visibility: Visibility | None = None
        self.early: list[ZoneChanged] = []
        # A resume's events, sent before the queue's: as many as the person has
        # (engagement, zone) pairs, so they do not count against the queue's bound.
        self.backlog: list[ZoneChanged] = []
        self.ended = False
        # Set by the response while a write to the client is under way (loop time), and the
        # way to abandon that write: a client that takes nothing for a heartbeat is stalled.
        self.sending_since: float | None = None
        self.deadline: asyncio.Timeout | None = None

    def offer(self, event: ZoneChanged) -> None:
        """Queue the event if this stream sees it; a stream whose queue is full is ended
        rather than allowed to hold up the others."""
        if self.ended:
            return
        if self.visibility is None:
            if len(self.early) >= self.queue.maxsize:
                self.end("The stream fell too far behind; reconnect with Last-Event-ID.")
            else:
                self.early.append(event)
            return
        if not self.visibility.sees(event.zone, event.engagement_id):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.end("The stream fell too far behind; reconnect with Last-Event-ID.")
            return
        self.position = max(self.position, event.version)

    def keep_alive(self) -> None:
        if self.ended:
            return
        try:
            self.queue.put_nowait(KEEP_ALIVE)
        except asyncio.QueueFull:
            self.end("The stream fell too far behind; reconnect with Last-Event-ID.")

    def abandon(self) -> None:
        """Stop waiting on a stalled client: the write under way gives up at once."""
        self.end("The client stopped reading.")
        if self.deadline is not None:
            with contextlib.suppress(RuntimeError):  # the response has already finished
                self.deadline.reschedule(asyncio.get_running_loop().time())

    def end(self, reason: str) -> None:
        """Drop what is still queued (the client will reconnect and resume) and say why."""
        if self.ended:
            return
        self.ended = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(Ended(reason))


class EventHub:
    """The process's listener and its subscribers. `start()` in the app's lifespan; it keeps
    one dedicated connection (outside the pool) LISTENing, reconnecting with backoff."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        heartbeat_seconds: float,
        queue_size: int,
        shutdown: Shutdown,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._shutdown = shutdown
        # With read replicas: returns once the replicas in use show what the primary has
        # committed, so a client that re-reads on an event reads the change (docs/live.md).
        self._settle = settle
        self._held: list[dict[tuple[uuid.UUID, Zone], int]] = []
        self._releasing = False
        self._heartbeat = heartbeat_seconds
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._by_engagement: defaultdict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        self._by_person: defaultdict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        # Subscribers whose first visibility query has not answered: they get every event.
        self._loading: set[Subscriber] = set()
        self._pending: list[tuple[uuid.UUID, Zone, int]] = []
        self._flush_scheduled = False
        self._refreshing: set[uuid.UUID] = set()
        self._stale: set[uuid.UUID] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()
        self.shutting_down = False
        # The newest version this process has seen notified: a new stream's position.
        self.high_water = 0

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="events-listener"),
            asyncio.create_task(self._beat(), name="events-heartbeat"),
            asyncio.create_task(self._watch_for_shutdown(), name="events-shutdown"),
        ]

    async def close(self) -> None:
        """End every stream and stop listening."""
        for subscriber in list(self._subscribers):
            subscriber.end("The server is shutting down; reconnect with Last-Event-ID.")
        for task in (*self._tasks, *self._background):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)

    @property
    def subscribers(self) -> frozenset[Subscriber]:
        """The open streams of this process."""
        return frozenset(self._subscribers)

    # --- subscribers ---------------------------------------------------------------------

    async def subscribe(
        self, *, person_id: uuid.UUID, token_hash: str, after: int | None
    ) -> Subscriber:
        """Register a stream, then load what its person sees and, when resuming, one event
        per (engagement, zone) they see that changed after `after`. Registering first means
        nothing committed meanwhile is missed: it is either in the query or queued."""
        subscriber = Subscriber(
            person_id=person_id,
            token_hash=token_hash,
            position=self.high_water if after is None else after,
            queue_size=self._queue_size,
        )
        self._subscribers.add(subscriber)
        metrics.EVENT_STREAMS.inc()
        self._by_person[person_id].add(subscriber)
        self._loading.add(subscriber)
        try:
            async with self._engine.connect() as conn:
                rows = await visible_changes(
                    conn, person_ids=[person_id], after=NO_CHANGES if after is None else after
                )
        except BaseException:
            self.unsubscribe(subscriber)
            raise
        self._loading.discard(subscriber)
        self._see(subscriber, Visibility.of(rows), announce=False)
        for row in rows:
            if row.zone is not None and row.version is not None:
                subscriber.backlog.append(ZoneChanged(row.zone, row.engagement_id, row.version))
                subscriber.position = max(subscriber.position, row.version)
        early, subscriber.early = subscriber.early, []
        for event in early:
            subscriber.offer(event)
        if self.shutting_down:
            subscriber.end("The server is shutting down; reconnect with Last-Event-ID.")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscriber.ended = True
        if subscriber in self._subscribers:
            metrics.EVENT_STREAMS.dec()
        self._subscribers.discard(subscriber)
        self._loading.discard(subscriber)
        self._forget(self._by_person, subscriber.person_id, subscriber)
        for engagement_id in subscriber.visibility.members if subscriber.visibility else ():
            self._forget(self._by_engagement, engagement_id, subscriber)

    @staticmethod
    def _forget(
        index: defaultdict[uuid.UUID, set[Subscriber]], key: uuid.UUID, subscriber: Subscriber
    ) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del index[key]

    def _see(self, subscriber: Subscriber, visibility: Visibility, *, announce: bool) -> None:
        """Give the subscriber what it sees now; with `announce`, tell it about each
        (engagement, zone) that appeared or disappeared (its items came or went)."""
        if subscriber.ended:
            return
        before = subscriber.visibility or NOTHING
        for engagement_id in before.members - visibility.members:
            self._forget(self._by_engagement, engagement_id, subscriber)
        for engagement_id in visibility.members - before.members:
            self._by_engagement[engagement_id].add(subscriber)
        subscriber.visibility = visibility
        if announce:
            # Not a change of any counter: it carries the stream's position as its id, so a
            # resume from it misses nothing.
            for engagement_id, zone in sorted(before.pairs() ^ visibility.pairs(), key=str):
                try:
                    subscriber.queue.put_nowait(
                        ZoneChanged(zone, engagement_id, subscriber.position)
                    )
                except asyncio.QueueFull:
                    subscriber.end("The stream fell too far behind; reconnect with Last-Event-ID.")
                    return

    # --- notifications -------------------------------------------------------------------

    def _on_change(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            engagement_text, kind, version_text = payload.split(" ")
            change = (uuid.UUID(engagement_text), SOURCE_OF[kind].zone, int(version_text))
        except (ValueError, KeyError):
            log.warning("ignoring a malformed dashboard notification: %r", payload[:200])
            return
        self._pending.append(change)
        if not self._flush_scheduled:
            # asyncpg schedules one callback per notification it has read, in order; the
            # flush runs after those already read, so one commit's several kinds of one
            # zone become one event.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        newest: dict[tuple[uuid.UUID, Zone], int] = {}
        for engagement_id, zone, version in self._pending:
            key = (engagement_id, zone)
            newest[key] = max(version, newest.get(key, 0))
        self._pending = []
        if self._settle is None:
            self.dispatch(newest)
            return
        self._held.append(newest)
        if not self._releasing:
            self._releasing = True
            self._spawn(self._release())

    async def _release(self) -> None:
        """Dispatch the held changes once the replicas have replayed them; what arrives
        meanwhile waits for the next round, so a burst costs one settle, not one each."""
        assert self._settle is not None
        try:
            while self._held:
                batches, self._held = self._held, []
                try:
                    await self._settle()
                except Exception:  # late is better than never: the primary has them
                    log.warning("could not wait for the replicas; sending events", exc_info=True)
                for newest in batches:
                    self.dispatch(newest)
        finally:
            self._releasing = False

    def dispatch(self, newest: Mapping[tuple[uuid.UUID, Zone], int]) -> None:
        """Offer each (engagement, zone)'s newest version to the streams that see it."""
        for (engagement_id, zone), version in sorted(newest.items(), key=lambda kv: kv[1]):
            self.high_water = max(self.high_water, version)
            event = ZoneChanged(zone, engagement_id, version)
            for subscriber in list(self._by_engagement.get(engagement_id, ())):
                subscriber.offer(event)
                if subscriber.ended:  # too slow: it costs the others nothing from now on
                    self.unsubscribe(subscriber)
            for subscriber in list(self._loading):
                subscriber.offer(event)

    def _on_membership(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            person_id = uuid.UUID(payload)
        except ValueError:
            return
        if person_id not in self._by_person:
            return
        if person_id in self._refreshing:
            # The refresh under way may have read before this change: read again after it.
            self._stale.add(person_id)
            return
        self._refreshing.add(person_id)
        self._spawn(self._refresh(person_id))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refresh(self, person_id: uuid.UUID) -> None:
        """Re-read what a person sees after their memberships changed (again, while more
        changes arrive during the read)."""
        try:
            while True:
                self._stale.discard(person_id)
                async with self._engine.connect() as conn:
                    rows = await visible_changes(conn, person_ids=[person_id], after=NO_CHANGES)
                visibility = Visibility.of(rows)
                for subscriber in list(self._by_person.get(person_id, ())):
                    self._see(subscriber, visibility, announce=True)
                if person_id not in self._stale:
                    return
        except Exception:
            log.warning("could not refresh memberships; ending the person's streams", exc_info=True)
            for subscriber in list(self._by_person.get(person_id, ())):
                subscriber.end("Your memberships changed; reconnect to see them.")
        finally:
            self._refreshing.discard(person_id)
            self._stale.discard(person_id)

    # --- the listening connection ----------------------------------------------------------

    async def _listen(self) -> None:
        """Keep one connection LISTENing; after every (re)connect, catch the streams up on
        what they missed while nobody listened."""
        delay = BACKOFF_START_SECONDS
        connect_args, connect_kwargs = self._engine.dialect.create_connect_args(self._engine.url)
        while True:
            try:
                connection: asyncpg.Connection = await asyncpg.connect(
                    *connect_args,
                    **connect_kwargs,
                    timeout=max(self._heartbeat, 1.0),
                    server_settings={"application_name": LISTENER_NAME},
                )
            except Exception as exc:  # whatever it is, the listener must keep trying
                log.warning("event listener cannot connect (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP_SECONDS)
                continue
            try:
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(NOTIFY_CHANNEL, self._on_change)
                await connection.add_listener(MEMBERSHIP_CHANNEL, self._on_membership)
                self.listening.set()
                delay = BACKOFF_START_SECONDS
                if self._subscribers:
                    await self._catch_up()
                await self._watch(connection, lost)
            except Exception as exc:
                log.warning("event listener lost its connection (%r); reconnecting", exc)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await connection.close()
                if not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(delay)

    async def _watch(self, connection: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when the connection is gone: closed under us, or not answering a ping
        within a heartbeat (a network that drops packets closes nothing)."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat):
                    await lost.wait()
                    return
            async with asyncio.timeout(self._heartbeat):
                await connection.execute("SELECT 1")

    async def _catch_up(self) -> None:
        """After a gap in listening, send each stream what changed after its position (the
        same query as a resume), and refresh what each person sees. If that fails too, end
        the streams: their clients reconnect with Last-Event-ID and resume exactly."""
        subscribers = [s for s in self._subscribers if s.visibility is not None and not s.ended]
        if not subscribers:
            return
        # Live events may raise positions while the query runs: what was missed is what
        # changed after the positions held when listening resumed.
        positions = {subscriber: subscriber.position for subscriber in subscribers}
        try:
            async with self._engine.connect() as conn:
                rows = await visible_changes(
                    conn,
                    person_ids={s.person_id for s in subscribers},
                    after=min(positions.values()),
                )
        except Exception:
            log.warning("event catch-up failed; ending the streams", exc_info=True)
            for subscriber in subscribers:
                subscriber.end("Events were interrupted; reconnect with Last-Event-ID.")
            return
        by_person: defaultdict[uuid.UUID, list[VisibleChange]] = defaultdict(list)
        for row in rows:
            by_person[row.person_id].append(row)
        for subscriber in subscribers:
            person_rows = by_person.get(subscriber.person_id, [])
            position = positions[subscriber]
            self._see(subscriber, Visibility.of(person_rows), announce=True)
            for row in person_rows:
                if row.zone is not None and row.version is not None and row.version > position:
                    subscriber.offer(ZoneChanged(row.zone, row.engagement_id, row.version))

    # --- heartbeats, stalls, sessions, shutdown ------------------------------------------

    async def _beat(self) -> None:
        """At a fixed rate a little faster than the heartbeat: a keep-alive to every stream,
        abandon the streams stalled in a write since the last beat, and end those whose
        session was signed out or has expired (one query for all of them)."""
        loop = asyncio.get_running_loop()
        interval = self._heartbeat * HEARTBEAT_MARGIN
        next_beat = loop.time() + interval
        while True:
            await asyncio.sleep(max(next_beat - loop.time(), 0))
            next_beat += interval
            try:
                now = loop.time()
                for subscriber in list(self._subscribers):
                    since = subscriber.sending_since
                    if since is not None and now - since >= self._heartbeat:
                        subscriber.abandon()
                        self.unsubscribe(subscriber)
                    else:
                        subscriber.keep_alive()
                await self._check_sessions()
            except Exception:  # one bad beat must not stop the heartbeats
                log.exception("event heartbeat failed")

    async def _check_sessions(self) -> None:
        hashes = {s.token_hash for s in self._subscribers if not s.ended}
        if not hashes:
            return
        try:
            async with self._engine.connect() as conn:
                valid = await valid_session_hashes(conn, hashes)
        except Exception:
            # The database is away: sessions cannot be checked (and nothing is notified).
            log.warning("could not check stream sessions", exc_info=True)
            return
        for subscriber in list(self._subscribers):
            if subscriber.token_hash not in valid:
                subscriber.end("The session was signed out or has expired.")

    async def _watch_for_shutdown(self) -> None:
        """End every stream as soon as the server starts shutting down: uvicorn's graceful
        shutdown waits for open responses, and these never finish by themselves (the
        lifespan's close() covers servers whose exit cannot be seen)."""
        await self._shutdown.started.wait()
        self.shutting_down = True
        for subscriber in list(self._subscribers):
            subscriber.end("The server is shutting down; reconnect with Last-Event-ID.")
