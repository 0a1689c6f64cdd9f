"""GET /healthz (database, ingest, evidence store, database features) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from cloud_hub.evidence.factory import open_evidence_store

router = APIRouter(tags=["health"])


def _database_reachable(request: Request) -> tuple[bool, str | None]:
    pool = getattr(request.app.state, "pool", None)
    if pool is None:
        return False, "not started"
    try:
        with pool.connection(timeout=2.0) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not reachable"; the reason goes into the answer
        return False, f"{type(exc).__name__}: {exc}"
    return True, None


def _evidence_store(request: Request) -> dict[str, Any]:
    try:
        return open_evidence_store(request.app.state.settings).status()
    except Exception as exc:  # a misconfigured store is reported, not a failed health check
        return {"kind": None, "full": None, "error": f"{type(exc).__name__}: {exc}"}


@router.get("/healthz", operation_id="healthz")
def healthz(request: Request) -> JSONResponse:
    """`ok` when the database answers, ingest (if this process runs it) is healthy and the evidence store takes
    writes, else `degraded` (a full evidence store refuses pictures with 507; events are still stored).

    HTTP 503 when the database is unreachable (this replica cannot serve), 200 otherwise."""
    db_ok, db_error = _database_reachable(request)
    ingest = getattr(request.app.state, "ingest", None)
    ingest_state: dict[str, Any]
    if ingest is None:
        ingest_state = {"enabled": False, "healthy": None}
    else:
        ingest_state = {"enabled": True, "healthy": bool(ingest.healthy()), "stats": ingest.stats()}
    caps = getattr(request.app.state, "capabilities", None)
    evidence = _evidence_store(request)
    healthy = db_ok and ingest_state["healthy"] is not False and not evidence.get("full")
    body = {
        "status": "ok" if healthy else "degraded",
        "database": {"reachable": db_ok, **({"error": db_error} if db_error else {})},
        "ingest": ingest_state,
        "evidence_store": evidence,
        "timescaledb": caps.as_dict() if caps is not None else None,
        "database_features": caps.describe() if caps is not None else None,
    }
    return JSONResponse(body, status_code=status.HTTP_200_OK if db_ok else status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get("/metrics", operation_id="metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
