"""Districts, grids, GeoJSON import/export and the map's areas through the API, on a real database; every change
reaches routing at once and lands in the change record."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from shapely.ops import unary_union

from cloud_hub.seed.demo import DEMO_GRIDS

Login = Callable[..., dict[str, str]]
BASE = "/api/v1/admin"


def square(west: float, south: float, size: float = 0.01) -> dict:
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[118.9, 32.0], [118.91, 32.01], [118.91, 32.0], [118.9, 32.01], [118.9, 32.0]]],
}


def feature(grid_id: str, geometry: dict | None, **props: object) -> dict:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"grid_id": grid_id, "name": grid_id.upper(), **props},
    }


def changes(client: TestClient, admin: dict[str, str], **params: str) -> list[dict]:
    response = client.get(f"{BASE}/changes", params=params, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_districts_crud_and_refused_delete(client: TestClient, admin: dict[str, str], login: Login) -> None:
    created = client.post(f"{BASE}/districts", json={"district_id": "nj-xuanwu", "name": "Xuanwu", "city": "Nanjing"},
                          headers=admin)  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json() == {"district_id": "nj-xuanwu", "name": "Xuanwu", "city": "Nanjing", "grid_count": 0}
    commander = login("commander1")
    listed = client.get(f"{BASE}/districts", params={"q": "nanjing"}, headers=commander).json()
    assert listed["count"] == 2 and [d["district_id"] for d in listed["data"]] == ["nj-gulou", "nj-xuanwu"]
    assert (
        client.post(f"{BASE}/districts", json={"district_id": "x", "name": "X"}, headers=commander).status_code == 403
    )
    renamed = client.patch(f"{BASE}/districts/nj-xuanwu", json={"name": "Xuanwu District"}, headers=admin)
    assert renamed.json()["name"] == "Xuanwu District" and renamed.json()["city"] == "Nanjing"
    gulou = client.get(f"{BASE}/districts/nj-gulou", headers=commander).json()
    assert gulou["grid_count"] == len(DEMO_GRIDS)
    refused = client.delete(f"{BASE}/districts/nj-gulou", headers=admin)
    assert refused.status_code == 409
    assert "grids nj-gulou-01" in refused.json()["detail"] and "cameras cam-demo-01" in refused.json()["detail"]
    # A commander limited to the district would become city-wide if it vanished under them.
    user = {"username": "cmd-x", "password": "commander-x-pw", "role": "commander", "districts": ["nj-xuanwu"]}
    assert client.post(f"{BASE}/users", json=user, headers=admin).status_code == 201
    held = client.delete(f"{BASE}/districts/nj-xuanwu", headers=admin)
    assert held.status_code == 409 and "users cmd-x" in held.json()["detail"]
    assert client.patch(f"{BASE}/users/cmd-x", json={"districts": []}, headers=admin).status_code == 200
    assert client.delete(f"{BASE}/districts/nj-xuanwu", headers=admin).status_code == 204
    assert client.get(f"{BASE}/districts/nj-xuanwu", headers=admin).status_code == 404
    trail = changes(client, admin, entity="district", entity_id="nj-xuanwu")
    assert [c["action"] for c in trail] == ["delete", "update", "create"]
    assert trail[1]["before"]["name"] == "Xuanwu" and trail[1]["after"]["name"] == "Xuanwu District"
    assert trail[0]["actor"] == "admin" and trail[0]["role"] == "admin" and trail[0]["after"] is None


def test_grid_crud_reaches_routing_at_once(client: TestClient, admin: dict[str, str]) -> None:
    directory = client.app.state.grids
    assert directory.index.grid_for(118.905, 32.005) is None
    body = {"grid_id": "t-01", "name": "Test 1", "district_id": "nj-gulou", "supervisor": "commander1",
            "polygon": square(118.9, 32.0)}  # fmt: skip
    created = client.post(f"{BASE}/grids", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert directory.index.grid_for(118.905, 32.005).grid_id == "t-01"  # no 60 s wait
    moved = client.patch(
        f"{BASE}/grids/t-01", json={"polygon": square(118.95, 32.0), "supervisor": None}, headers=admin
    )
    assert moved.status_code == 200 and moved.json()["supervisor"] is None
    assert directory.index.grid_for(118.905, 32.005) is None
    assert directory.index.grid_for(118.955, 32.005).grid_id == "t-01"
    assert client.post(f"{BASE}/grids", json=body, headers=admin).status_code == 409
    listed = client.get(f"{BASE}/grids", params={"district_id": "nj-gulou", "q": "test"}, headers=admin).json()
    assert listed["count"] == 1 and listed["data"][0]["polygon"] == square(118.95, 32.0)
    assert client.delete(f"{BASE}/grids/t-01", headers=admin).status_code == 204
    assert directory.index.grid("t-01") is None
    assert [c["action"] for c in changes(client, admin, entity="grid", entity_id="t-01")] == [
        "delete",
        "update",
        "create",
    ]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"polygon": BOWTIE}, "polygon", "grid bad-1: polygon is invalid (Self-intersection"),
        ({"polygon": {"type": "Point", "coordinates": [1, 2]}}, "polygon", "Polygon or MultiPolygon"),
        ({"supervisor": "tech1"}, "supervisor", "'tech1' is a technician"),
        ({"supervisor": "ghost"}, "supervisor", "'ghost' is not a user"),
        ({"district_id": "atlantis"}, "district_id", "unknown district 'atlantis'"),
    ],
)
def test_bad_grids_are_refused_with_the_field(
    client: TestClient, admin: dict[str, str], change: dict, field: str, words: str
) -> None:
    body = {"grid_id": "bad-1", "name": "Bad", "polygon": square(118.9, 32.1), **change}
    refused = client.post(f"{BASE}/grids", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["errors"][0]["loc"] == ["body", field] and words in problem["detail"]
    assert client.get(f"{BASE}/grids/bad-1", headers=admin).status_code == 404


def test_import_is_all_or_nothing_and_export_round_trips(
    client: TestClient, admin: dict[str, str], database_url: str
) -> None:
    good = [
        feature("imp-1", square(119.0, 32.0), district_id="nj-gulou", supervisor="commander1"),
        feature("imp-2", square(119.01, 32.0), district_id="nj-gulou"),
    ]
    bad = {"type": "FeatureCollection", "features": [
        *good,
        feature("imp-3", BOWTIE),
        feature("imp-4", square(119.03, 32.0), district_id="atlantis"),
        feature("imp-5", square(119.04, 32.0), supervisor="tech1"),
    ]}  # fmt: skip
    refused = client.post(f"{BASE}/grids/import", json=bad, headers=admin)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["detail"].startswith("3 of 5 features are invalid; nothing was imported")
    assert [e["loc"][:3] for e in problem["errors"]] == [["body", "features", i] for i in (2, 3, 4)]
    assert (
        "feature 2 (grid imp-3)" in problem["errors"][0]["msg"] and "Self-intersection" in problem["errors"][0]["msg"]
    )
    assert "unknown district 'atlantis'" in problem["errors"][1]["msg"]
    assert client.get(f"{BASE}/grids/imp-1", headers=admin).status_code == 404

    collection = {"type": "FeatureCollection", "features": good}
    dry = client.post(f"{BASE}/grids/import", params={"dry_run": True}, json=collection, headers=admin)
    assert dry.json() == {"dry_run": True, "created": ["imp-1", "imp-2"], "updated": [], "unchanged": []}
    assert client.get(f"{BASE}/grids/imp-1", headers=admin).status_code == 404
    done = client.post(f"{BASE}/grids/import", json=collection, headers=admin)
    assert done.json() == {"dry_run": False, "created": ["imp-1", "imp-2"], "updated": [], "unchanged": []}
    assert client.app.state.grids.index.grid_for(119.005, 32.005).grid_id == "imp-1"

    exported = client.get(f"{BASE}/grids/export", headers=admin)
    assert exported.headers["content-type"] == "application/geo+json"
    body = exported.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == len(DEMO_GRIDS) + 2
    imp1 = next(f for f in body["features"] if f["properties"]["grid_id"] == "imp-1")
    assert imp1["properties"] == {
        "grid_id": "imp-1",
        "name": "IMP-1",
        "district_id": "nj-gulou",
        "supervisor": "commander1",
    }
    next(f for f in body["features"] if f["properties"]["grid_id"] == "imp-2")["properties"]["name"] = "renamed"
    again = client.post(f"{BASE}/grids/import", json=body, headers=admin).json()
    assert again["updated"] == ["imp-2"] and again["created"] == []
    assert len(again["unchanged"]) == len(DEMO_GRIDS) + 1
    with psycopg.connect(database_url) as conn:
        actions = conn.execute(
            "SELECT action, count(*) FROM admin_changes WHERE entity_id LIKE 'imp-%' GROUP BY action"
        ).fetchall()
    assert actions == [("import", 3)]


def test_geo_areas_for_every_role(client: TestClient, login: Login) -> None:
    areas = client.get("/api/v1/geo/areas", params={"district_id": "nj-gulou"}, headers=login("officer3"))
    assert areas.status_code == 200 and areas.headers["content-type"] == "application/geo+json"
    features = areas.json()["features"]
    district = features[0]
    assert district["properties"] == {"kind": "district", "id": "nj-gulou", "name": "Gulou", "district_id": "nj-gulou",
                                      "supervisor": None}  # fmt: skip
    grids = [f["properties"] for f in features[1:]]
    outline = shape(district["geometry"])
    assert outline.equals(unary_union([shape(f["geometry"]) for f in features[1:]]))
    six_cells = unary_union([shape(g.geojson()) for g in DEMO_GRIDS])
    assert six_cells.geom_type == "Polygon" and outline.contains(six_cells.buffer(-1e-9))  # one rectangle, no seams
    assert {g["kind"] for g in grids} == {"grid"} and {g["id"] for g in grids} >= {g.grid_id for g in DEMO_GRIDS}
    assert client.get("/api/v1/geo/areas", headers=login("tech1")).status_code == 200
    assert client.get("/api/v1/geo/areas").status_code == 401


def test_change_record_is_append_only(client: TestClient, admin: dict[str, str], database_url: str) -> None:
    client.post(f"{BASE}/districts", json={"district_id": "nj-audit", "name": "Audit"}, headers=admin)
    with psycopg.connect(database_url) as conn:
        for statement in (
            "UPDATE admin_changes SET actor = 'mallory'",
            "DELETE FROM admin_changes",
            "TRUNCATE admin_changes",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"), conn.transaction():
                conn.execute(statement)
    page = client.get(f"{BASE}/changes", params={"entity": "district", "limit": 1}, headers=admin).json()
    assert page["count"] >= 1 and len(page["data"]) == 1 and page["data"][0]["entity_id"] == "nj-audit"
    naive = client.get(f"{BASE}/changes", params={"since": "2026-01-01T00:00:00"}, headers=admin)
    assert naive.status_code == 422 and naive.json()["errors"][0]["loc"] == ["query", "since"]
