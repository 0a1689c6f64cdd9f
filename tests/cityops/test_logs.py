"""Log lines as text or JSON, with the process role and the bound context (request id, device id)."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cityops.logs import LOG_FORMAT_ENV, configure_logging, log_context, resolve_format, set_role
from cloud_hub.api.request_context import RequestContextMiddleware

log = logging.getLogger("cityops.test")


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.delenv(LOG_FORMAT_ENV, raising=False)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    set_role("")


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_role_context_and_traceback() -> None:
    stream = io.StringIO()
    configure_logging(role="ingest-w2", log_format="json", stream=stream)
    with log_context(device_id="edge-7", request_id=None):
        log.warning("dead letter: %s", "bad seq")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("writer failed")
    first, second = (json.loads(line) for line in _lines(stream))
    assert first["message"] == "dead letter: bad seq"
    assert (first["level"], first["logger"], first["role"], first["device_id"]) == (
        "WARNING", "cityops.test", "ingest-w2", "edge-7",
    )  # fmt: skip
    assert "request_id" not in first, "a field bound as None is left out"
    assert "device_id" not in second, "the context ends with its block"
    assert "RuntimeError: boom" in second["exc"]


def test_text_lines_show_the_context_in_brackets() -> None:
    stream = io.StringIO()
    configure_logging(role="hub", log_format="text", stream=stream)
    with log_context(request_id="req-12345678"):
        log.info("served")
    (line,) = _lines(stream)
    assert line.endswith("INFO hub cityops.test: served [request_id=req-12345678]")


def test_format_from_the_environment_and_exported_for_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "JSON")
    assert configure_logging(stream=io.StringIO()) == "json"
    assert os.environ[LOG_FORMAT_ENV] == "json"


def test_an_unknown_format_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "yaml")
    with pytest.raises(ValueError, match="'yaml' is not one of text, json"):
        resolve_format(None)


def _app() -> Starlette:
    def handler(request: Request) -> PlainTextResponse:
        log.info("handling %s", request.url.path)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/thing", handler)])


def test_request_id_is_answered_and_on_every_line_of_the_request() -> None:
    stream = io.StringIO()
    configure_logging(role="hub", log_format="json", stream=stream)
    client = TestClient(RequestContextMiddleware(_app()))
    given = client.get("/thing", headers={"X-Request-ID": "proxy-abc-123456"})
    made = client.get("/thing")
    bad = client.get("/thing", headers={"X-Request-ID": "<script>"})
    assert given.headers["x-request-id"] == "proxy-abc-123456"
    assert len(made.headers["x-request-id"]) == 32
    assert bad.headers["x-request-id"] != "<script>"
    ids = [json.loads(line).get("request_id") for line in _lines(stream) if "handling" in line]
    assert ids == [given.headers["x-request-id"], made.headers["x-request-id"], bad.headers["x-request-id"]]
