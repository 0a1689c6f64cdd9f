"""The whole model chain on a tiny generated data set, so it cannot rot: train one epoch on the CPU, export FP32,
FP16 and INT8 with manifest entries, eval, load each export with the edge's detector code and detect, then publish
to the hub and roll the release out to a test device, whose command the box would accept.

Training runs in the training venv (.venv-train, `make train-venv`) as subprocesses; the rest runs here, in the
main venv, as the edge and the hub do. Under CI the training venv is required: a missing one fails, never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from tiny_dataset import CLASSES, write_dataset

from cityops.contract.model_release import ReleaseSignatureError
from cloud_hub.api.routes import auth, device_control, devices
from cloud_hub.api.routes import models as model_routes
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings
from cloud_hub.store.scratch import DEFAULT_ADMIN_URL, migrated_scratch_database
from edge_agent.config import ModelUpdatesConfig
from edge_agent.detectors.base import DetectorOptions
from edge_agent.detectors.registry import create_detector
from edge_agent.models.manifest import ModelStore, load_manifest
from edge_agent.remote.model_update import check_release, parse_args
from models.publish import PublishError, login, publish

REPO = Path(__file__).resolve().parents[2]
TRAIN_PYTHON = REPO / ".venv-train" / "bin" / "python"
IMGSZ = 96


def training_python() -> Path:
    if TRAIN_PYTHON.exists():
        return TRAIN_PYTHON
    message = f"the training venv {TRAIN_PYTHON.parent.parent} is missing: build it with `make train-venv`"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the model chain: {message}")
    pytest.skip(message)


def cityops_models(python: Path, *args: str) -> list[dict[str, Any]]:
    """Run `cityops models ...` in the training venv; the JSON lines it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    done = subprocess.run(
        [str(python), "-m", "cityops.cli", "models", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, f"cityops models {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


class RecordingIngest:
    """The hub's command sender, recording what would go to the box over MQTT."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, dict[str, Any]]] = []

    def send_command(self, device_id: str, name: str, args: dict[str, Any] | None = None) -> str:
        self.commands.append((device_id, name, args or {}))
        return str(uuid.uuid4())


class AcceptingBrokerAdmin:
    def available(self) -> bool:
        return True

    def provision_device(self, device_id: str, password: str) -> None:
        pass


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, RecordingIngest]]:
    """The hub's auth, device, control and model routes on a migrated scratch database; (client, db url, ingest)."""
    admin_url = os.environ.get("CITYOPS_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    try:
        with migrated_scratch_database(admin_url, prefix="cityops_models") as database_url:
            yield from _hub_app(database_url, tmp_path_factory.mktemp("hub-state"))
    except RuntimeError as exc:  # the server is unreachable: fail with the reason, never skip
        pytest.fail(str(exc))


def _hub_app(database_url: str, state: Path) -> Iterator[tuple[TestClient, str, RecordingIngest]]:
    settings = HubSettings(
        database_url=database_url,
        jwt_secret="test-secret-with-enough-length-000",
        evidence_dir=state / "evidence",
        public_url="https://hub.example",
    )
    app = FastAPI()
    for module in (auth, devices, device_control, model_routes):
        app.include_router(module.router)
    ingest = RecordingIngest()
    with ConnectionPool(database_url, min_size=1, max_size=4) as pool:
        with pool.connection() as conn:
            ensure_user(conn, "tech", "tech-password", "technician")
            ensure_user(conn, "boss", "boss-password", "commander")
        app.state.settings, app.state.pool = settings, pool
        app.state.broker_admin, app.state.ingest = AcceptingBrokerAdmin(), ingest
        with TestClient(app) as client:
            yield client, database_url, ingest


def test_train_export_detect_publish_and_roll_out(tmp_path: Path, hub) -> None:
    python = training_python()
    data = write_dataset(tmp_path / "data", images=24, size=IMGSZ)

    (trained,) = cityops_models(python, "train", "--data", str(data), "--base", "yolo11n.yaml", "--epochs", "1",
                                "--imgsz", str(IMGSZ), "--batch", "8", "--out", str(tmp_path / "run"))  # fmt: skip
    weights = Path(trained["weights"])
    assert weights.is_file()

    # Into a copy of the project's manifest: the new entries are added, the shipped ones are kept.
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text((REPO / "models" / "manifest.yaml").read_text())
    shipped = [m.name for m in load_manifest(manifest).models]
    out = tmp_path / "onnx"
    exported = cityops_models(python, "export", str(weights), "--formats", "fp32,fp16,int8", "--out", str(out),
                              "--manifest", str(manifest), "--name", "shapes", "--version", "0.1.0")  # fmt: skip
    assert [(e["precision"], e["name"], e["manifest"]) for e in exported] == [
        ("fp32", "shapes", "added"), ("fp16", "shapes_fp16", "added"), ("int8", "shapes_int8", "added")
    ]  # fmt: skip
    loaded = load_manifest(manifest)  # the edge's own loader accepts the file
    assert [m.name for m in loaded.models] == [*shipped, "shapes", "shapes_fp16", "shapes_int8"]
    again = cityops_models(python, "export", str(out / "shapes.onnx"), "--formats", "fp32", "--out", str(out),
                           "--manifest", str(manifest), "--name", "shapes", "--version", "0.1.0")  # fmt: skip
    assert again[0]["manifest"] == "unchanged"  # re-running an export is harmless

    (metrics,) = cityops_models(python, "eval", str(out / "shapes.onnx"), "--data", str(data), "--imgsz", str(IMGSZ))
    assert 0.0 <= metrics["map50_95"] <= metrics["map50"] <= 1.0  # one epoch learns little; the numbers exist

    # The edge: each export verified by sha256, decoded by the ultralytics layout, on a generated picture.
    picture = cv2.imread(str(next((tmp_path / "data" / "images" / "val").glob("*.png"))))
    store = ModelStore(loaded, out)
    for name in ("shapes", "shapes_fp16", "shapes_int8"):
        spec, path = store.resolve(name)
        assert spec.classes == CLASSES and spec.input.size == (IMGSZ, IMGSZ)
        detections = create_detector(spec, path, DetectorOptions(score_threshold=0.0)).detect(picture)
        assert len(detections.xyxy) > 0, f"{name}: no candidates at threshold 0; the decoder does not fit the export"
        assert set(detections.names()) <= set(CLASSES)

    # The hub: upload, canary rollout to a box that runs this detector, and the signed command it would accept.
    client, database_url, ingest = hub
    token = login(client, "tech", "tech-password")
    device = client.post("/api/v1/devices", json={"device_id": f"edge-{uuid.uuid4().hex[:8]}", "kind": "edge"},
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert device.status_code == 201, device.text
    device_id = device.json()["device_id"]
    with psycopg.connect(database_url) as conn:  # the box reported (in health) that it runs `shapes`
        conn.execute("""UPDATE devices SET models = '[{"name": "shapes", "sha256": "old"}]' WHERE device_id = %s""",
                     (device_id,))  # fmt: skip
    release = publish(client, token, out / "shapes.onnx", "shapes", "0.1.0", canary=[device_id, "edge-nobody"])
    sha = exported[0]["sha256"]
    assert release.model["sha256"] == sha and release.model["created"]
    outcome = {d["device_id"]: d for d in release.rollout["devices"]}
    assert outcome[device_id]["sent"] and not outcome["edge-nobody"]["sent"]
    assert [(d, n) for d, n, _ in ingest.commands] == [(device_id, "model_update")]
    args = parse_args(ingest.commands[0][2])
    public = client.get("/api/v1/models/signing-key", headers={"Authorization": f"Bearer {token}"}).json()
    assert check_release(args, ModelUpdatesConfig(trusted_keys=[public["public_key"]])).startswith("signed by key")
    with pytest.raises(ReleaseSignatureError):
        check_release(
            args.model_copy(update={"version": "0.2.0"}), ModelUpdatesConfig(trusted_keys=[public["public_key"]])
        )
    state = client.get(f"/api/v1/models/{sha}/rollout", headers={"Authorization": f"Bearer {token}"}).json()
    assert device_id in state["other"]  # sent, not yet reported running

    # A refusal carries the hub's reason: a commander may not publish models.
    with pytest.raises(PublishError, match="403"):
        publish(client, login(client, "boss", "boss-password"), out / "shapes_int8.onnx", "shapes_int8", "0.1.0")
