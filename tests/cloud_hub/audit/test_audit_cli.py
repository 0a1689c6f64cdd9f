"""`cityops audit verify` and `cityops audit head`, run as an operator would, catching tampering done with SQL the
way a superuser could: the append-only trigger disabled, a row edited, a row deleted, a forged row inserted.

Each tampering goes to its own chain, so each test can name exactly what it expects; the tests run in file order."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from cloud_hub.audit import store

Cityops = Callable[..., subprocess.CompletedProcess[str]]


def fill(database_url: str, chain: str, n: int) -> None:
    with psycopg.connect(database_url) as c:
        for i in range(n):
            store.record(c, chain, "update", actor="admin", role="admin", entity="user", entity_id=f"u{i}",
                         detail={"i": i, "name": "张三", "ratio": 0.25})  # fmt: skip
            c.commit()


@contextmanager
def trigger_disabled(conn: psycopg.Connection) -> Iterator[None]:
    """What a superuser (or the table's owner) can do; the log cannot stop it, only show it."""
    conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
    try:
        yield
    finally:
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")


def verify(cityops: Cityops, *args: str) -> tuple[int, str]:
    done = cityops("audit", "verify", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, done.stdout


def test_intact_log_verifies_with_a_summary(database_url: str, cityops: Cityops) -> None:
    for chain in ("t_edit", "t_delete", "t_insert", "t_tail"):
        fill(database_url, chain, 5)
    code, out = verify(cityops)
    assert code == 0, out
    assert "audit log intact: 4 chains, 20 entries" in out
    done = cityops("audit", "verify", "--json")
    summary = json.loads(done.stdout)
    assert done.returncode == 0 and summary["ok"] and summary["entries"] == 20
    heads = {r["chain"]: (r["head_seq"], r["head_hash"]) for r in summary["results"]}
    with psycopg.connect(database_url) as c:
        assert heads == {h.chain: (h.seq, h.hash) for h in store.heads(c)}


def test_edited_row_is_caught(database_url: str, conn: psycopg.Connection, cityops: Cityops) -> None:
    with trigger_disabled(conn):
        conn.execute(
            "UPDATE audit_log SET detail = jsonb_set(detail, '{name}', '\"李四\"') WHERE chain = 't_edit' AND seq = 3"
        )
    code, out = verify(cityops, "--chain", "t_edit")
    assert code == 1
    assert "t_edit: changed entry 3: entry 3 was changed" in out


def test_deleted_row_is_caught(database_url: str, conn: psycopg.Connection, cityops: Cityops) -> None:
    with trigger_disabled(conn):
        conn.execute("DELETE FROM audit_log WHERE chain = 't_delete' AND seq = 2")
    code, out = verify(cityops, "--chain", "t_delete")
    assert code == 1
    assert "t_delete: removed entry 2: entry 2 is missing (seq jumps from 1 to 3)" in out


def test_forged_row_is_caught(database_url: str, conn: psycopg.Connection, cityops: Cityops) -> None:
    """A forger who knows the encoding inserts a row with a correct hash of its own content; it cannot chain."""
    conn.execute(
        "INSERT INTO audit_log (chain, seq, at, actor, role, action, entity, entity_id, detail, prev_hash, hash)"
        " SELECT 't_insert', 6, now(), 'admin', 'admin', 'update', 'user', 'mallory', '{}', repeat('0', 64),"
        " audit_hash('t_insert', 6, now(), 'admin', 'admin', 'update', 'user', 'mallory', '{}', repeat('0', 64))"
    )
    code, out = verify(cityops, "--chain", "t_insert")
    assert code == 1
    assert "t_insert: inserted entry 6: entry 6, the last, does not chain onto entry 5" in out


def test_whole_log_names_every_tampered_chain(cityops: Cityops) -> None:
    code, out = verify(cityops)
    assert code == 1
    assert "audit log NOT intact: 3 of 4 chains" in out
    summary = json.loads(cityops("audit", "verify", "--json").stdout)
    problems = {r["chain"]: (r["problem"]["kind"], r["problem"]["seq"]) for r in summary["results"] if r["problem"]}
    assert problems == {"t_edit": ("changed", 3), "t_delete": ("removed", 2), "t_insert": ("inserted", 6)}


def test_cut_tail_needs_the_anchor(conn: psycopg.Connection, cityops: Cityops, tmp_path: Path) -> None:
    head = cityops("audit", "head", "--json")
    assert head.returncode == 0, head.stderr
    anchor = tmp_path / "audit-head.json"
    anchor.write_text(head.stdout)
    assert json.loads(head.stdout)["chains"]["t_tail"]["seq"] == 5
    with trigger_disabled(conn):
        conn.execute("DELETE FROM audit_log WHERE chain = 't_tail' AND seq >= 4")
    assert verify(cityops, "--chain", "t_tail")[0] == 0  # a shorter chain is still a valid chain
    code, out = verify(cityops, "--chain", "t_tail", "--anchor", str(anchor))
    assert code == 1
    assert "t_tail: removed entry 4: entries 4 to 5 were removed: the anchor names entry 5" in out


def test_unusable_input_exits_2(cityops: Cityops, tmp_path: Path) -> None:
    done = cityops("audit", "verify", "--chain", "no_such_chain")
    assert done.returncode == 2 and "no audit chain 'no_such_chain'" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = cityops("audit", "verify", "--anchor", str(bad))
    assert done.returncode == 2 and "not a head file" in done.stderr
