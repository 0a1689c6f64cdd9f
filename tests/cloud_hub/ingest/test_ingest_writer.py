"""BatchWriter with a real database: acks only after the commit, nothing acked while the database fails."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

import cloud_hub.ingest.writer as writer_module
from cityops.contract.messages import format_ts, new_event_id
from cloud_hub.ingest.inbound import InboundMessage
from cloud_hub.ingest.writer import BatchWriter


class RecordingLink:
    """The broker side as the writer sees it; records what was acked and published, and whether the
    database already held the device's events at that moment."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.acked: list[int] = []
        self.published: list[tuple[str, dict, int]] = []

    def ack(self, message: InboundMessage) -> None:
        self.acked.append(message.mid)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        device_id = topic.split("/")[3]
        with psycopg.connect(self.database_url) as conn:  # a separate session: sees only committed rows
            stored = conn.execute("SELECT count(*) FROM events WHERE device_id = %s", (device_id,)).fetchone()[0]
        self.published.append((topic, json.loads(payload), stored))


class FailingPool:
    """A pool whose first `failures` connections fail as an unreachable database does."""

    def __init__(self, pool: ConnectionPool, failures: int) -> None:
        self.pool = pool
        self.failures = failures

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self.failures > 0:
            self.failures -= 1
            raise psycopg.OperationalError("connection refused (simulated outage)")
        with self.pool.connection() as conn:
            yield conn


@pytest.fixture
def pool(database_url: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(database_url, min_size=1, max_size=2) as p:
        yield p


def message(device_id: str, mid: int, *seqs: int) -> InboundMessage:
    now = datetime.now(UTC)
    body = {
        "schema": "cityops.events/1",
        "device_id": device_id,
        "events": [
            {"event_id": new_event_id(), "seq": s, "ts": format_ts(now), "kind": "waterlogging", "phase": "start",
             "incident_key": f"k{s}"}
            for s in seqs
        ],
    }  # fmt: skip
    return InboundMessage(f"cityops/v1/dev/{device_id}/events", json.dumps(body).encode(), 1, mid, 1, now)


def test_acks_follow_the_commit_and_name_the_cursor(database_url: str, pool: ConnectionPool) -> None:
    device_id = f"dev-{uuid.uuid4().hex[:10]}"
    inbox: queue.Queue[InboundMessage] = queue.Queue()
    link = RecordingLink(database_url)
    writer = BatchWriter(pool, inbox, link, batch_max=100, batch_wait_s=0.05)
    for mid, seqs in ((11, (1, 2)), (12, (4,)), (13, (3,))):
        inbox.put(message(device_id, mid, *seqs))
    batch = writer.collect(threading.Event())
    assert len(batch) == 3
    assert writer.process(batch, threading.Event())
    assert link.acked == [11, 12, 13]  # in the order received
    assert link.published == [(f"cityops/v1/dev/{device_id}/ack", {"acked_seq": 4}, 4)]
    assert writer.stats()["events_stored"] == 4


def test_database_outage_retries_and_acks_nothing_until_stored(database_url: str, pool: ConnectionPool) -> None:
    device_id = f"dev-{uuid.uuid4().hex[:10]}"
    link = RecordingLink(database_url)
    writer = BatchWriter(FailingPool(pool, failures=3), queue.Queue(), link, retry_max_s=0.05)  # type: ignore[arg-type]
    batch = [writer.validate(message(device_id, 21, 1))]
    assert writer.process(batch, threading.Event())
    assert writer.stats()["db_errors"] == 3
    assert link.acked == [21] and link.published[0][1:] == ({"acked_seq": 1}, 1)
    assert writer.db_failing_since is None


def test_stop_during_outage_leaves_the_batch_unacked(database_url: str, pool: ConnectionPool) -> None:
    link = RecordingLink(database_url)
    writer = BatchWriter(FailingPool(pool, failures=10**6), queue.Queue(), link, retry_max_s=0.01)  # type: ignore[arg-type]
    stop = threading.Event()
    batch = [writer.validate(message(f"dev-{uuid.uuid4().hex[:10]}", 31, 1))]
    done: list[bool] = []
    worker = threading.Thread(target=lambda: done.append(writer.process(batch, stop)))
    worker.start()
    while writer.stats()["db_errors"] < 3:
        threading.Event().wait(0.01)
    assert writer.db_failing_since is not None
    stop.set()
    worker.join(timeout=10)
    assert done == [False]
    assert link.acked == [] and link.published == []  # the broker keeps the message and delivers it again


def test_a_poison_message_is_dead_lettered_and_the_rest_flows(
    database_url: str, pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-database error used to be retried forever, blocking every device of the writer. Now: `store_retries`
    tries, then the batch is split, the message that still fails is dead-lettered (store_failed), its device's later
    events are acked past it, and the other device's events are stored."""
    poisoned, other = f"dev-{uuid.uuid4().hex[:10]}", f"dev-{uuid.uuid4().hex[:10]}"
    link = RecordingLink(database_url)
    writer = BatchWriter(pool, queue.Queue(), link, store_retries=2, retry_max_s=0.01)
    # Event processors already run in savepoints (a raising processor is counted, the events stay stored); the
    # poison here is the storage step itself raising for one event, as a bug in it would.

    real_store = writer_module.store_batch

    def store_batch(conn, messages, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(e.event.incident_key == "k2" and e.device_id == poisoned for m in messages for e in m.events):
            raise KeyError("a bug that only the poison event reaches")
        return real_store(conn, messages, *args, **kwargs)

    monkeypatch.setattr(writer_module, "store_batch", store_batch)
    batch = [
        writer.validate(message(poisoned, 41, 1)),
        writer.validate(message(poisoned, 42, 2)),  # the poison
        writer.validate(message(other, 43, 1, 2)),
        writer.validate(message(poisoned, 44, 3)),
    ]
    assert writer.process(batch, threading.Event())
    assert sorted(link.acked) == [41, 42, 43, 44]  # every message PUBACKed: nothing redelivered forever
    acks = {topic.split("/")[3]: body["acked_seq"] for topic, body, _ in link.published}
    assert acks[other] == 2
    assert max(body["acked_seq"] for topic, body, _ in link.published if poisoned in topic) == 3, "acked past it"
    assert writer.stats()["store_failures"] == 1
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT device_id, seq FROM events WHERE device_id = ANY(%s) ORDER BY device_id, seq", ([poisoned, other],)
        ).fetchall()
        letters = conn.execute(
            "SELECT reason, detail, raw FROM dead_letters WHERE device_id = %s", (poisoned,)
        ).fetchall()
    assert sorted(stored) == sorted([(poisoned, 1), (poisoned, 3), (other, 1), (other, 2)])
    ((reason, detail, raw),) = letters
    assert reason == "store_failed" and "a bug that only the poison event reaches" in detail
    assert json.loads(bytes(raw))["events"][0]["seq"] == 2  # the raw message is kept to replay once fixed


def test_a_database_outage_is_still_retried_without_limit(database_url: str, pool: ConnectionPool) -> None:
    """Only errors that are not the database's count against store_retries: an outage longer than that loses
    nothing and dead-letters nothing."""
    device_id = f"dev-{uuid.uuid4().hex[:10]}"
    link = RecordingLink(database_url)
    writer = BatchWriter(FailingPool(pool, failures=6), queue.Queue(), link, store_retries=2, retry_max_s=0.01)  # type: ignore[arg-type]
    assert writer.process([writer.validate(message(device_id, 51, 1))], threading.Event())
    assert writer.stats()["db_errors"] == 6 and writer.stats()["store_failures"] == 0
    assert link.published[0][1:] == ({"acked_seq": 1}, 1)
