"""RFC 9457: every error answer is application/problem+json with a stable type, whichever route or layer raised it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import pytest
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from cloud_hub.api.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    install_problem_handlers,
    problem_body,
    problem_response,
    validation_summary,
)
from cloud_hub.core.errors import RuleViolation

Login = Callable[..., dict[str, str]]


def assert_problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == f"https://cityops.dev/problems/{kind}"
    assert body["status"] == status and isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == response.request.url.path
    return body


def test_summary_names_the_first_bad_field() -> None:
    errors = [
        {"loc": ("body", "features", 2, "geometry"), "msg": "Field required", "type": "missing"},
        {"loc": ("query", "limit"), "msg": "too big", "type": "less_than_equal"},
    ]
    assert validation_summary(errors) == "features[2].geometry: Field required (and 1 more problem)"
    assert validation_summary([{"loc": ("query", "severity"), "msg": "bad"}]) == "query.severity: bad"
    body = problem_body(422, "x", "/p", errors=errors, extensions={"status": 1, "file": "f"})
    assert body["status"] == 422 and body["file"] == "f"  # standard members win over extensions
    assert body["errors"][0] == {"loc": ["body", "features", 2, "geometry"], "msg": "Field required", "type": "missing"}
    assert problem_body(418, "tea", "/p")["type"] == "about:blank"


@pytest.fixture(scope="module")
def tiny() -> TestClient:
    """Errors raised the ways the hub's layers raise them, on an app with only the problem handlers."""
    app = FastAPI()

    @app.get("/limited")
    def limited() -> None:
        raise HTTPException(429, "too many failed logins; wait", headers={"Retry-After": "30"})

    @app.get("/listy")
    def listy() -> None:
        raise HTTPException(422, [{"loc": ["body", "x"], "msg": "bad x", "type": "value_error"}])

    @app.get("/mapping")
    def mapping() -> None:
        raise HTTPException(409, {"detail": "taken", "holder": "someone"})

    @app.get("/rule")
    def rule() -> None:
        raise RuleViolation(409, "device already runs that model")

    @app.get("/problem")
    def problem() -> None:
        raise Problem(
            422, "rules refused", errors=[{"loc": ["sla.yaml", "default"], "msg": "m", "type": "t"}], file="sla.yaml"
        )

    @app.get("/returned")
    def returned(request: Request) -> JSONResponse:
        answer = problem_response(request, 401, "session ended", {"WWW-Authenticate": "Bearer"})
        answer.delete_cookie("refresh")
        return answer

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/typed")
    def typed(n: Annotated[int, Query(ge=1)]) -> int:
        return n

    install_problem_handlers(app)
    return TestClient(app, raise_server_exceptions=False)


def test_handlers_shape_every_kind_of_error(tiny: TestClient) -> None:
    limited = tiny.get("/limited")
    assert assert_problem(limited, 429, "rate-limited")["detail"] == "too many failed logins; wait"
    assert limited.headers["retry-after"] == "30"
    listy = assert_problem(tiny.get("/listy"), 422, "validation")
    assert listy["detail"] == "x: bad x" and listy["errors"][0]["loc"] == ["body", "x"]
    mapping = assert_problem(tiny.get("/mapping"), 409, "conflict")
    assert (mapping["detail"], mapping["holder"]) == ("taken", "someone")
    assert assert_problem(tiny.get("/rule"), 409, "conflict")["detail"] == "device already runs that model"
    problem = assert_problem(tiny.get("/problem"), 422, "validation")
    assert problem["file"] == "sla.yaml" and problem["errors"][0]["loc"] == ["sla.yaml", "default"]
    returned = tiny.get("/returned")
    assert assert_problem(returned, 401, "unauthorized")["detail"] == "session ended"
    assert returned.headers["www-authenticate"] == "Bearer" and "refresh=" in returned.headers["set-cookie"]
    boom = assert_problem(tiny.get("/boom"), 500, "internal")
    assert "secret" not in boom["detail"]
    typed = assert_problem(tiny.get("/typed", params={"n": 0}), 422, "validation")
    assert typed["detail"].startswith("query.n: Input should be greater than or equal to 1")
    assert typed["errors"] == [{"loc": ["query", "n"], "msg": "Input should be greater than or equal to 1",
                                "type": "greater_than_equal"}]  # fmt: skip
    assert_problem(tiny.get("/nowhere"), 404, "not-found")
    assert_problem(tiny.post("/typed"), 405, "method-not-allowed")


def test_hub_routes_answer_problems(client: TestClient, login: Login, admin: dict[str, str]) -> None:
    """A sample of the hub's routes, old and new, in each way they fail."""
    anonymous = client.get("/api/v1/work-orders")
    assert "not logged in" in assert_problem(anonymous, 401, "unauthorized")["detail"]
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert_problem(client.get("/api/v1/admin/users", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    officer = login("officer1")
    refused = client.get("/api/v1/work-orders", headers=login("tech1"))
    assert "technician" in assert_problem(refused, 403, "forbidden")["detail"]
    assert_problem(client.get("/api/v1/admin/districts", headers=officer), 403, "forbidden")
    assert_problem(client.get("/api/v1/admin/rules", headers=login("commander1")), 403, "forbidden")
    assert_problem(client.get("/api/v1/work-orders/999999", headers=admin), 404, "not-found")
    assert_problem(client.get("/api/v1/admin/grids/nope", headers=admin), 404, "not-found")
    assert_problem(client.get("/api/v1/no-such-route", headers=admin), 404, "not-found")
    assert_problem(client.delete("/api/v1/admin/changes", headers=admin), 405, "method-not-allowed")
    pink = assert_problem(
        client.get("/api/v1/incidents", params={"severity": "pink"}, headers=admin), 422, "validation"
    )
    assert pink["detail"].startswith("query.severity") and pink["errors"][0]["loc"][:2] == ["query", "severity"]
    no_name = client.post("/api/v1/admin/districts", json={"district_id": "x-1"}, headers=admin)
    assert assert_problem(no_name, 422, "validation")["detail"] == "name: Field required"
    taken = client.post("/api/v1/admin/districts", json={"district_id": "nj-gulou", "name": "again"}, headers=admin)
    assert "already exists" in assert_problem(taken, 409, "conflict")["detail"]
    login_failed = client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"})
    assert_problem(login_failed, 401, "unauthorized")


def test_openapi_documents_problems(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    answer = schema["paths"]["/api/v1/work-orders"]["get"]["responses"]["422"]
    assert answer["content"] == {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    assert {"type", "title", "status", "detail", "instance"} <= set(
        schema["components"]["schemas"]["ProblemDetails"]["required"]
    )
