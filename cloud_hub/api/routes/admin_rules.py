"""/api/v1/admin/rules: the hub rule files (severity, SLA, merge, routing, telemetry, hotline categories), read,
validated and saved by administrators.

A save is validated with the loader's own models (nothing is written when bad), written atomically into the
directory the hub loaded, and this process's rules are reloaded at once; other processes follow through their
rules watchers (`rules_poll_s`), the hotline categories on the next report."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Request
from pydantic import Field

from cloud_hub.admin import rules as files
from cloud_hub.admin.audit import record_change
from cloud_hub.admin.rules import RuleFile, RuleText, RuleValidation
from cloud_hub.api.deps import ConnDep
from cloud_hub.api.problems import Problem
from cloud_hub.api.routes.admin_common import CONFLICT, ERRORS, NOT_FOUND, Admin
from cloud_hub.api.schemas import Page
from cloud_hub.reports.rules import REPORTS_FILE
from cloud_hub.rules.loader import RULE_FILES, RulesError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/admin/rules", tags=["admin-rules"], responses=ERRORS)


class RuleFileSaved(RuleFile):
    reloaded: bool = Field(description="this process uses the new rules now")
    note: str | None = Field(None, description="why not, or what else applies")


def _directory(request: Request) -> Path:
    store = getattr(request.app.state, "rules", None)
    if store is None:
        raise Problem(503, "hub rules are not loaded yet; retry shortly")
    return store.directory


def _reload(request: Request, name: str) -> tuple[bool, str | None]:
    """Reload the store that reads `name` in this process, when this process holds one."""
    if name == REPORTS_FILE:  # checked on use by every process (a stat per report): in force from the next report
        return True, None
    if name in RULE_FILES:
        store = request.app.state.rules
    else:  # the telemetry file: its store lives with ingest; a process that publishes it on app.state gets it now
        store = getattr(request.app.state, "telemetry_rules", None)
        if store is None:
            return False, "ingesting processes pick the file up through their rules watchers within seconds"
    try:
        store.reload()
    except RulesError as exc:  # another rule file on disk is bad: the saved one waits with it
        return False, f"saved, but the rules in force stay until this is fixed: {exc}"
    return True, None


@router.get("", operation_id="list_rule_files")
def list_rule_files(request: Request, user: Admin) -> Page[RuleFile]:
    """Every hub rule file with its text and parsed content (defaults filled in), or why it does not validate."""
    directory = _directory(request)
    data = [files.read_rule_file(directory, name) for name in files.rule_schemas()]
    return Page[RuleFile](data=data, count=len(data))


@router.get("/{name}", operation_id="get_rule_file", responses=NOT_FOUND)
def get_rule_file(name: str, request: Request, user: Admin) -> RuleFile:
    return files.read_rule_file(_directory(request), name)


@router.put("/{name}", operation_id="update_rule_file", responses={**NOT_FOUND, **CONFLICT})
def update_rule_file(name: str, body: RuleText, request: Request, conn: ConnDep, user: Admin) -> RuleFileSaved:
    """Validate, write atomically and reload. 422 (file, field path, message in `errors`; nothing written) when the
    text does not validate; 409 when `base_sha256` is stale or the directory is read-only."""
    directory = _directory(request)
    files.validate_rule_text(name, body.text)
    old = files.write_rule_file(directory, name, body.text, body.base_sha256)
    record_change(
        conn,
        user,
        "rules",
        name,
        "update",
        {"text": old, "sha256": files.sha256(old)} if old is not None else None,
        {"text": body.text, "sha256": files.sha256(body.text)},
    )
    reloaded, note = _reload(request, name)
    log.info("rule file %s saved by %s (reloaded here: %s)", name, user.username, reloaded)
    saved = files.read_rule_file(directory, name)
    return RuleFileSaved(**saved.model_dump(), reloaded=reloaded, note=note)


@router.post("/{name}/validate", operation_id="validate_rule_file", responses=NOT_FOUND)
def validate_rule_file(name: str, body: RuleText, user: Admin) -> RuleValidation:
    """Validate without saving: the parsed rules, or 422 with file, field path and message."""
    parsed = files.validate_rule_text(name, body.text)
    return RuleValidation(name=name, valid=True, content=parsed.model_dump(mode="json"))
