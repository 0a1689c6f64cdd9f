"""Two copies of one case at the same moment (a hotline retrying while its first request is still being handled,
possibly on another hub replica): one case opens, the other copy answers it; if the first fails, the second opens
it. Driven on two real database connections, the second blocked on the first's uncommitted case number."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from report_kit import count, report

from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.evidence.store import FilesystemEvidenceStore
from cloud_hub.reports import clients, service
from cloud_hub.reports.models import ReportSubmission
from cloud_hub.reports.rules import ReportRulesFile
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import seed_demo

REPO = Path(__file__).resolve().parents[3]
CLIENT = "hotline-race"


@pytest.fixture(scope="module")
def ctx(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> service.Context:
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
        clients.create_client(conn, CLIENT, "12345", "admin")
        grids = GridDirectory.load(conn)
    return service.Context(
        report_rules=ReportRulesFile(REPO / "rules" / "hub" / "reports.yaml").current(),
        hub_rules=RulesStore.from_settings_dir(REPO / "rules").current,
        grids=grids,
        evidence=FilesystemEvidenceStore(tmp_path_factory.mktemp("evidence")),
        now=datetime.now(UTC),
    )


@pytest.fixture
def pair(database_url: str) -> Iterator[tuple[psycopg.Connection, psycopg.Connection]]:
    with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
        yield first, second


def _waits_on_a_lock(watcher: psycopg.Connection, pid: int) -> bool:
    row = watcher.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return bool(row and row[0] == "Lock")


def _race(
    database_url: str, ctx: service.Context, first: psycopg.Connection, second: psycopg.Connection, first_commits: bool
) -> tuple[tuple[int, bool], tuple[int, bool]]:
    submission = ReportSubmission.model_validate(report())
    opened = service.submit(first, CLIENT, submission, ctx)  # holds the case number, not committed yet
    outcome: dict[str, tuple[int, bool]] = {}

    def retry() -> None:
        outcome["second"] = service.submit(second, CLIENT, submission, ctx)
        second.commit()

    thread = threading.Thread(target=retry)
    thread.start()
    with psycopg.connect(database_url, autocommit=True) as watcher:
        deadline = time.monotonic() + 30
        while not _waits_on_a_lock(watcher, second.info.backend_pid):
            assert time.monotonic() < deadline and thread.is_alive(), "the retry never waited for the first copy"
            time.sleep(0.02)
    first.commit() if first_commits else first.rollback()
    thread.join(30)
    assert "second" in outcome
    with psycopg.connect(database_url, autocommit=True) as check:
        cases = count(check, "SELECT count(*) FROM citizen_reports WHERE case_number = %s", submission.case_number)
        keys = count(
            check, "SELECT count(*) FROM incidents WHERE incident_key = %s", f"{CLIENT}/{submission.case_number}"
        )
    assert (cases, keys) == (1, 1)
    return opened, outcome["second"]


def test_the_second_copy_answers_the_case_the_first_opened(database_url: str, ctx: service.Context, pair) -> None:
    (order, replayed), (again, second_replayed) = _race(database_url, ctx, *pair, first_commits=True)
    assert (replayed, second_replayed) == (False, True) and again == order


def test_the_second_copy_opens_the_case_when_the_first_fails(database_url: str, ctx: service.Context, pair) -> None:
    (_, replayed), (order, second_replayed) = _race(database_url, ctx, *pair, first_commits=False)
    assert (replayed, second_replayed) == (False, False) and order > 0
