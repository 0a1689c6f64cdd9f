"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis, bench/fuzz_api.py): every operation, a few valid
and invalid requests each, as admin and as officer1, on the real app with a seeded database. No 5xx, and every 4xx a
problem with a type and a detail. `python -m bench.fuzz_api --examples 200` is the long run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bench.fuzz_api import EXCLUDED, FuzzHub, api_schema, fuzz_hub, fuzz_operation, operation_labels

# Per operation: enough to reach every parameter with valid and invalid values, few enough that the whole module
# stays within a few minutes on a 2-core CI runner (106 operations).
CI_EXAMPLES = 30
SCHEMA = api_schema()
LABELS = operation_labels(SCHEMA)


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzHub]:
    # The suite's own broker (tests/conftest.py): with ingest on, device commands are sent, not refused with 503.
    with fuzz_hub(database_url, os.environ["CITYOPS_TEST_MQTT_URL"], tmp_path_factory.mktemp("fuzz-hub")) as started:
        yield started


def test_every_operation_is_fuzzed_or_excluded_with_a_reason() -> None:
    assert len(LABELS) + len(EXCLUDED) == sum(1 for _ in SCHEMA.get_all_operations())
    assert all(reason for reason in EXCLUDED.values())


@pytest.mark.parametrize("label", LABELS)
def test_fuzz_operation(hub: FuzzHub, label: str) -> None:
    result = fuzz_operation(SCHEMA, hub, label, CI_EXAMPLES)
    assert result.failure is None, result.failure
    assert result.examples > 0


# What the fuzzer found, each fixed in the hub and pinned here with the request that failed.
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/devices/edge-demo-01/commands",
        "/api/v1/devices/edge-demo-01/config/history",
        "/api/v1/devices/edge-demo-01/snapshots",
        "/api/v1/events",
        "/api/v1/webhooks/subscriptions",
    ],
)
def test_an_offset_beyond_bigint_is_a_422_naming_it(hub: FuzzHub, path: str) -> None:
    # It reached PostgreSQL's OFFSET as 2**63 and failed there with a 500.
    answer = TestClient(hub.app).get(path, params={"offset": 2**63}, headers=hub.headers["admin"])
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"].startswith("query.offset:")


@pytest.mark.parametrize(
    ("path", "until"),
    [("/api/v1/stats/sla-daily", "0001-01-01"), ("/api/v1/stats/summary", "0001-01-01T00:00:00Z")],
)
def test_an_until_too_early_for_the_default_span_is_a_422_naming_it(hub: FuzzHub, path: str, until: str) -> None:
    # The default start (until minus the span) fell before year 1: an OverflowError and a 500.
    answer = TestClient(hub.app).get(path, params={"until": until}, headers=hub.headers["admin"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith("until:")


@pytest.mark.parametrize(
    ("path", "params"),
    [("/api/v1/admin/changes", {"actor": "\x00"}), ("/api/v1/admin/rosters", {"district_id": "\x00"})],
)
def test_a_nul_character_in_a_query_is_a_4xx_naming_it(hub: FuzzHub, path: str, params: dict[str, str]) -> None:
    # PostgreSQL text cannot hold NUL: the query failed in the database with a 500.
    answer = TestClient(hub.app).get(path, params=params, headers=hub.headers["admin"])
    assert answer.status_code in (400, 422), answer.text
    assert next(iter(params)) in answer.json()["detail"]


def test_work_order_ids_beyond_bigint_are_a_422_naming_them(hub: FuzzHub) -> None:
    body = {"action": "escalate", "ids": [-(2**63) - 1]}
    headers = hub.headers["admin"] | {"Idempotency-Key": "fuzz-bulk-1"}
    answer = TestClient(hub.app).post("/api/v1/work-orders/bulk", json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert "ids" in answer.json()["detail"]
