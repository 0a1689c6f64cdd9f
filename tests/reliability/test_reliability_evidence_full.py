"""The hub's evidence store runs out of space (a small tmpfs mounted over its directory): uploads beyond capacity
are answered 507 Insufficient Storage (problem+json, Retry-After), which the edge treats as transient; the hub stays
up and says so (/healthz `evidence_store.full`, status degraded; the `cityops_evidence_store_full` metric); events
keep being stored; once space is freed the held pictures go up, and every event is stored once with its picture.

The device is the edge agent's real Outbox, EventSender, HTTP uploader and MqttLink (`bench.edge_writer`). An event
with a picture waits on the device until its picture is on the hub (protocol: they arrive together); events without
one are not held up by it. Mounting needs root: under CI=true a failure to mount fails the test, elsewhere it skips.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.edge_writer import EdgeDevice
from bench.harness import IngestStack, mount_small_disk, unmount, wait_until

DISK = "8m"
FILLER_BYTES = 7 * 1024 * 1024  # leaves room for about two pictures
PICTURE_BYTES = 400 * 1024
PICTURES = 8


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "evidence"
    why = mount_small_disk(where, DISK)
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield where
    finally:
        unmount(where)


def _picture(path: Path, i: int) -> Path:
    # Distinct bytes per picture (the store is content-addressed); a JPEG header is all the hub checks.
    path.write_bytes(b"\xff\xd8\xff\xe0" + hashlib.sha256(str(i).encode()).digest() * (PICTURE_BYTES // 32))
    return path


def test_evidence_store_full_answers_507_and_recovers(one_stack: IngestStack, small_disk: Path, tmp_path: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * FILLER_BYTES)
    (spec,) = one_stack.provision("evfull", 1, register=True)
    assert spec.password is not None
    one_stack.start_worker("evfull", 0, share_group="evfull")
    hub = one_stack.start_api("evfull-api", CITYOPS_EVIDENCE_DIR=str(small_disk))
    device = EdgeDevice(
        tmp_path / "outbox.sqlite", spec.device_id, spec.password, one_stack.broker.host, one_stack.broker.port, hub
    ).start()
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    try:
        for i in range(PICTURES):
            device.record(_picture(pictures / f"{i}.jpg", i))
            device.record()  # and one without a picture
        wait_until("an upload refused", lambda: device.sender.upload_failures > 0, 60)

        # Straight from HTTP: what the device was told.
        sha = hashlib.sha256(b"\xff\xd8\xff\xe0" + b"x" * PICTURE_BYTES).hexdigest()
        answer = httpx.put(
            f"{hub}/api/v1/evidence/{'0' * 8}-0000-4000-8000-{'0' * 12}",
            content=b"\xff\xd8\xff\xe0" + b"x" * PICTURE_BYTES,
            headers={"Content-Type": "image/jpeg", "X-Content-SHA256": sha},
            auth=(spec.device_id, spec.password),
            timeout=10,
        )
        assert answer.status_code == 507, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/insufficient-storage") and answer.headers["retry-after"]
        health = httpx.get(f"{hub}/healthz", timeout=10).json()
        assert health["status"] == "degraded" and health["evidence_store"]["full"] is True, health
        assert health["evidence_store"]["refused_writes"] >= 2
        assert "cityops_evidence_store_full 1.0" in httpx.get(f"{hub}/metrics", timeout=10).text

        # Events keep being stored: those recorded without a picture get through while pictures are refused.
        later = [device.record()[0] for _ in range(5)]
        sql = "SELECT count(*) FROM events WHERE device_id = %s AND seq = ANY(%s)"
        wait_until(
            "events stored while the store is full",
            lambda: one_stack.query(sql, (spec.device_id, later))[0][0] == len(later),
            60,
        )
        assert device.outbox.depth() > 0, "pictures refused, yet nothing held on the device"

        filler.unlink()  # an operator frees space
        wait_until("the outbox drained once space is back", device.drained, 120)
        last = device.outbox.last_seq()
    finally:
        device.close()
    figures = one_stack.tally({spec.device_id: last})
    assert figures == {"events_sent": last, "stored": last, "lost": 0, "duplicated": 0}
    missing = one_stack.query(
        "SELECT e.seq FROM events e LEFT JOIN evidence v ON v.event_id = e.event_id"
        " WHERE e.device_id = %s AND e.payload ? 'evidence' AND v.event_id IS NULL",
        (spec.device_id,),
    )
    assert missing == [], f"events stored without their picture: {missing}"
    assert len(list(small_disk.glob("*/*"))) == PICTURES
    health = httpx.get(f"{hub}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["evidence_store"]["full"] is False, health
    one_stack.stop_hubs()
