"""Schema migrations: the SQL files in this folder and the runner that applies them (see README.md here)."""

from cloud_hub.store.migrations.runner import MigrationError, MigrationReport, migrate, migrate_command

__all__ = ["MigrationError", "MigrationReport", "migrate", "migrate_command"]
