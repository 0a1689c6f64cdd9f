"""Keep credentials out of the logs: query-string secrets in uvicorn's log lines are replaced by `[redacted]`.

The browser's EventSource cannot send headers, so the live channel takes `?access_token=...`; uvicorn's access log
would otherwise write that token (valid for minutes) into every log line of a stream.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
SECRET_PARAMETERS: tuple[str, ...] = ("access_token", "refresh_token", "password")
REDACTED_LOGGERS: tuple[str, ...] = ("uvicorn.access", "uvicorn.error")

# A secret parameter in a query string: after '?', '&' or ';', up to the next separator, quote or space.
_SECRET_IN_QUERY = re.compile(r"(?P<name>[?&;](?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&;#\s\"']*", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """`text` with the values of access_token, refresh_token and password query parameters replaced."""
    return _SECRET_IN_QUERY.sub(lambda m: m.group("name") + REDACTED, text)


def _redact_value(value: object) -> object:
    return redact_secrets(value) if isinstance(value, str) else value


class SecretRedactingFilter(logging.Filter):
    """Rewrites a record's message and string arguments (uvicorn passes the path as an argument); drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(arg) for key, arg in record.args.items()}
        return True


def install_secret_redaction(logger_names: Iterable[str] = REDACTED_LOGGERS) -> None:
    """Attach the filter to uvicorn's loggers (once each); call before the server starts."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretRedactingFilter) for f in logger.filters):
            logger.addFilter(SecretRedactingFilter())
