"""bench.ingest_cpu: the in-process CPU cost measurement stores every event exactly once and reports its figures."""

from __future__ import annotations

import psycopg
import pytest

from bench.ingest_cpu import main, measure


def test_measure_stores_every_event_once_and_reports_per_event_costs(database_url: str) -> None:
    result = measure(database_url, events=400, devices=4, per_message=25, batch_messages=3)
    assert result["events"] == 400
    for key in ("validate_us_per_event", "store_us_per_event", "db_us_per_event", "total_us_per_event"):
        assert result[key] >= 0
    assert result["total_us_per_event"] >= result["hub_us_per_event"]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT (device_id, seq)) FROM events WHERE device_id LIKE 'cpu%'"
        ).fetchone()
    assert rows == (400, 400)


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--events", "0"])
    assert "must be >= 1" in capsys.readouterr().err
