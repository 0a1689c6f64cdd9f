"""Hub rule files through the API: validated with the loader's models (nothing written when bad), written
atomically into the directory the hub loaded, reloaded in this process at once, recorded in the change trail."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from cloud_hub.admin.rules import validate_rule_text
from cloud_hub.reports.rules import ReportRulesFile
from cloud_hub.rules.loader import load_hub_rules
from cloud_hub.telemetry.rules import load_telemetry_rules

Login = Callable[..., dict[str, str]]
BASE = "/api/v1/admin/rules"


def test_list_shows_every_rule_file(client: TestClient, admin: dict[str, str], rules_dir: Path) -> None:
    listed = client.get(BASE, headers=admin)
    assert listed.status_code == 200, listed.text
    files = {f["name"]: f for f in listed.json()["data"]}
    assert set(files) == {"severity.yaml", "sla.yaml", "merge.yaml", "routing.yaml", "telemetry.yaml", "reports.yaml"}
    sla = files["sla.yaml"]
    assert sla["exists"] and sla["error"] is None and sla["text"] == (rules_dir / "hub" / "sla.yaml").read_text()
    assert sla["content"]["kinds"]["illegal_parking"]["red"] == 15
    assert files["telemetry.yaml"]["content"]["rules"][0]["id"] == "water-level-high"
    assert client.get(f"{BASE}/nope.yaml", headers=admin).status_code == 404


def test_bad_rules_name_file_and_field_and_write_nothing(
    client: TestClient, admin: dict[str, str], rules_dir: Path
) -> None:
    path = rules_dir / "hub" / "sla.yaml"
    before = path.read_text()
    text = before.replace("illegal_parking: {red: 15", "illegal_parking: {red: -15")
    refused = client.put(f"{BASE}/sla.yaml", json={"text": text}, headers=admin)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"] == "https://cityops.dev/problems/validation" and problem["file"] == "sla.yaml"
    assert problem["errors"][0]["loc"] == ["sla.yaml", "kinds", "illegal_parking", "red"]
    assert problem["detail"].startswith("sla.yaml: kinds.illegal_parking.red: Input should be greater than 0")
    assert path.read_text() == before
    broken = client.post(
        f"{BASE}/severity.yaml/validate", json={"text": "rules: [\n  - kind: x\n  severity"}, headers=admin
    )
    assert broken.status_code == 422 and "not valid YAML at line" in broken.json()["detail"]
    typo = client.post(f"{BASE}/severity.yaml/validate", json={"text": "defualt: red\n"}, headers=admin)
    assert typo.json()["errors"][0]["loc"] == ["severity.yaml", "defualt"]
    listy = client.post(f"{BASE}/telemetry.yaml/validate", json={"text": "- a\n- b\n"}, headers=admin)
    assert "top level must be a mapping" in listy.json()["detail"]
    assert client.get(BASE, headers=admin).json()["data"][1]["error"] is None  # nothing written


def test_save_reloads_this_process_and_records_the_change(
    client: TestClient, admin: dict[str, str], login: Login, rules_dir: Path
) -> None:
    store = client.app.state.rules
    assert store.current.sla.minutes("illegal_parking", "red") == 15
    current = client.get(f"{BASE}/sla.yaml", headers=admin).json()
    text = current["text"].replace("illegal_parking: {red: 15", "illegal_parking: {red: 20")
    checked = client.post(f"{BASE}/sla.yaml/validate", json={"text": text}, headers=admin)
    assert checked.status_code == 200 and checked.json()["content"]["kinds"]["illegal_parking"]["red"] == 20
    assert store.current.sla.minutes("illegal_parking", "red") == 15  # validating saves nothing

    saved = client.put(f"{BASE}/sla.yaml", json={"text": text, "base_sha256": current["sha256"]}, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["reloaded"] is True and saved.json()["text"] == text
    assert store.current.sla.minutes("illegal_parking", "red") == 20  # in force at once
    assert load_hub_rules(rules_dir / "hub").sla.minutes("illegal_parking", "red") == 20  # what the others load
    assert not [p.name for p in (rules_dir / "hub").iterdir() if p.name.startswith(".")]  # no temp file left

    stale = client.put(f"{BASE}/sla.yaml", json={"text": text, "base_sha256": current["sha256"]}, headers=admin)
    assert stale.status_code == 409 and "changed since you loaded it" in stale.json()["detail"]
    assert client.put(f"{BASE}/sla.yaml", json={"text": text}, headers=login("commander1")).status_code == 403

    telemetry = client.get(f"{BASE}/telemetry.yaml", headers=admin).json()
    saved = client.put(f"{BASE}/telemetry.yaml", json={"text": telemetry["text"] + "\n# reviewed\n"}, headers=admin)
    assert saved.status_code == 200 and saved.json()["reloaded"] is False and "watchers" in saved.json()["note"]

    trail = client.get("/api/v1/admin/changes", params={"entity": "rules", "entity_id": "sla.yaml"}, headers=admin)
    change = trail.json()["data"][0]
    assert change["action"] == "update" and change["before"]["sha256"] == current["sha256"]
    assert "red: 20" in change["after"]["text"] and "red: 15" in change["before"]["text"]


def test_api_validation_matches_the_loader(rules_dir: Path) -> None:
    hub = rules_dir / "hub"
    loaded = load_hub_rules(hub)
    assert validate_rule_text("severity.yaml", (hub / "severity.yaml").read_text()) == loaded.severity
    assert validate_rule_text("sla.yaml", (hub / "sla.yaml").read_text()) == loaded.sla
    telemetry = validate_rule_text("telemetry.yaml", (hub / "telemetry.yaml").read_text())
    assert telemetry == load_telemetry_rules(hub / "telemetry.yaml")


def test_hotline_categories_are_edited_like_the_other_rule_files(
    client: TestClient, admin: dict[str, str], rules_dir: Path
) -> None:
    path = rules_dir / "hub" / "reports.yaml"
    in_force = ReportRulesFile(path)
    assert "illegal_parking" in in_force.current().categories
    current = client.get(f"{BASE}/reports.yaml", headers=admin).json()
    assert current["content"]["categories"]["illegal_parking"]["kind"] == "illegal_parking"

    bad = current["text"] + "  meter_fault:\n    kind: camera_fault\n"
    refused = client.put(f"{BASE}/reports.yaml", json={"text": bad}, headers=admin)
    assert refused.status_code == 422 and refused.json()["file"] == "reports.yaml"
    assert refused.json()["errors"][0]["loc"] == ["reports.yaml", "categories", "meter_fault", "kind"]
    assert path.read_text() == current["text"], "a refused edit writes nothing"

    text = current["text"] + "  shared_bikes:\n    kind: bike_pileup\n    label: 共享单车乱停放\n"
    saved = client.put(f"{BASE}/reports.yaml", json={"text": text, "base_sha256": current["sha256"]}, headers=admin)
    assert saved.status_code == 200 and saved.json()["reloaded"] is True
    assert in_force.current().categories["shared_bikes"].kind == "bike_pileup"  # the next report sees it


def test_an_api_only_replica_follows_edits_made_elsewhere(client: TestClient, rules_dir: Path) -> None:
    # This app runs with ingest off, like `cityops hub run --no-ingest`: a file changed by another replica (or a
    # ConfigMap swap) still reaches it through its own rules watcher.
    store = client.app.state.rules
    assert store.current.sla.minutes("unlisted_kind", "red") == 30
    path = rules_dir / "hub" / "sla.yaml"
    path.write_text(path.read_text().replace("default: {red: 30,", "default: {red: 25,"))
    deadline = time.monotonic() + 60
    while store.current.sla.minutes("unlisted_kind", "red") != 25 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.current.sla.minutes("unlisted_kind", "red") == 25
