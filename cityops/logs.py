"""Log output of every CityOps process: plain text for a terminal, or one JSON object per line for a log collector
(Loki, Elasticsearch, Cloud Logging), chosen by `--log-format` or `CITYOPS_LOG_FORMAT`.

Each line carries the process's role (`hub`, `ingest-w0`, `edge`, ...) and whatever context the code bound for the
work in hand: the request id of an API call, the device id of an ingested message. The context lives in context
variables, so threads and asyncio tasks each see their own.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO

LOG_FORMAT_ENV = "CITYOPS_LOG_FORMAT"
LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
_HANDLER_NAME = "cityops"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(process_role)s%(name)s: %(message)s%(context)s"

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "cityops_log_context", default=MappingProxyType({})
)
_role = ""


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add fields (request_id=..., device_id=...) to every line logged inside the block; None leaves a field out."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, str]:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Puts the process role and the bound context on every record (on the handler: every logger's records pass)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        record.process_role = f"{_role} " if _role else ""
        record.context = "".join(f" [{k}={v}]" for k, v in fields.items())
        record.context_fields = fields
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, role, message, the bound context, and the
    traceback as `exc` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if _role:
            entry["role"] = _role
        entry.update(getattr(record, "context_fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def resolve_format(requested: str | None) -> LogFormat:
    """The --log-format value, else CITYOPS_LOG_FORMAT, else text; anything else is refused by name."""
    value = (requested or os.environ.get(LOG_FORMAT_ENV) or "text").strip().lower()
    if value not in FORMATS:
        raise ValueError(f"log format {value!r} is not one of {', '.join(FORMATS)} (--log-format or {LOG_FORMAT_ENV})")
    return value  # type: ignore[return-value]


def configure_logging(
    level: int = logging.INFO, *, role: str = "", log_format: str | None = None, stream: TextIO | None = None
) -> LogFormat:
    """Set up the root logger once per process (again: replaces the handler). The chosen format is exported in the
    environment so child processes (ingest workers) log the same way."""
    global _role
    chosen = resolve_format(log_format)
    _role = role
    os.environ[LOG_FORMAT_ENV] = chosen
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:  # ours only: leave others' (pytest's)
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return chosen


def set_role(role: str) -> None:
    """Name this process in every line from now on (`hub`, `ingest-w3`)."""
    global _role
    _role = role


LOG_MAX_BYTES_ENV = "CITYOPS_LOG_MAX_BYTES"
LOG_BACKUPS_ENV = "CITYOPS_LOG_BACKUPS"
_FILE_HANDLER_NAME = "cityops-file"


def rotation_settings(max_bytes: int | None, backups: int | None) -> tuple[int, int]:
    """Size per file and files kept: the options, else CITYOPS_LOG_MAX_BYTES / CITYOPS_LOG_BACKUPS, else 10 MB x 5.
    A bad value is refused by name (an unbounded log would fill the box's disk)."""
    size = max_bytes if max_bytes is not None else os.environ.get(LOG_MAX_BYTES_ENV, "10000000")
    count = backups if backups is not None else os.environ.get(LOG_BACKUPS_ENV, "5")
    try:
        size, count = int(size), int(count)
    except ValueError:
        detail = f"{LOG_MAX_BYTES_ENV}={size!r}, {LOG_BACKUPS_ENV}={count!r}"
        raise ValueError(f"log rotation needs whole numbers ({detail})") from None
    if size < 1024 or count < 1:
        raise ValueError(f"log rotation needs max bytes >= 1024 and backups >= 1, got {size} and {count}")
    return size, count


def add_rotating_file(path: str | os.PathLike[str], max_bytes: int, backups: int) -> logging.Handler:
    """Also log to `path`, rotated at `max_bytes` keeping `backups` old files, in the console's format."""
    from logging.handlers import RotatingFileHandler

    console = next((h for h in logging.getLogger().handlers if h.get_name() == _HANDLER_NAME), None)
    handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.addFilter(ContextFilter())
    handler.setFormatter(console.formatter if console and console.formatter else logging.Formatter(TEXT_FORMAT))
    handler.set_name(_FILE_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _FILE_HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    return handler
