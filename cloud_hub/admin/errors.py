"""Errors of the admin data layer. They derive from `RuleViolation(status, detail)`, which the API's problem
handlers (`cloud_hub/api/problems.py`) answer as RFC 9457 problems; `errors` become the problem's field list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud_hub.core.errors import RuleViolation


class AdminError(RuleViolation):
    """`errors`: optional list of {loc, msg, type} naming each bad field (422 answers); `extensions`: further
    problem members (e.g. `file` for a rule file)."""

    def __init__(
        self, status: int, detail: str, errors: Sequence[dict[str, Any]] | None = None, **extensions: Any
    ) -> None:
        super().__init__(status, detail)
        self.errors = list(errors) if errors is not None else None
        self.extensions = extensions


def not_found(what: str) -> AdminError:
    return AdminError(404, f"{what} not found")


def conflict(detail: str) -> AdminError:
    return AdminError(409, detail)


def invalid(field: str | Sequence[str | int], msg: str, kind: str = "value_error", where: str = "body") -> AdminError:
    """A 422 naming one bad field of the request's `where` (body, query, path); `detail` reads like the request
    validation summaries ("polygon: ...")."""
    loc = [field] if isinstance(field, str) else list(field)
    return AdminError(
        422, f"{'.'.join(str(p) for p in loc)}: {msg}", [{"loc": [where, *loc], "msg": msg, "type": kind}]
    )


def invalid_many(errors: Sequence[dict[str, Any]], summary: str) -> AdminError:
    return AdminError(422, summary, errors)
