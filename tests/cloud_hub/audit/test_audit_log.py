"""The audit log in the real database: appends at commit, append-only, no forks under concurrent writers, and every
source table's changes appear."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cloud_hub.audit import store
from cloud_hub.audit.chain import verify_chain


def entries(conn: psycopg.Connection, chain: str) -> list[tuple]:
    return conn.execute(
        "SELECT seq, actor, role, action, entity, entity_id, detail FROM audit_log WHERE chain = %s ORDER BY seq",
        (chain,),
    ).fetchall()


def check(database_url: str, chain: str) -> int:
    """Verify `chain` with the Python verifier; returns its length."""
    with psycopg.connect(database_url) as c:
        report = verify_chain(chain, store.iter_chain(c, chain))
    assert report.ok, report.problem
    return report.entries


def test_appended_at_commit_and_dropped_with_a_rollback(database_url: str, conn: psycopg.Connection) -> None:
    with psycopg.connect(database_url) as c:
        store.record(c, "t_commit", "kept", actor="a", role="admin", detail={"n": 1})
        assert entries(conn, "t_commit") == []  # staged, not appended before the commit
        c.commit()
        store.record(c, "t_commit", "rolled_back", actor="a", role="admin")
        c.rollback()
        store.record(c, "t_commit", "kept_too", actor="a", role="admin")
        with c.transaction():  # a savepoint that fails takes its entries with it
            try:
                with c.transaction():
                    store.record(c, "t_commit", "in_failed_savepoint", actor="a", role="admin")
                    c.execute("SELECT 1 / 0")
            except psycopg.errors.DivisionByZero:
                pass
        c.commit()
    assert [e[3] for e in entries(conn, "t_commit")] == ["kept", "kept_too"]
    assert conn.execute("SELECT count(*) FROM audit_flush_marks").fetchone() == (0,)
    assert check(database_url, "t_commit") == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE chain = 't_commit'",
        "DELETE FROM audit_log WHERE chain = 't_commit'",
        "TRUNCATE audit_log",
    ],
)
def test_append_only_even_for_a_superuser(conn: psycopg.Connection, statement: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match="audit_log is append-only"):
        conn.execute(statement)


def test_the_owning_role_has_no_update_or_delete_right(conn: psycopg.Connection) -> None:
    owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'").fetchone()
    assert owner is not None
    rights = conn.execute(
        "SELECT has_table_privilege(%s, 'audit_log', 'UPDATE'), has_table_privilege(%s, 'audit_log', 'DELETE')",
        (owner[0], owner[0]),
    ).fetchone()
    is_superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", owner).fetchone()
    assert rights == (False, False) or is_superuser == (True,)  # a superuser owner bypasses privileges


def test_concurrent_writers_never_fork_a_chain(database_url: str, conn: psycopg.Connection) -> None:
    """Threads on their own connections append to the same chains at once, some to two chains per transaction in
    opposite orders (the flush locks chains in one order, so they cannot deadlock); every chain stays one line."""
    threads, transactions = 6, 20
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            with psycopg.connect(database_url) as c:
                start.wait()
                for i in range(transactions):
                    first, second = ("t_conc_a", "t_conc_b") if n % 2 else ("t_conc_b", "t_conc_a")
                    store.record(c, first, "write", actor=f"w{n}", role="admin", detail={"i": i})
                    if i % 3 == 0:
                        # Through a source table's trigger too: same transaction, same commit.
                        c.execute(
                            "INSERT INTO admin_changes (actor, role, entity, entity_id, action, after)"
                            " VALUES (%s, 'admin', 'user', %s, 'update', %s)",
                            (f"w{n}", f"u{n}", Jsonb({"i": i})),
                        )
                        store.record(c, second, "write", actor=f"w{n}", role="admin", detail={"i": i})
                    time.sleep(rng.random() * 0.002)
                    c.commit()
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    admin_before = len(entries(conn, "admin"))
    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors, errors
    with_second = threads * len(range(0, transactions, 3))
    assert check(database_url, "t_conc_a") + check(database_url, "t_conc_b") == threads * transactions + with_second
    assert check(database_url, "admin") == admin_before + with_second
    seqs = [e[0] for e in entries(conn, "t_conc_a")]
    assert seqs == list(range(1, len(seqs) + 1))


def test_sources_appear_in_their_chains(database_url: str, conn: psycopg.Connection) -> None:
    conn.execute("UPDATE hub_modes SET enabled = true WHERE name = 'rainstorm'")
    conn.execute("INSERT INTO hub_mode_changes (name, enabled, note, actor, role) VALUES ('rainstorm', true, 'rain',"
                 " 'commander1', 'commander')")  # fmt: skip
    command_id = conn.execute(
        "INSERT INTO device_commands (device_id, name, args, actor, role)"
        " VALUES ('edge-1', 'reboot', '{\"delay_s\": 5}', 'tech1', 'technician') RETURNING id"
    ).fetchone()[0]  # type: ignore[index]
    conn.execute("UPDATE device_commands SET cmd_id = 'c-1', sent_at = now() WHERE id = %s", (command_id,))
    conn.execute(
        "INSERT INTO device_configs (device_id, version, config, actor, role)"
        " VALUES ('edge-1', 1, '{\"cameras\": []}', 'tech1', 'technician')"
    )
    modes = entries(conn, "modes")
    assert modes[-1][1:6] == ("commander1", "commander", "mode_enabled", "mode", "rainstorm")
    devices = [(e[3], e[5], e[1]) for e in entries(conn, "devices")]
    assert devices == [("command", "edge-1", "tech1"), ("command_sent", "edge-1", "tech1"),
                       ("config_push", "edge-1", "tech1")]  # fmt: skip
    assert entries(conn, "devices")[0][6]["args"] == {"delay_s": 5}
    check(database_url, "modes")
    check(database_url, "devices")
