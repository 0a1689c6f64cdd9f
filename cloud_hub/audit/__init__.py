"""Tamper-evident audit log: hash-chained entries in `audit_log` (migration 0018), appended by triggers on the
source tables and by `store.record` (logins), and checked by `cityops audit verify`.

- `canonical`: the canonical encoding and hash of an entry (pure; the SQL side is `audit_canonical`/`audit_hash`).
- `chain`: verification of one chain's entries in seq order (pure).
- `store`: data access (staging entries, reading chains and heads).
- `commands`: `cityops audit verify` and `cityops audit head`.

See docs/audit.md.
"""
