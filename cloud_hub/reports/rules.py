"""rules/hub/reports.yaml: which kind of incident each hotline category becomes. Validated like the other hub rule
files (errors name the file and the field); re-read when the file changes, checked on use (a stat per report), so
every hub process follows an edit without a watcher thread. A bad edit is refused and the previous mapping stays."""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator

from cloud_hub.auth.scope import MAINTENANCE_KINDS
from cloud_hub.rules.loader import RulesError, hub_rules_dir, load_rule_file
from cloud_hub.rules.models import RulesModel, Severity
from cloud_hub.rules.watch import Fingerprint, fingerprint

log = logging.getLogger(__name__)

REPORTS_FILE = "reports.yaml"
_KIND = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_CATEGORY = re.compile(r"^\S(.{0,62}\S)?$")


class ReportCategory(RulesModel):
    kind: str = Field(description="incident kind the case becomes (its SLA and severity rules apply)")
    subtype: str | None = Field(None, max_length=64)
    severity: Severity | None = Field(None, description="fixed colour; unset: the severity rules decide")
    label: str | None = Field(None, max_length=200, description="what the category is called, for people")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if not _KIND.fullmatch(value):
            raise ValueError(f"kind {value!r} must be lower_snake_case, e.g. illegal_parking")
        if value in MAINTENANCE_KINDS:
            raise ValueError(f"kind {value!r} is a device-maintenance kind for technicians; citizens report others")
        return value


class ReportRules(RulesModel):
    version: int = 1
    categories: dict[str, ReportCategory] = Field(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _names(cls, value: dict[str, ReportCategory]) -> dict[str, ReportCategory]:
        bad = [name for name in value if not _CATEGORY.fullmatch(name)]
        if bad:
            raise ValueError(f"category names must be 1-64 characters without surrounding spaces: {bad[0]!r}")
        return value


class ReportRulesUnavailable(RuntimeError):
    """reports.yaml has never loaded (invalid since the hub started); the message names the file and the field."""


class ReportRulesFile:
    """The mapping in force, re-read when the file's size or modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: Fingerprint | None = None
        self._rules: ReportRules | None = None
        self.error: str | None = None  # why the file on disk is not in force (None: it is)

    def current(self) -> ReportRules:
        mark = fingerprint(self.path)
        if mark != self._seen:
            with self._lock:
                if mark != self._seen:
                    self._seen = mark
                    self._load()
        if self._rules is None:
            raise ReportRulesUnavailable(f"citizens' reports are off: {self.error}; fix the file (re-read on change)")
        return self._rules

    def _load(self) -> None:
        if not self.path.exists():
            log.warning("report rules: %s not found; no hotline category is accepted", self.path)
            self._rules, self.error = ReportRules(), None
            return
        try:
            rules = load_rule_file(self.path, ReportRules)
        except RulesError as exc:
            self.error = str(exc)
            log.error("report rules refused (%s); %s", exc, "previous rules stay" if self._rules else "no rules yet")
            return
        assert isinstance(rules, ReportRules)
        self._rules, self.error = rules, None
        log.info("report rules loaded from %s (%d categories)", self.path, len(rules.categories))


@lru_cache(maxsize=8)
def report_rules_for(rules_dir: Path) -> ReportRulesFile:
    """One file handle per rules directory per process (the hub's `CITYOPS_RULES_DIR`)."""
    return ReportRulesFile(hub_rules_dir(rules_dir) / REPORTS_FILE)
