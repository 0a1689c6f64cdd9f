"""File layout of one stack instance (state dir) and of the shared cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

ROOTFS_NAME = "tsdb-trixie"


@dataclass(frozen=True, slots=True)
class StackPaths:
    state_dir: Path
    cache_dir: Path

    @classmethod
    def create(cls, state_dir: Path, cache_dir: Path) -> StackPaths:
        # Resolved once so the instance key (below) does not depend on the working directory.
        return cls(state_dir.expanduser().resolve(), cache_dir.expanduser().resolve())

    @property
    def instance_key(self) -> str:
        """Short stable name of this state dir, used where it needs a name outside the state dir
        (the database directory inside the shared TimescaleDB root filesystem)."""
        return "i" + hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def broker_dir(self) -> Path:
        return self.state_dir / "mosquitto"

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def evidence_dir(self) -> Path:
        return self.state_dir / "evidence"

    @property
    def edge_dir(self) -> Path:
        return self.state_dir / "edge"

    @property
    def rootfs_dir(self) -> Path:
        return self.cache_dir / ROOTFS_NAME

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def ensure(self) -> None:
        """Create the state dir (owner-only: it holds secrets) and its subfolders."""
        for path in (self.state_dir, self.logs_dir, self.run_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
