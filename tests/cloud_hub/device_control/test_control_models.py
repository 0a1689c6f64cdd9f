"""Model files: upload (raw and multipart), content addressing, registry conflicts, the download a device's
`model_update` points at (device or manager credentials), and the convenience `model-update` command."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from control_testkit import RecordingIngest, basic, bearer, provision
from fastapi.testclient import TestClient

from cityops.contract.model_release import ReleaseSignatureError, key_id, verify_release
from cloud_hub.auth.security import create_device_token
from cloud_hub.core.config import HubSettings
from cloud_hub.models_registry.files import ModelFileError, ModelFileStore, ModelTooLarge, models_dir

WEIGHTS = bytes(range(256)) * 40  # 10 KiB stands in for an ONNX file


def upload_raw(client: TestClient, settings: HubSettings, data: bytes, name: str, version: str, user: str = "tech"):
    return client.post(
        f"/api/v1/models?name={name}&version={version}",
        content=data,
        headers={"Content-Type": "application/octet-stream", **bearer(settings, user)},
    )


def test_file_store_is_content_addressed_and_bounded(tmp_path: Path) -> None:
    store = ModelFileStore(tmp_path)
    first = store.begin(max_bytes=100)
    first.write(b"a" * 60)
    stored = first.commit()
    assert stored.created and stored.bytes == 60 and stored.path == tmp_path / stored.sha256[:2] / stored.sha256
    second = store.begin(max_bytes=100)
    second.write(b"a" * 60)
    assert second.commit() == type(stored)(stored.sha256, 60, stored.path, created=False)
    big = store.begin(max_bytes=100)
    big.write(b"b" * 100)
    with pytest.raises(ModelTooLarge, match="larger than 100 bytes"):
        big.write(b"b")
    with pytest.raises(ModelFileError, match="empty"):
        store.begin(max_bytes=100).commit()
    assert list((tmp_path / ".incoming").iterdir()) == []  # nothing half-written is left behind
    with pytest.raises(ModelFileError, match="not a lowercase hex sha256"):
        store.path("../../etc/passwd")


def test_models_dir_defaults_beside_the_evidence_dir(tmp_path: Path) -> None:
    assert models_dir(HubSettings(evidence_dir=tmp_path / "evidence")) == tmp_path / "models"
    assert models_dir(HubSettings(evidence_dir=tmp_path / "evidence", models_dir=tmp_path / "m")) == tmp_path / "m"


def test_upload_register_and_download(client: TestClient, settings: HubSettings, database_url: str) -> None:
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    created = upload_raw(client, settings, WEIGHTS, "yolox_nano", "0.2.0")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["sha256"], body["bytes"], body["uploaded_by"], body["created"]) == (sha, len(WEIGHTS), "tech", True)
    assert body["url"] == f"https://hub.example/api/v1/models/{sha}/file"
    assert (models_dir(settings) / sha[:2] / sha).read_bytes() == WEIGHTS
    assert upload_raw(client, settings, WEIGHTS, "yolox_nano", "0.2.0", "adm").status_code == 200  # idempotent

    other = WEIGHTS + b"v3"
    renamed = upload_raw(client, settings, WEIGHTS, "yolox_nano", "0.3.0")
    assert renamed.status_code == 409 and "already registered as yolox_nano version 0.2.0" in renamed.json()["detail"]
    taken = upload_raw(client, settings, other, "yolox_nano", "0.2.0")
    assert taken.status_code == 409 and "pick a new version" in taken.json()["detail"]
    other_sha = hashlib.sha256(other).hexdigest()
    assert not (models_dir(settings) / other_sha[:2] / other_sha).exists()  # a refused upload leaves no file

    multipart = client.post(
        "/api/v1/models",
        data={"name": "yolox_nano", "version": "0.3.0"},
        files={"file": ("yolox_nano.onnx", other, "application/octet-stream")},
        headers=bearer(settings, "adm"),
    )
    assert multipart.status_code == 201 and multipart.json()["sha256"] == other_sha
    listed = client.get("/api/v1/models?name=yolox_nano", headers=bearer(settings, "boss")).json()
    assert [m["version"] for m in listed["data"]] == ["0.3.0", "0.2.0"] and listed["count"] == 2
    assert client.get(f"/api/v1/models/{sha}", headers=bearer(settings, "tech")).json()["version"] == "0.2.0"

    device_id, secret = provision(client, settings)
    url = f"/api/v1/models/{sha}/file"
    for headers in (basic(device_id, secret), {"Authorization": f"Bearer {create_device_token(settings, device_id)}"},
                    bearer(settings, "tech")):  # fmt: skip
        got = client.get(url, headers=headers)
        assert got.status_code == 200 and got.content == WEIGHTS and got.headers["x-content-sha256"] == sha
    assert client.get(url).status_code == 401
    assert client.get(url, headers=basic(device_id, "wrong")).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get(url, headers=bearer(settings, "off")).status_code == 403
    assert client.get(f"/api/v1/models/{'0' * 64}/file", headers=bearer(settings, "tech")).status_code == 404
    assert client.get("/api/v1/models/nope/file", headers=bearer(settings, "tech")).status_code == 422


def test_upload_refusals(client: TestClient, settings: HubSettings) -> None:
    assert upload_raw(client, settings, WEIGHTS, "m", "1", user="boss").status_code == 403
    assert upload_raw(client, settings, WEIGHTS, "m", "1", user="off").status_code == 403
    no_name = client.post("/api/v1/models?version=1", content=WEIGHTS, headers=bearer(settings, "tech"))
    assert no_name.status_code == 422 and "name" in no_name.json()["detail"]
    bad_version = upload_raw(client, settings, WEIGHTS, "m", "1 2")
    assert bad_version.status_code == 422 and "version" in bad_version.json()["detail"]
    assert upload_raw(client, settings, b"", "m", "1").status_code == 400
    too_big = upload_raw(client, settings, b"x" * (settings.model_max_bytes + 1), "m", "1")
    assert too_big.status_code == 413 and "larger than" in too_big.json()["detail"]
    no_file = client.post("/api/v1/models", data={"name": "m", "version": "1"}, files={"other": ("x", b"x")},
                          headers=bearer(settings, "tech"))  # fmt: skip
    assert no_file.status_code == 422 and "`file` part" in no_file.json()["detail"]


def test_model_update_command(
    client: TestClient, settings: HubSettings, database_url: str, ingest: RecordingIngest
) -> None:
    weights = WEIGHTS + b"update"
    sha = upload_raw(client, settings, weights, "yolox_nano", "1.0.0").json()["sha256"]
    device_id, _ = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/model-update"
    sent = client.post(url, json={"sha256": sha}, headers=bearer(settings, "tech"))
    assert sent.status_code == 202, sent.text
    ((to, cmd_id, name, args),) = ingest.commands
    assert (to, cmd_id, name) == (device_id, sent.json()["cmd_id"], "model_update")
    assert {k: args[k] for k in ("name", "version", "url", "sha256", "size")} == {
        "name": "yolox_nano", "version": "1.0.0", "url": f"https://hub.example/api/v1/models/{sha}/file",
        "sha256": sha, "size": len(weights),
    }  # fmt: skip
    # Signed with the hub's key, whose public half the signing-key route shows (and provisioning hands out).
    public = client.get("/api/v1/models/signing-key", headers=bearer(settings, "tech")).json()
    assert args["key_id"] == public["key_id"] == key_id(public["public_key"])
    assert verify_release([public["public_key"]], args["signature"], "yolox_nano", "1.0.0", sha, len(weights))
    with pytest.raises(ReleaseSignatureError):
        verify_release([public["public_key"]], args["signature"], "yolox_nano", "1.0.1", sha, len(weights))
    assert (models_dir(settings) / "model-signing.key").stat().st_mode & 0o777 == 0o600
    cmd_url = f"/api/v1/devices/{device_id}/commands/{sent.json()['cmd_id']}"
    status = client.get(cmd_url, headers=bearer(settings, "tech"))
    assert status.json()["name"] == "model_update" and status.json()["sent_by"] == "tech"

    with psycopg.connect(database_url) as conn:  # the device reported (in health) which detector it runs
        conn.execute('UPDATE devices SET models = \'[{"name": "nanodet"}]\' WHERE device_id = %s', (device_id,))
    wrong = client.post(url, json={"sha256": sha}, headers=bearer(settings, "tech"))
    assert wrong.status_code == 409 and "runs nanodet" in wrong.json()["detail"]
    assert client.post(url, json={"sha256": "0" * 64}, headers=bearer(settings, "tech")).status_code == 404
    assert client.post(url, json={"sha256": "xyz"}, headers=bearer(settings, "tech")).status_code == 422
    assert client.post(url, json={"sha256": sha}, headers=bearer(settings, "boss")).status_code == 403
    assert len(ingest.commands) == 1


def test_canary_rollout_sends_to_the_named_boxes_and_shows_where_the_release_runs(
    client: TestClient, settings: HubSettings, database_url: str, ingest: RecordingIngest
) -> None:
    weights = WEIGHTS + b"canary"
    sha = upload_raw(client, settings, weights, "yolox_nano", "1.1.0").json()["sha256"]
    canary, later = provision(client, settings)[0], provision(client, settings)[0]
    other = provision(client, settings)[0]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            'UPDATE devices SET models = \'[{"name": "nanodet", "sha256": "x"}]\' WHERE device_id = %s', (other,)
        )
        conn.execute(
            'UPDATE devices SET models = \'[{"name": "yolox_nano", "sha256": "old"}]\' WHERE device_id = ANY(%s)',
            ([canary, later],),
        )
    before = len(ingest.commands)
    sent = client.post(f"/api/v1/models/{sha}/rollout", json={"devices": [canary, other, "edge-nobody"]},
                       headers=bearer(settings, "tech"))  # fmt: skip
    assert sent.status_code == 202, sent.text
    outcome = {d["device_id"]: d for d in sent.json()["devices"]}
    assert outcome[canary]["sent"] and outcome[canary]["cmd_id"]
    assert not outcome[other]["sent"] and "runs nanodet" in outcome[other]["detail"]
    assert not outcome["edge-nobody"]["sent"] and "not registered" in outcome["edge-nobody"]["detail"]
    assert [c[0] for c in ingest.commands[before:]] == [canary], "only the canary got the update"
    with psycopg.connect(database_url) as conn:  # the canary reports the new file in its health
        conn.execute(
            "UPDATE devices SET models = jsonb_build_array(jsonb_build_object('name', 'yolox_nano', 'sha256', %s::text))"  # noqa: E501
            " WHERE device_id = %s",
            (sha, canary),
        )
    state = client.get(f"/api/v1/models/{sha}/rollout", headers=bearer(settings, "tech")).json()
    assert canary in state["running"] and later in state["other"] and other not in state["running"] + state["other"]
    assert client.post(f"/api/v1/models/{sha}/rollout", json={"devices": [later]},
                       headers=bearer(settings, "boss")).status_code == 403  # fmt: skip
    assert client.post(f"/api/v1/models/{sha}/rollout", json={"devices": []},
                       headers=bearer(settings, "tech")).status_code == 422  # fmt: skip
