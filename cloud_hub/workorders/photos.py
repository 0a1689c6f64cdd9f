"""Data access for work-order photos (table `work_order_photos`, migration 0012): the pictures officers take on
site, stored content-addressed in the evidence store, and linked to the transition they document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

PHOTO_COLUMNS = (
    "photo_id, work_order_id, uploaded_by, sha256, content_type, bytes, width, height, taken_at, lon, lat, note,"
    " uploaded_at, transition_id"
)
MAX_PER_TRANSITION = 20


class PhotoRefused(ValueError):
    """A transition names a photo it may not use (HTTP 422); the message names the photo and the fix."""


@dataclass(frozen=True, slots=True)
class NewPhoto:
    work_order_id: int
    uploaded_by: str
    sha256: str
    content_type: str
    bytes: int
    width: int
    height: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None
    note: str | None


def insert_photo(conn: psycopg.Connection, photo: NewPhoto) -> dict[str, Any]:
    """Record an uploaded photo; the order's updated_at moves too, so live views learn of the new picture."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"INSERT INTO work_order_photos (work_order_id, uploaded_by, sha256, content_type, bytes, width, height,"
            f" taken_at, lon, lat, note) VALUES (%(work_order_id)s, %(uploaded_by)s, %(sha256)s, %(content_type)s,"
            f" %(bytes)s, %(width)s, %(height)s, %(taken_at)s, %(lon)s, %(lat)s, %(note)s) RETURNING {PHOTO_COLUMNS}",
            asdict(photo),
        )
        row = cur.fetchone()
    conn.execute("UPDATE work_orders SET updated_at = now() WHERE id = %s", (photo.work_order_id,))
    assert row is not None
    return row


def list_photos(conn: psycopg.Connection, order_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {PHOTO_COLUMNS} FROM work_order_photos WHERE work_order_id = %s ORDER BY uploaded_at, photo_id",
            (order_id,),
        )
        return cur.fetchall()


def get_photo(conn: psycopg.Connection, order_id: int, photo_id: UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {PHOTO_COLUMNS} FROM work_order_photos WHERE work_order_id = %s AND photo_id = %s",
            (order_id, photo_id),
        )
        return cur.fetchone()


def lock_for_transition(conn: psycopg.Connection, order_id: int, photo_ids: Sequence[UUID]) -> list[UUID]:
    """The photos a transition names, row-locked: each must be of this order and not yet evidence of another
    transition. Raises PhotoRefused naming the first one that is not."""
    wanted = list(dict.fromkeys(photo_ids))
    if not wanted:
        return []
    if len(wanted) > MAX_PER_TRANSITION:
        raise PhotoRefused(f"photos: at most {MAX_PER_TRANSITION} per transition, got {len(wanted)}")
    found = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "SELECT photo_id, work_order_id, transition_id FROM work_order_photos WHERE photo_id = ANY(%s)"
            " ORDER BY photo_id FOR UPDATE",
            (wanted,),
        ).fetchall()
    }
    for photo_id in wanted:
        order, linked = found.get(photo_id, (None, None))
        if order != order_id:
            raise PhotoRefused(
                f"photos: {photo_id} is not a photo of work order {order_id}; upload it first with "
                f"POST /api/v1/work-orders/{order_id}/photos"
            )
        if linked is not None:
            raise PhotoRefused(f"photos: {photo_id} is already the evidence of transition {linked}")
    return wanted


def link_photos(conn: psycopg.Connection, photo_ids: Sequence[UUID], transition_id: int) -> None:
    if photo_ids:
        conn.execute(
            "UPDATE work_order_photos SET transition_id = %s WHERE photo_id = ANY(%s)", (transition_id, list(photo_ids))
        )
