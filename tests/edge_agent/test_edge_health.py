from __future__ import annotations

from pathlib import Path

from edge_testkit import FakeLink

from cityops.contract.messages import HealthSnapshot
from cityops.contract.topics import Topic
from edge_agent.capture.reader import CameraStatus
from edge_agent.health import HealthReporter, LatencyWindow, ProcessStats, build_health, gpu_temp_c


def test_latency_window_median_is_bounded() -> None:
    window = LatencyWindow(size=3)
    assert window.p50() is None
    for ms in (100.0, 1.0, 2.0, 3.0):
        window.add(ms)
    assert window.p50() == 2.0  # 100 fell out of the window


def test_process_stats_read_proc() -> None:
    stats = ProcessStats()
    sum(i * i for i in range(200_000))  # burn a little CPU
    cpu = stats.cpu_pct()
    assert cpu is not None and cpu >= 0
    assert stats.mem_mb() > 10


def test_gpu_temperature_from_a_thermal_zone(tmp_path: Path) -> None:
    zone = tmp_path / "thermal_zone1"
    zone.mkdir()
    (zone / "type").write_text("GPU-therm\n")
    (zone / "temp").write_text("58500\n")
    assert gpu_temp_c(tmp_path) == 58.5
    assert gpu_temp_c(tmp_path / "none") is None


def test_snapshot_follows_the_protocol_and_is_published_qos0() -> None:
    link = FakeLink()

    def build() -> HealthSnapshot:
        return build_health(
            device_id="edge-test-01",
            uptime_s=12.34,
            agent_version="0.1.0",
            config_version=4,
            cameras=[CameraStatus("cam-1", "ok", 2.0, 3), CameraStatus("cam-2", "error", 0.0, 0, "cannot open")],
            inference_ms_p50=9.5,
            outbox_depth=7,
            process=ProcessStats(),
            models=[{"name": "yolox_nano", "sha256": "695e"}],
        )

    HealthReporter(link, build, interval_s=30).report_once()
    ((suffix, payload, qos, retain),) = link.published
    assert (suffix, qos, retain) == (Topic.HEALTH, 0, False)
    snapshot = HealthSnapshot.model_validate_json(payload)
    assert snapshot.schema_ == "cityops.health/1" and snapshot.outbox_depth == 7 and snapshot.config_version == 4
    assert [(c.camera_id, c.status, c.dropped_frames) for c in snapshot.cameras] == [
        ("cam-1", "ok", 3),
        ("cam-2", "error", 0),
    ]
    assert snapshot.cameras[1].model_extra == {"detail": "cannot open"}
    assert snapshot.mem_mb > 0 and snapshot.uptime_s == 12.3
