"""`cityops audit verify` and `cityops audit head`.

Exit status of verify: 0 every chain intact, 1 a changed, removed or inserted entry found (named per chain),
2 the check could not run (database unreachable, unknown chain, unreadable anchor file).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from cloud_hub.audit import store
from cloud_hub.audit.chain import Anchor, ChainReport, verify_chain
from cloud_hub.store.db import connect

EXIT_OK, EXIT_TAMPERED, EXIT_ERROR = 0, 1, 2


class AuditCommandError(RuntimeError):
    """The check could not run; the message says why and what to do."""


def verify_log(
    conn: psycopg.Connection, only: str | None = None, anchors: dict[str, Anchor] | None = None
) -> list[ChainReport]:
    """Every chain (or `only`) walked in seq order, plus the anchored chains that have no entries any more."""
    anchors = anchors or {}
    names = sorted(set(store.chain_names(conn)) | set(anchors))
    if only is not None:
        if only not in names:
            raise AuditCommandError(f"no audit chain {only!r}; chains: {', '.join(names) or '(none yet)'}")
        names = [only]
    return [verify_chain(name, store.iter_chain(conn, name), anchors.get(name)) for name in names]


def load_anchor(path: Path) -> dict[str, Anchor]:
    """Chain heads from a file written by `cityops audit head --json`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: Anchor(int(h["seq"]), str(h["hash"])) for name, h in data["chains"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AuditCommandError(
            f"--anchor {path}: not a head file of `cityops audit head --json` ({type(exc).__name__}: {exc})"
        ) from exc


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return args.database_url
    from cloud_hub.core.config import get_settings

    return get_settings().database_url


def _snapshot(url: str) -> psycopg.Connection:
    # One read-only snapshot for the whole walk: every chain is checked as of the same moment.
    conn = connect(url, application_name="cityops-audit")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def verify_command(args: argparse.Namespace) -> int:
    """`cityops audit verify [--database-url URL] [--chain NAME] [--anchor FILE] [--json]`."""
    try:
        anchors = load_anchor(args.anchor) if args.anchor else {}
        with _snapshot(_database_url(args)) as conn:
            reports = verify_log(conn, args.chain, anchors)
    except (AuditCommandError, psycopg.Error) as exc:
        print(f"cityops audit verify: {exc}", file=sys.stderr)
        return EXIT_ERROR
    bad = [r for r in reports if not r.ok]
    if args.json:
        summary: dict[str, Any] = {
            "ok": not bad,
            "chains": len(reports),
            "entries": sum(r.entries for r in reports),
            "anchored": sorted(anchors),
            "results": [r.as_dict() for r in reports],
        }
        print(json.dumps(summary, indent=2))
    else:
        _print_verify(reports, bad, anchored=len(anchors))
    return EXIT_TAMPERED if bad else EXIT_OK


def _print_verify(reports: list[ChainReport], bad: list[ChainReport], anchored: int) -> None:
    entries = sum(r.entries for r in reports)
    for report in bad:
        assert report.problem is not None
        print(f"{report.chain}: {report.problem.kind} entry {report.problem.seq}: {report.problem.message}")
    if bad:
        print(f"audit log NOT intact: {len(bad)} of {len(reports)} chains have a changed, removed or inserted entry")
    else:
        against = f", {anchored} chains checked against the anchor" if anchored else ""
        print(f"audit log intact: {len(reports)} chains, {entries} entries{against}")
    width = max((len(r.chain) for r in reports), default=5)
    for r in reports:
        head = f"seq {r.head_seq} {r.head_hash}" if r.head_seq is not None else "(no entries)"
        print(f"  {r.chain:<{width}}  {r.entries:>9} entries  head {head}{'' if r.ok else '  <- see above'}")


def head_command(args: argparse.Namespace) -> int:
    """`cityops audit head [--database-url URL] [--json]`: each chain's latest (seq, hash), for anchoring."""
    try:
        with _snapshot(_database_url(args)) as conn:
            heads = store.heads(conn)
    except psycopg.Error as exc:
        print(f"cityops audit head: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(
            json.dumps(
                {
                    "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "chains": {h.chain: {"seq": h.seq, "hash": h.hash, "at": h.at.isoformat()} for h in heads},
                },
                indent=2,
            )
        )
        return EXIT_OK
    width = max((len(h.chain) for h in heads), default=5)
    for h in heads:
        print(f"{h.chain:<{width}}  {h.seq:>9}  {h.hash}  {h.at.isoformat()}")
    if not heads:
        print("(the audit log has no entries yet)")
    return EXIT_OK
