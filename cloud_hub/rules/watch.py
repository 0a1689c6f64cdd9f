"""Hot reload of the hub's rule files: a small thread polls their size and modification time and reloads a store
when its files changed.

Polling, not inotify: a Kubernetes ConfigMap update swaps a symlink and a shared volume may not deliver events,
while a stat every few seconds sees both. A file that does not validate is refused by the store itself (logged,
the previous rules stay in force); the watcher then waits for the next change instead of retrying it every poll.
Every process that holds rules (the hub, each ingest worker) runs its own watcher, so all of them follow an edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloud_hub.core.periodic import PeriodicThread
from cloud_hub.rules.loader import RulesError

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: Path) -> Fingerprint:
    """(name, size, mtime in ns) of a rule file, or of every YAML file of a rules directory; empty when missing."""
    files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"}) if path.is_dir() else [path]
    marks = []
    for file in files:
        try:
            stat = file.stat()  # follows symlinks: a swapped ConfigMap link shows as a new mtime
        except FileNotFoundError:
            continue
        marks.append((file.name, stat.st_size, stat.st_mtime_ns))
    return tuple(marks)


@dataclass
class Watched:
    path: Path  # a rules directory or one rule file
    reload: Callable[[], object]  # raises RulesError when the new files do not validate
    seen: Fingerprint = ()


class RulesWatcher(PeriodicThread):
    """BackgroundJob (start/stop) reloading each watched store when its files change."""

    def __init__(self, targets: Sequence[tuple[Path, Callable[[], object]]], interval_s: float = 5.0) -> None:
        super().__init__("rules-watch", interval_s, self.check_once, join_timeout_s=5.0)
        self.targets = [Watched(path, reload, fingerprint(path)) for path, reload in targets]
        self.reloads = 0
        self.refused = 0

    def check_once(self) -> int:
        """Reload what changed since the last look; returns how many stores were reloaded."""
        reloaded = 0
        for target in self.targets:
            now = fingerprint(target.path)
            if now == target.seen:
                continue
            target.seen = now
            try:
                target.reload()
            except RulesError:  # the store logged which file and field; its previous rules stay in force
                self.refused += 1
                continue
            reloaded += 1
        self.reloads += reloaded
        return reloaded
