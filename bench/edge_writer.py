"""A device built from the edge agent's real delivery parts, without cameras: the SQLite Outbox, the EventSender
(with the HTTP evidence uploader when given a hub URL) and the MqttLink. For faults the simulated devices of
`bench.device_sim` cannot show: kill -9 of the process that writes the outbox, and an uplink outage while the
device keeps recording.

As a process (`python -m bench.edge_writer ...`) it records `--events` events at `--rate` per second, appending
"seq event_id" to `--record` once each is committed (a kill between commit and that line loses the line, never
the event), and exits 0 once the hub has acked everything. Restarted on the same outbox it goes on from the outbox's
last seq. Programs use `EdgeDevice` directly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cityops.contract.messages import Ack, format_ts, new_event_id, utc_now
from cityops.contract.topics import Topic
from edge_agent.comms.evidence_upload import HttpEvidenceUploader
from edge_agent.comms.mqtt_link import MqttLink
from edge_agent.comms.outbox import Outbox
from edge_agent.comms.sender import EventSender
from edge_agent.config import MqttUrl

REPO = Path(__file__).resolve().parents[1]


class EdgeDevice:
    """Outbox, sender and link wired as `edge_agent.app` wires them; short retransmit backoff (1..2 s) so that a
    test's replay is not waiting out the production backoff of up to 300 s."""

    def __init__(
        self,
        outbox_path: Path,
        device_id: str,
        password: str,
        host: str,
        port: int,
        hub_url: str | None = None,
    ) -> None:
        self.device_id = device_id
        self.outbox = Outbox(outbox_path, retransmit_after_s=1.0, max_backoff_s=2.0)
        self.uploader = HttpEvidenceUploader(hub_url, device_id, password) if hub_url else None
        url = MqttUrl(host=host, port=port, username=device_id, password=password, tls=False)
        self.link = MqttLink(
            device_id, url, agent_version="bench", on_message=self._on_message, on_connected=self._on_connected
        )
        self.sender = EventSender(device_id, self.outbox, self.link, self.uploader, idle_wait_s=0.2)

    def _on_message(self, suffix: Topic, payload: bytes) -> None:
        if suffix is Topic.ACK:
            self.sender.on_ack(Ack.model_validate_json(payload).acked_seq)

    def _on_connected(self) -> None:
        self.sender.on_connected()

    def start(self) -> EdgeDevice:
        self.sender.start()
        self.link.start()
        return self

    def record(self, picture: Path | None = None) -> tuple[int, str]:
        """One event (with `picture` as its evidence when given) into the outbox; returns (seq, event_id)."""
        event: dict[str, Any] = {
            "event_id": new_event_id(),
            "ts": format_ts(utc_now()),
            "kind": "illegal_parking",
            "phase": "update",
            "incident_key": f"{self.device_id}/zone-a/track-1",
            "camera_id": "cam-1",
        }
        if picture is not None:
            data = picture.read_bytes()
            event["evidence"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        seq = self.outbox.append(event, evidence_path=picture)
        self.sender.wake()
        return seq, event["event_id"]

    def drained(self) -> bool:
        return self.outbox.depth() == 0

    def close(self) -> None:
        self.link.stop()
        self.sender.stop()
        if self.uploader is not None:
            self.uploader.close()
        self.outbox.close()


def record_for(devices: list[EdgeDevice], seconds: float, rate: float) -> int:
    """Every device records `rate` events per second for `seconds`, paced; returns how many each recorded."""
    started, done = time.monotonic(), 0
    while (elapsed := time.monotonic() - started) < seconds:
        if done < rate * elapsed:
            for device in devices:
                device.record()
            done += 1
        else:
            time.sleep(0.005)
    return done


def spawn_writer(
    work: Path, device: str, password: str, host: str, port: int, events: int, rate: float
) -> subprocess.Popen[bytes]:
    """This module as a process on `work`/outbox.sqlite, recording into `work`/committed.txt, logging to
    `work`/writer.log (appended: one log across restarts)."""
    with (work / "writer.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.edge_writer", "--outbox", str(work / "outbox.sqlite"), "--device", device,
             "--password", password, "--host", host, "--port", str(port), "--events", str(events),
             "--rate", str(rate), "--record", str(work / "committed.txt")],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def committed(work: Path) -> dict[int, str]:
    """seq -> event_id the writer saw committed; a line cut by a kill is skipped (its event may still exist)."""
    path = work / "committed.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    pairs = (line.split() for line in lines)
    return {int(p[0]): p[1] for p in pairs if len(p) == 2 and len(p[1]) == 36 and p[0].isdigit()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_writer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--outbox", type=Path, required=True, help="the outbox SQLite file (kept across restarts)")
    parser.add_argument("--device", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, required=True, help="record until the outbox's last seq is this")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as the disk takes)")
    parser.add_argument("--record", type=Path, required=True, help='appends "seq event_id" per committed event')
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the last acks")
    args = parser.parse_args(argv)

    device = EdgeDevice(args.outbox, args.device, args.password, args.host, args.port).start()
    started, recorded = time.monotonic(), 0
    try:
        with args.record.open("a") as log:
            while device.outbox.last_seq() < args.events:
                if args.rate and recorded >= args.rate * (time.monotonic() - started):
                    time.sleep(0.005)  # paced: ahead of the schedule
                    continue
                seq, event_id = device.record()
                log.write(f"{seq} {event_id}\n")
                log.flush()  # into the kernel: survives the process's kill -9
                recorded += 1
        deadline = time.monotonic() + args.drain_timeout
        while not device.drained() and time.monotonic() < deadline:
            time.sleep(0.1)
        print(json.dumps({"last_seq": device.outbox.last_seq(), "depth": device.outbox.depth()}), flush=True)
        return 0 if device.drained() else 1
    finally:
        device.close()


if __name__ == "__main__":
    sys.exit(main())
