"""Read replicas: which database answers a read. A replica serves a person only once it has
replayed their last write, and only while it is up and at most LOOMWORKS_MAX_REPLICA_LAG_SECONDS
behind the primary; otherwise the primary answers (docs/scaling.md, "Read replicas")."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Boolean, ColumnClause, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.tables import UNRESOLVED_FENCE, persons
from loomworks.platform.faults import connection, describe, is_unavailable
from loomworks.platform.metrics import REPLICA_STALENESS

log = logging.getLogger(__name__)

# WAL positions as plain byte offsets, so Python compares them as integers.
CURRENT_LSN: ColumnClause[int] = literal_column(
    "(pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint", BigInteger
)
REPLAYED_LSN: ColumnClause[int] = literal_column(
    "(pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint", BigInteger
)
IN_RECOVERY: ColumnClause[bool] = literal_column("pg_is_in_recovery()", Boolean)
# Who may see what changes with memberships, in the same transaction: the person's reads
# stay on the primary until the replicas show the change (a removed member never reads a
# replica that still lists them). Each probe then resolves the fence (ReadRouter.probe).
MEMBERSHIP_FENCE_SQL = (
    "CREATE FUNCTION membership_fence() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
    f"UPDATE persons SET written_lsn = {UNRESOLVED_FENCE} "
    "WHERE id IN (NEW.person_id, OLD.person_id); RETURN NULL; END $$",
    "CREATE TRIGGER membership_fence AFTER INSERT OR UPDATE OR DELETE ON engagement_memberships "
    "FOR EACH ROW EXECUTE FUNCTION membership_fence()",
)
# How often settle() re-reads a replica that has not yet replayed what it waits for.
SETTLE_POLL_SECONDS = 0.01


@dataclass
class Replica:
    """One read replica as this process last saw it."""

    name: str  # "replica 1": the URL may hold a password, so it is never logged
    engine: AsyncEngine
    # A lower bound of how far it has replayed (it only ever grows), from the last probe.
    replayed: int = -1
    # It shows the primary as of at most this many seconds ago; None: not known.
    staleness: float | None = None
    healthy: bool = False


class ReadRouter:
    """Chooses the database for each read and keeps the replicas' positions current.

    `watch()` probes every `probe_every` seconds: the primary's WAL position first, then each
    replica's replay position. A replica's staleness is the age of the newest primary
    position it has replayed: exact to a probe interval, and unlike
    `now() - pg_last_xact_replay_timestamp()` it does not grow while the primary is idle.
    """

    def __init__(
        self,
        primary: AsyncEngine,
        replicas: Sequence[Replica],
        *,
        max_lag: float,
        probe_every: float,
        probe_timeout: float,
    ) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.max_lag = max_lag
        self.probe_every = probe_every
        self.probe_timeout = probe_timeout
        # (monotonic time, primary WAL position), oldest first, spanning a bit over max_lag.
        self._primary_positions: deque[tuple[float, int]] = deque()

    def choose(self, person_id: uuid.UUID, written_lsn: int | None) -> Replica | None:
        """A healthy replica that has replayed the person's last write, or None (the primary).
        Each person ranks the replicas by a hash of (person, replica), the same in every
        worker, and keeps to their first while it is eligible: their reads do not step back
        and forth between replicas at different points, and a replica leaving moves only
        its own readers."""
        eligible = [
            replica
            for replica in self.replicas
            if replica.healthy and replica.replayed >= (written_lsn or 0)
        ]
        if not eligible:
            return None
        return max(
            eligible, key=lambda replica: zlib.crc32(person_id.bytes + replica.name.encode())
        )

    def failed(self, replica: Replica, exc: BaseException) -> None:
        """A read on `replica` found it unavailable: skip it until a probe finds it back."""
        if replica.healthy:
            log.warning(
                "%s failed a read (%s); reading from the primary", replica.name, describe(exc)
            )
        replica.healthy = False

    async def watch(self) -> None:
        """Probe for as long as the app runs (a background task; cancelled on shutdown)."""
        while True:
            try:
                await self.probe()
            except Exception:  # a verdict nobody refreshes would be trusted forever
                log.exception("probing the replicas failed; reading from the primary")
                for replica in self.replicas:
                    replica.healthy = False
            await asyncio.sleep(self.probe_every)

    async def probe(self) -> None:
        try:
            async with asyncio.timeout(self.probe_timeout), connection(self.primary) as conn:
                # Membership changes committed since the last probe: their people read from
                # replicas again once one has replayed past where the WAL ends now.
                await conn.execute(
                    update(persons)
                    .where(persons.c.written_lsn == UNRESOLVED_FENCE)
                    .values(written_lsn=CURRENT_LSN)
                )
                await conn.commit()
                position = (await conn.execute(select(CURRENT_LSN))).scalar_one()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # Without the primary's position no staleness can be known; keep the last verdicts
            # (every request needs the primary for its session check anyway).
            return
        now = time.monotonic()
        self._primary_positions.append((now, position))
        while now - self._primary_positions[0][0] > self.max_lag + 2 * self.probe_every:
            self._primary_positions.popleft()
        await asyncio.gather(*(self._probe_replica(replica) for replica in self.replicas))

    async def _probe_replica(self, replica: Replica) -> None:
        staleness = REPLICA_STALENESS.labels(replica.name)
        if not await self._read_position(replica):
            staleness.set(math.inf)
            return
        replica.staleness = self._staleness(replica.replayed)
        staleness.set(math.inf if replica.staleness is None else replica.staleness)
        healthy = replica.staleness is not None and replica.staleness <= self.max_lag
        if healthy != replica.healthy:
            log.info(
                "%s is %s (staleness %s s)",
                replica.name,
                "in use" if healthy else "skipped",
                "unknown" if replica.staleness is None else f"{replica.staleness:.1f}",
            )
        replica.healthy = healthy

    async def _read_position(self, replica: Replica) -> bool:
        """Read how far `replica` has replayed; False (and skipped from now on) when it is
        unavailable or no longer a standby."""
        try:
            async with asyncio.timeout(self.probe_timeout), connection(replica.engine) as conn:
                in_recovery, replayed = (
                    await conn.execute(select(IN_RECOVERY, REPLAYED_LSN))
                ).one()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            if replica.healthy:
                log.warning(
                    "%s is unavailable (%s); reading from the primary", replica.name, describe(exc)
                )
            replica.healthy = False
            return False
        if not in_recovery or replayed is None:
            # Promoted (or not a standby at all): its data no longer follows this primary.
            replica.staleness, replica.healthy = None, False
            return False
        replica.replayed = max(replica.replayed, replayed)
        return True

    async def settle(self) -> None:
        """Return once every replica in use has replayed what the primary had committed when
        this was called, or has been found too far behind and is skipped (so no read will
        go to it): after this, any read sees those commits."""
        async with asyncio.timeout(self.probe_timeout), connection(self.primary) as conn:
            target = (await conn.execute(select(CURRENT_LSN))).scalar_one()
        while behind := [r for r in self.replicas if r.healthy and r.replayed < target]:
            await asyncio.sleep(SETTLE_POLL_SECONDS)
            await asyncio.gather(*(self._read_position(replica) for replica in behind))

    def _staleness(self, replayed: int) -> float | None:
        """Seconds since the primary was at a position `replayed` covers (None: longer ago
        than the positions kept, which is more than max_lag)."""
        now = time.monotonic()
        for seen_at, position in reversed(self._primary_positions):
            if position <= replayed:
                return now - seen_at
        return None

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()


async def fence_write(conn: AsyncConnection, person_id: uuid.UUID) -> None:
    """Record, after a person's write has committed, where the primary's WAL now ends: any
    replica that has replayed this far shows that write. Its own small transaction."""
    # GREATEST: of two concurrent writes, the one stamped last must not move it back.
    written = func.greatest(func.coalesce(persons.c.written_lsn, 0), CURRENT_LSN)
    await conn.execute(update(persons).where(persons.c.id == person_id).values(written_lsn=written))
    await conn.commit()
