"""Secrets in query strings never reach the logs (a pure function and the logging filter around it)."""

from __future__ import annotations

import logging

import pytest

from cloud_hub.auth.redaction import SecretRedactingFilter, install_secret_redaction, redact_secrets


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /api/v1/live?access_token=eyJ.abc.def", "GET /api/v1/live?access_token=[redacted]"),
        (
            "/api/v1/live?since=5&access_token=eyJ.a-b_c&kind=x HTTP/1.1",
            "/api/v1/live?since=5&access_token=[redacted]&kind=x HTTP/1.1",
        ),
        ("/x?refresh_token=abc;password=hunter2", "/x?refresh_token=[redacted];password=[redacted]"),
        ('"GET /x?PASSWORD=p%40ss HTTP/1.1" 200', '"GET /x?PASSWORD=[redacted] HTTP/1.1" 200'),
        ("/x?access_token=", "/x?access_token=[redacted]"),
        ("/x?my_access_token=keep&tokens=keep", "/x?my_access_token=keep&tokens=keep"),
        ("no query: password reset requested", "no query: password reset requested"),
    ],
)
def test_redact_secrets(line: str, expected: str) -> None:
    assert redact_secrets(line) == expected


def _access_record(path: str) -> logging.LogRecord:
    # The shape of uvicorn's access log call: format string plus (client, method, path, http version, status).
    return logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip


def test_filter_rewrites_arguments_and_keeps_the_record() -> None:
    record = _access_record("/api/v1/live?access_token=secret-jwt")
    assert SecretRedactingFilter().filter(record) is True
    assert record.getMessage() == '10.0.0.1:5000 - "GET /api/v1/live?access_token=[redacted] HTTP/1.1" 200'
    named = logging.LogRecord("x", logging.INFO, __file__, 1, "%(path)s", ({"path": "/a?password=pw"},), None)
    SecretRedactingFilter().filter(named)
    assert named.getMessage() == "/a?password=[redacted]"


def test_install_attaches_one_filter_per_logger() -> None:
    name = "cityops.test.redaction"
    install_secret_redaction([name])
    install_secret_redaction([name])
    logger = logging.getLogger(name)
    assert sum(isinstance(f, SecretRedactingFilter) for f in logger.filters) == 1
    logger.filters.clear()
