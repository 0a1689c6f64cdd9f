from __future__ import annotations

import json
from pathlib import Path

from edge_testkit import FakeLink

from cityops.contract.topics import Topic
from edge_agent.comms.outbox import Outbox
from edge_agent.control import Controller


def make(tmp_path: Path) -> tuple[Controller, FakeLink, list[int]]:
    acks: list[int] = []
    link = FakeLink()
    return Controller(link, Outbox(tmp_path / "o.sqlite"), on_ack=acks.append), link, acks


def results(link: FakeLink) -> list[dict]:
    return [json.loads(p) for p in link.messages(Topic.CMD_RESULT)]


def test_ping_and_unknown_command(tmp_path: Path) -> None:
    ctl, link, _ = make(tmp_path)
    ctl.on_message(Topic.CMD, b'{"cmd_id": "c1", "name": "ping", "args": {}}')
    ctl.on_message(Topic.CMD, b'{"cmd_id": "c2", "name": "self_destruct"}')
    ok, unknown = results(link)
    assert ok == {"cmd_id": "c1", "ok": True, "detail": "pong"}
    assert unknown["cmd_id"] == "c2" and unknown["ok"] is False
    assert "unknown command 'self_destruct'" in unknown["detail"] and "ping" in unknown["detail"]


def test_malformed_command_is_answered_when_it_has_an_id(tmp_path: Path) -> None:
    ctl, link, _ = make(tmp_path)
    ctl.on_message(Topic.CMD, b'{"cmd_id": "c3"}')
    ctl.on_message(Topic.CMD, b"not json")
    (result,) = results(link)
    assert result["cmd_id"] == "c3" and result["ok"] is False and "name" in result["detail"]


def test_failing_handler_reports_ok_false(tmp_path: Path) -> None:
    acks: list[int] = []
    link = FakeLink()

    def boom(_cmd) -> str:
        raise RuntimeError("camera busy")

    ctl = Controller(link, Outbox(tmp_path / "o.sqlite"), on_ack=acks.append, handlers={"snapshot": boom})
    ctl.on_message(Topic.CMD, b'{"cmd_id": "c4", "name": "snapshot"}')
    assert results(link) == [{"cmd_id": "c4", "ok": False, "detail": "snapshot failed: camera busy"}]


def test_config_version_is_recorded_and_survives_restart(tmp_path: Path) -> None:
    ctl, _, _ = make(tmp_path)
    assert ctl.config_version is None
    ctl.on_message(Topic.CONFIG, b'{"version": 12, "cameras": []}')
    ctl.on_message(Topic.CONFIG, b'{"version": "twelve"}')  # refused, the applied version stays
    ctl.on_message(Topic.CONFIG, b"")  # retained message cleared
    assert ctl.config_version == 12
    assert make(tmp_path)[0].config_version == 12


def test_ack_is_forwarded_and_malformed_ack_ignored(tmp_path: Path) -> None:
    ctl, _, acks = make(tmp_path)
    ctl.on_message(Topic.ACK, b'{"acked_seq": 41}')
    ctl.on_message(Topic.ACK, b'{"acked_seq": -1}')
    ctl.on_message(Topic.ACK, b"[]")
    assert acks == [41]
