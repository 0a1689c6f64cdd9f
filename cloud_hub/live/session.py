"""One client's live stream: what it missed first (from the table), then what the relay hands out, each message once
and in position order, filtered by the user's scope.

- `hello` (no id) opens the stream: the user's role, the topics, the server time.
- A client that resumes (`Last-Event-ID`) gets the messages after that position it may see; if some of them may
  have been pruned, or there are too many, it gets `resync` instead (reload your lists) and the stream goes on from
  now. A message's SSE id is its position, so the browser resumes from exactly there.
- A client too slow to keep up does not make the hub buffer without bound: past `max_queue` messages its queue is
  dropped and the session catches up from the table, as after a reconnect.
- `ping` (no id) every 15 s of silence lets the client tell a quiet channel from a dead connection.
- `reauth` ends the stream when the access token expires (the client refreshes it and reconnects with the last
  id); the scope is reloaded every `scope_refresh_s`, so a roster change reaches an open stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import orjson
from fastapi.sse import ServerSentEvent
from prometheus_client import Counter

from cloud_hub.auth.scope import Scope
from cloud_hub.live import store
from cloud_hub.live.messages import START, LiveMessage, Position, visible
from cloud_hub.live.relay import LiveRelay, enrich

SENT = Counter("cityops_live_messages_sent_total", "Live messages sent to clients", ["topic"])
RESYNCS = Counter("cityops_live_resyncs_total", "Clients told to reload their lists", ["reason"])

MAX_REPLAY_SCAN = 20_000  # rows read from the table for one resume before resync is cheaper for everyone
RETRY_MS = 2000
PING_S = 15.0  # an idle stream says `ping` this often, so a browser can tell a quiet channel from a dead one

Connect = Callable[[], object]  # a context manager yielding a psycopg connection (pool.connection)


@dataclass(slots=True)
class Replay:
    messages: list[LiveMessage] = field(default_factory=list)
    reached: Position = START
    resync: str | None = None  # why the client must reload instead


def read_replay(
    connection: Connect, scope: Scope, topics: frozenset[str], after: Position, max_scan: int = MAX_REPLAY_SCAN
) -> Replay:
    """The messages after `after` this user may see, up to the horizon (blocking: run it in a thread)."""
    out = Replay(reached=after)
    with connection() as conn:  # type: ignore[attr-defined]
        if after < store.pruned_through(conn):
            out.resync = "messages after your last one were pruned"
            out.reached = store.head(conn)
            return out
        scanned = 0
        while True:
            batch = store.read_after(conn, out.reached, 1000)
            if not batch.messages:
                return out
            scanned += len(batch.messages)
            if scanned > max_scan:
                return Replay(resync=f"more than {max_scan} messages to catch up", reached=store.head(conn))
            now = datetime.now(UTC)
            out.messages.extend(enrich(m, now) for m in batch.messages if visible(scope, topics, m))
            out.reached = batch.messages[-1].position


def _event(message: LiveMessage) -> ServerSentEvent:
    SENT.labels(message.topic).inc()
    return ServerSentEvent(raw_data=message.envelope(), event=message.topic, id=str(message.position))


class LiveSession:
    def __init__(
        self,
        relay: LiveRelay,
        connection: Connect,
        scope: Scope,
        topics: frozenset[str],
        *,
        resume_from: Position | None,
        expires_at: datetime,
        reload_scope: Callable[[], Scope],
        max_queue: int = 2000,
        scope_refresh_s: float = 30.0,
    ) -> None:
        self.relay = relay
        self.connection = connection
        self.scope = scope
        self.topics = topics
        self.resume_from = resume_from
        self.expires_at = expires_at
        self.reload_scope = reload_scope
        self.max_queue = max_queue
        self.scope_refresh_s = scope_refresh_s
        self._queue: asyncio.Queue[LiveMessage] = asyncio.Queue()
        self._overflow = False

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> Callable[[LiveMessage], None]:
        def deliver(message: LiveMessage) -> None:  # on the relay thread
            if visible(self.scope, self.topics, message):
                loop.call_soon_threadsafe(self._offer, message)

        return deliver

    def _offer(self, message: LiveMessage) -> None:  # on the event loop
        if self._queue.qsize() >= self.max_queue:
            self._overflow = True
            return
        self._queue.put_nowait(message)

    async def _catch_up(self, after: Position) -> tuple[list[ServerSentEvent], Position]:
        replay = await anyio.to_thread.run_sync(read_replay, self.connection, self.scope, self.topics, after)
        if replay.resync is not None:
            RESYNCS.labels("pruned" if "pruned" in replay.resync else "too_many").inc()
            data = orjson.dumps({"reason": replay.resync}).decode()
            return [ServerSentEvent(raw_data=data, event="resync", id=str(replay.reached))], replay.reached
        return [_event(m) for m in replay.messages], replay.reached

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        loop = asyncio.get_running_loop()
        sub = self.relay.subscribe(self._deliver(loop))
        try:
            last = self.resume_from or self.relay.position or START
            hello = {
                "user": self.scope.username,
                "role": self.scope.role,
                "topics": sorted(self.topics),
                "server_time": datetime.now(UTC).isoformat(),
                "position": str(last),
            }
            yield ServerSentEvent(raw_data=orjson.dumps(hello).decode(), event="hello", retry=RETRY_MS)
            if self.resume_from is not None:
                sent, last = await self._catch_up(last)
                for event in sent:
                    yield event
            refreshed = loop.time()
            while True:
                left = (self.expires_at - datetime.now(UTC)).total_seconds()
                if left <= 0:
                    yield ServerSentEvent(raw_data='{"reason":"access token expired"}', event="reauth")
                    return
                if self._overflow:
                    self._overflow = False
                    while not self._queue.empty():
                        self._queue.get_nowait()
                    sent, last = await self._catch_up(last)
                    for event in sent:
                        yield event
                    continue
                try:
                    message = await asyncio.wait_for(self._queue.get(), timeout=min(left, PING_S))
                except TimeoutError:
                    message = None
                if loop.time() - refreshed >= self.scope_refresh_s:
                    self.scope = await anyio.to_thread.run_sync(self.reload_scope)
                    refreshed = loop.time()
                if message is None:
                    if left > PING_S:
                        yield ServerSentEvent(raw_data="{}", event="ping")
                    continue
                if message.position <= last:
                    continue
                yield _event(message)
                last = message.position
        finally:
            self.relay.unsubscribe(sub)
