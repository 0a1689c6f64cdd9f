"""/api/v1/webhooks: outgoing webhooks, managed by administrators. A subscription names a receiver's URL and the
event types it wants (GET /api/v1/webhooks/event-types); the hub signs every delivery with the subscription's
secret (shown once, at creation or rotation), retries failures with backoff and keeps what never got through as
dead letters, which can be sent again here. See docs/case-handling.md for the receiver's side."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import AnyHttpUrl, BaseModel, Field, field_validator

from cloud_hub.admin.audit import record_change
from cloud_hub.api.deps import ConnDep, require_roles
from cloud_hub.api.problems import problem_responses
from cloud_hub.api.routes.admin_common import Limit, Offset
from cloud_hub.api.schemas import Page
from cloud_hub.auth.users import User
from cloud_hub.webhooks import events
from cloud_hub.webhooks import store as hooks

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=problem_responses(401, 403, 422))

Admin = Annotated[User, Depends(require_roles("admin"))]
NOT_FOUND = problem_responses(404)
MIN_SECRET = 16


def _event_types(value: list[str]) -> list[str]:
    unknown = [e for e in value if e not in events.EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; choose from {', '.join(events.EVENT_TYPES)}")
    return list(dict.fromkeys(value))


def _http_url(value: AnyHttpUrl) -> None:
    if value.username or value.password:
        raise ValueError("put no credentials in the URL; receivers check the signature instead")


class SubscriptionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="what the receiver is, e.g. SMS gateway")
    url: AnyHttpUrl = Field(description="http(s) URL the hub POSTs each event to (redirects are not followed)")
    events: list[str] = Field(min_length=1, description="event types (GET /api/v1/webhooks/event-types)")
    secret: str | None = Field(
        None, min_length=MIN_SECRET, max_length=200, description="HMAC key; default: the hub generates one"
    )
    active: bool = True

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _event_types(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        _http_url(value)
        return value


class SubscriptionUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    url: AnyHttpUrl | None = None
    events: list[str] | None = Field(None, min_length=1)
    active: bool | None = Field(None, description="false: nothing is queued or sent until it is true again")
    rotate_secret: bool = Field(False, description="true: a new generated secret, answered once")

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return _event_types(value) if value is not None else None

    @field_validator("url")
    @classmethod
    def _url(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None:
            _http_url(value)
        return value


class SubscriptionPublic(BaseModel):
    id: int
    name: str
    url: str
    events: list[str]
    active: bool
    failures: int = Field(description="failed attempts in a row; the receiver is paused while retry_at is ahead")
    retry_at: datetime | None
    pending: int = Field(description="deliveries waiting to be sent")
    dead: int = Field(description="dead letters (re-drive with POST .../redeliver)")
    created_by: str
    created_at: datetime
    updated_at: datetime


class SubscriptionWithSecret(SubscriptionPublic):
    secret: str = Field(description="shown this once: configure it in the receiver to check signatures")


class DeliveryPublic(BaseModel):
    delivery_id: UUID = Field(description="stable across retries (X-CityOps-Delivery): receivers dedup on it")
    subscription_id: int
    event_type: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None = Field(description="HTTP status of the last attempt (null: no answer)")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None


class DeliveryDetail(DeliveryPublic):
    body: str = Field(description="the JSON body exactly as sent")


class EventType(BaseModel):
    name: str
    description: str


class Redelivered(BaseModel):
    requeued: int = Field(description="dead letters put back in the queue, due now")


def _audit(row: dict[str, Any]) -> dict[str, Any]:
    return SubscriptionPublic.model_validate(row).model_dump(mode="json", exclude={"pending", "dead", "retry_at"})


def _require(conn: Any, subscription_id: int, lock: bool = False) -> dict[str, Any]:
    row = hooks.get_subscription(conn, subscription_id, lock=lock)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook subscription {subscription_id} not found")
    return row


@router.get("/event-types", operation_id="list_webhook_event_types")
def list_webhook_event_types(user: Admin) -> Page[EventType]:
    data = [EventType(name=k, description=v) for k, v in events.EVENT_TYPES.items()]
    return Page[EventType](data=data, count=len(data))


@router.post("/subscriptions", operation_id="create_webhook_subscription", status_code=status.HTTP_201_CREATED)
def create_webhook_subscription(body: SubscriptionCreate, conn: ConnDep, user: Admin) -> SubscriptionWithSecret:
    """Events from now on are queued for the receiver; the secret (given or generated) is answered this once."""
    secret = body.secret or secrets.token_urlsafe(32)
    row = hooks.create_subscription(conn, body.name, str(body.url), body.events, secret, body.active, user.username)
    record_change(conn, user, "webhook", str(row["id"]), "create", after=_audit(row))
    return SubscriptionWithSecret(**row, secret=secret)


@router.get("/subscriptions", operation_id="list_webhook_subscriptions")
def list_webhook_subscriptions(
    conn: ConnDep, user: Admin, limit: Limit = 100, offset: Offset = 0
) -> Page[SubscriptionPublic]:
    rows, count = hooks.list_subscriptions(conn, limit, offset)
    return Page[SubscriptionPublic](data=[SubscriptionPublic.model_validate(r) for r in rows], count=count)


@router.get("/subscriptions/{subscription_id}", operation_id="get_webhook_subscription", responses=NOT_FOUND)
def get_webhook_subscription(subscription_id: int, conn: ConnDep, user: Admin) -> SubscriptionPublic:
    return SubscriptionPublic.model_validate(_require(conn, subscription_id))


@router.patch(
    "/subscriptions/{subscription_id}",
    operation_id="update_webhook_subscription",
    responses=NOT_FOUND,
    response_model=SubscriptionWithSecret | SubscriptionPublic,
)
def update_webhook_subscription(
    subscription_id: int, body: SubscriptionUpdate, conn: ConnDep, user: Admin
) -> SubscriptionWithSecret | SubscriptionPublic:
    """Change name, URL, event types or active; `rotate_secret` answers the new secret once (signatures with the old
    secret stop at the next attempt). A new URL or re-activation ends a failing receiver's pause."""
    before = _require(conn, subscription_id, lock=True)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"rotate_secret"}, exclude_none=True)
    if "url" in changes:
        changes["url"] = str(body.url)
    secret = secrets.token_urlsafe(32) if body.rotate_secret else None
    if secret is not None:
        changes["secret"] = secret
    hooks.update_subscription(conn, subscription_id, changes)
    after = _require(conn, subscription_id)
    action = "rotate_secret" if secret and len(changes) == 1 else "update"
    record_change(conn, user, "webhook", str(subscription_id), action, _audit(before), _audit(after))
    if secret is not None:
        return SubscriptionWithSecret(**after, secret=secret)
    return SubscriptionPublic.model_validate(after)


@router.delete(
    "/subscriptions/{subscription_id}",
    operation_id="delete_webhook_subscription",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def delete_webhook_subscription(subscription_id: int, conn: ConnDep, user: Admin) -> Response:
    """Delete the subscription and its queue (pending deliveries are not sent; deactivate instead to keep them)."""
    before = _require(conn, subscription_id, lock=True)
    hooks.delete_subscription(conn, subscription_id)
    record_change(conn, user, "webhook", str(subscription_id), "delete", before=_audit(before))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/subscriptions/{subscription_id}/ping",
    operation_id="ping_webhook_subscription",
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
)
def ping_webhook_subscription(subscription_id: int, conn: ConnDep, user: Admin) -> DeliveryPublic:
    """Queue a `ping` event to the receiver (to check its URL and signature check); follow it in the deliveries."""
    _require(conn, subscription_id)
    delivery_id = uuid.uuid4()
    data = orjson.dumps({"subscription_id": subscription_id, "requested_by": user.username}).decode()
    body = events.body(delivery_id, events.PING, datetime.now(UTC), data, None)
    hooks.insert_deliveries(conn, [hooks.NewDelivery(delivery_id, subscription_id, None, events.PING, body)])
    row = hooks.get_delivery(conn, delivery_id)
    assert row is not None
    return DeliveryPublic.model_validate(row)


@router.post(
    "/subscriptions/{subscription_id}/redeliver",
    operation_id="redeliver_webhook_dead_letters",
    responses=NOT_FOUND,
)
def redeliver_webhook_dead_letters(subscription_id: int, conn: ConnDep, user: Admin) -> Redelivered:
    """Re-drive every dead letter of the subscription (e.g. once its receiver is fixed)."""
    _require(conn, subscription_id)
    return Redelivered(requeued=hooks.redeliver(conn, None, subscription_id))


@router.get("/deliveries", operation_id="list_webhook_deliveries")
def list_webhook_deliveries(
    conn: ConnDep,
    user: Admin,
    subscription_id: int | None = None,
    status_: Annotated[Literal["pending", "delivered", "dead"] | None, Query(alias="status")] = None,
    event_type: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[DeliveryPublic]:
    """Deliveries newest first (`status=dead`: the dead letters), without their bodies."""
    filters = hooks.DeliveryFilters(subscription_id, status_, event_type, limit, offset)
    rows, count = hooks.list_deliveries(conn, filters)
    return Page[DeliveryPublic](data=[DeliveryPublic.model_validate(r) for r in rows], count=count)


@router.get("/deliveries/{delivery_id}", operation_id="get_webhook_delivery", responses=NOT_FOUND)
def get_webhook_delivery(delivery_id: UUID, conn: ConnDep, user: Admin) -> DeliveryDetail:
    row = hooks.get_delivery(conn, delivery_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook delivery {delivery_id} not found")
    return DeliveryDetail.model_validate(row)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    operation_id="redeliver_webhook_delivery",
    responses={**NOT_FOUND, **problem_responses(409)},
)
def redeliver_webhook_delivery(delivery_id: UUID, conn: ConnDep, user: Admin) -> DeliveryPublic:
    """Put one dead letter back in the queue, due now, with a fresh attempt count (409 unless it is dead)."""
    row = hooks.get_delivery(conn, delivery_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook delivery {delivery_id} not found")
    if row["status"] != "dead":
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"webhook delivery {delivery_id} is {row['status']}; only dead letters are resent"
        )
    hooks.redeliver(conn, [delivery_id], None)
    again = hooks.get_delivery(conn, delivery_id)
    assert again is not None
    return DeliveryPublic.model_validate(again)
