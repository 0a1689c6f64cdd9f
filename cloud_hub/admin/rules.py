"""The hub rule files (rules/hub/*.yaml) for the administrator: read, validate with the loader's own models, write
atomically (a temporary file renamed over the old one, so a reader never sees half a file).

The files are the loader's: `RULE_FILES` (severity, SLA, merge, routing), the telemetry file and the hotline
categories (reports.yaml). Validation is the loader's too
(YAML mapping, then the pydantic model), but answered as a list of {loc, msg, type} so an editor can point at the
field."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from cloud_hub.admin.errors import AdminError, not_found
from cloud_hub.reports.rules import REPORTS_FILE, ReportRules
from cloud_hub.rules.loader import RULE_FILES
from cloud_hub.telemetry.models import TelemetryRules
from cloud_hub.telemetry.rules import TELEMETRY_FILE

MAX_RULE_TEXT = 1_000_000


def rule_schemas() -> dict[str, type[BaseModel]]:
    """File name -> the model the hub validates it with (the same the loaders use)."""
    return {
        **{name: schema for name, (_, schema) in RULE_FILES.items()},
        TELEMETRY_FILE: TelemetryRules,
        REPORTS_FILE: ReportRules,
    }


class RuleText(BaseModel):
    text: str = Field(max_length=MAX_RULE_TEXT, description="the whole YAML file")
    base_sha256: str | None = Field(
        None, description="sha256 of the text this edit started from (from GET); a 409 when the file changed since"
    )


class RuleFile(BaseModel):
    name: str
    exists: bool = Field(description="false: the file is missing and the built-in defaults apply")
    text: str | None
    sha256: str | None = Field(description="of the text, for base_sha256 in a later PUT")
    content: dict[str, Any] | None = Field(description="the parsed rules with defaults filled in (null when invalid)")
    error: str | None = Field(None, description="why the file on disk does not validate (the hub keeps older rules)")
    modified_at: datetime | None


class RuleValidation(BaseModel):
    name: str
    valid: bool
    content: dict[str, Any]


def _schema(name: str) -> type[BaseModel]:
    schema = rule_schemas().get(name)
    if schema is None:
        raise not_found(f"rule file {name!r} (known: {', '.join(rule_schemas())})")
    return schema


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _refused(name: str, errors: list[dict[str, Any]]) -> AdminError:
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return AdminError(422, f"{name}: {where}: {first['msg']}{more}; nothing was saved", errors, file=name)


def validate_rule_text(name: str, text: str) -> BaseModel:
    """The parsed rules, or AdminError 422 whose errors have loc [file, field, ...] (pure)."""
    schema = _schema(name)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _refused(name, [{"loc": [name], "msg": f"not valid YAML{where}: {problem}", "type": "yaml"}]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        msg = f"top level must be a mapping of keys, not {type(data).__name__}"
        raise _refused(name, [{"loc": [name], "msg": msg, "type": "yaml"}])
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": [name, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise _refused(name, errors) from None


def read_rule_file(directory: Path, name: str) -> RuleFile:
    schema = _schema(name)
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8")
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        defaults = schema().model_dump(mode="json")
        return RuleFile(name=name, exists=False, text=None, sha256=None, content=defaults, modified_at=None)
    try:
        content, error = validate_rule_text(name, text).model_dump(mode="json"), None
    except AdminError as exc:
        content, error = None, exc.detail.removesuffix("; nothing was saved")
    return RuleFile(
        name=name, exists=True, text=text, sha256=sha256(text), content=content, error=error, modified_at=modified
    )


def write_rule_file(directory: Path, name: str, text: str, base_sha256: str | None = None) -> str | None:
    """Replace the file atomically; returns the old text (None when there was none). 409 when `base_sha256` no
    longer matches the file, or when the directory cannot be written (a read-only ConfigMap mount)."""
    _schema(name)
    path = directory / name
    try:
        old: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    if base_sha256 is not None and base_sha256 != (sha256(old) if old is not None else None):
        raise AdminError(409, f"{name} changed since you loaded it; reload it and apply your edit again")
    mode = path.stat().st_mode & 0o777 if old is not None else 0o644
    try:
        # Same directory, so the rename is atomic; the dot-name ending in .tmp is ignored by the watcher.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    except OSError as exc:
        raise AdminError(409, f"cannot write to the rules directory {directory}: {exc.strerror}; "
                              "change the rules where they are deployed (e.g. the ConfigMap)") from None  # fmt: skip
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return old
