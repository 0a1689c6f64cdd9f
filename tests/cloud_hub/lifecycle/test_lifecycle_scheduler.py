"""Scheduler: across two runners (two hub replicas) a job runs once per interval, never at the same time; a
failing job is recorded and does not stop the others."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import psycopg
import pytest

from cloud_hub.scheduler.runner import Job, JobRunner, lock_key


def test_lock_key_is_stable_and_job_names_checked() -> None:
    assert lock_key("retention") == lock_key("retention") != lock_key("rollup_sla_daily")
    assert -(2**63) <= lock_key("x") < 2**63
    with pytest.raises(ValueError, match="interval"):
        Job("j", timedelta(0), lambda c, n: "")
    with pytest.raises(ValueError, match="unique"):
        JobRunner([Job("j", timedelta(1), lambda c, n: ""), Job("j", timedelta(1), lambda c, n: "")])


def test_two_concurrent_runners_run_a_job_once(database_url: str) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(conn: psycopg.Connection, now: datetime) -> str:
        calls.append(now.isoformat())
        started.set()
        assert release.wait(30), "test did not release the job"
        return "done"

    job = Job("test_once", timedelta(hours=1), slow)
    a, b = JobRunner([job], "replica-a"), JobRunner([job], "replica-b")
    with psycopg.connect(database_url, autocommit=True) as ca, psycopg.connect(database_url, autocommit=True) as cb:
        outcomes: dict[str, list] = {}
        thread = threading.Thread(target=lambda: outcomes.setdefault("a", a.run_due(ca)))
        thread.start()
        assert started.wait(30)
        # While A holds the job's lock, B skips it.
        [busy] = b.run_due(cb)
        assert not busy.ran and busy.detail == "running on another replica"
        release.set()
        thread.join(30)
        assert outcomes["a"][0].ran and outcomes["a"][0].ok
        # After A finished, B gets the lock but the interval has not passed: still not run again.
        [later] = b.run_due(cb)
        assert not later.ran and later.detail == "not due yet"
        assert len(calls) == 1
        row = cb.execute("SELECT runs, last_ok, last_detail, run_by FROM scheduler_jobs WHERE name = 'test_once'")
        assert row.fetchone() == (1, True, "done", "replica-a")
        # The locks were released: a session-level check sees none held by A any more.
        held = cb.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0]
        assert held == 0


def test_failing_job_is_recorded_and_others_still_run(database_url: str) -> None:
    def broken(conn: psycopg.Connection, now: datetime) -> str:
        raise RuntimeError("disk on fire")

    ran: list[bool] = []
    runner = JobRunner(
        [
            Job("test_broken", timedelta(seconds=1), broken),
            Job("test_ok", timedelta(hours=1), lambda c, n: ran.append(True) or "ok"),
        ]
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        first, second = runner.run_due(conn)
        assert (first.ran, first.ok, first.detail) == (True, False, "RuntimeError: disk on fire")
        assert second.ok and ran == [True]
        assert conn.execute("SELECT last_ok FROM scheduler_jobs WHERE name = 'test_broken'").fetchone()[0] is False
        with pytest.raises(ValueError, match="autocommit"), psycopg.connect(database_url) as tx:
            runner.run_due(tx)
