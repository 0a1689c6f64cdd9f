"""`stack down --purge` on a stack whose database is already stopped still deletes that database's data."""

from __future__ import annotations

from pathlib import Path

from cloud_hub.stack.database import _server, start_database, stop_database
from cloud_hub.stack.paths import StackPaths
from cloud_hub.stack.processes import free_tcp_port
from cloud_hub.stack.settings import StackSettings


def test_purge_after_stop_deletes_the_data(tmp_path: Path) -> None:
    paths = StackPaths.create(tmp_path / "state", StackSettings().cache_dir)
    start_database(paths, requested="postgres", port=free_tcp_port())
    server, _ = _server("postgres", paths)
    instance = server.host_path(server.instance_dir)

    assert stop_database(paths) is True  # a plain stop keeps the data
    assert (instance / "data" / "PG_VERSION").exists()

    assert stop_database(paths, destroy=True) is False  # nothing was running any more...
    assert not instance.exists()  # ...and still the data is gone
