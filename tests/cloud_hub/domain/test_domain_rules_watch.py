"""Hot reload of the hub's rule files: a changed file is reloaded, a bad one refused once with the running rules
kept, an unchanged directory left alone; the thread follows edits by itself."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from cloud_hub.rules.loader import RulesStore
from cloud_hub.rules.watch import RulesWatcher, fingerprint
from cloud_hub.telemetry.rules import TelemetryRulesStore

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "hub"
    shutil.copytree(REPO / "rules" / "hub", target)
    return target


def touch_later(path: Path, text: str) -> None:
    """Rewrite with a modification time surely different from the last look (coarse file system clocks)."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_a_changed_file_is_reloaded_and_a_bad_one_refused_once(rules_dir: Path) -> None:
    store = RulesStore(rules_dir)
    assert store.current.severity.default == "yellow"
    watcher = RulesWatcher([(rules_dir, store.reload)])
    assert watcher.check_once() == 0  # nothing changed since it started

    severity = rules_dir / "severity.yaml"
    touch_later(severity, severity.read_text().replace("default: yellow", "default: blue"))
    assert watcher.check_once() == 1 and store.current.severity.default == "blue"
    assert watcher.check_once() == 0

    touch_later(severity, "version: 1\ndefault: purple\n")
    assert watcher.check_once() == 0 and watcher.refused == 1
    assert store.current.severity.default == "blue"  # the running rules stay in force
    assert watcher.check_once() == 0 and watcher.refused == 1  # not retried until the file changes again


def test_the_thread_follows_edits_of_the_telemetry_file(rules_dir: Path) -> None:
    store = TelemetryRulesStore(rules_dir / "telemetry.yaml")
    before = len(store.current.rules)
    assert before >= 1
    watcher = RulesWatcher([(store.path, store.reload)], interval_s=0.05)
    watcher.start()
    try:
        touch_later(store.path, "version: 1\nrules: []\n")
        deadline = time.monotonic() + 10
        while watcher.reloads == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        watcher.stop()
    assert watcher.reloads == 1 and store.current.rules == []


def test_fingerprint_of_a_missing_path_is_empty(tmp_path: Path) -> None:
    assert fingerprint(tmp_path / "nowhere") == ()
    assert fingerprint(tmp_path) == ()  # a directory without YAML files
