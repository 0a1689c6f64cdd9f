"""Errors the data-access layer raises for a request that breaks a rule; routes turn them into HTTP answers."""

from __future__ import annotations


class RuleViolation(ValueError):
    """`status` is the HTTP status that says which rule the request broke, `detail` says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
