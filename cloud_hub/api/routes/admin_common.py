"""What the admin routers share: who may read and write, paging parameters, and telling routing about a change."""

from __future__ import annotations

from typing import Annotated

import psycopg
from fastapi import Depends, Query, Request

from cloud_hub.api.deps import Offset as Offset  # re-exported: the admin routers page like the others
from cloud_hub.api.deps import require_roles
from cloud_hub.api.problems import problem_responses
from cloud_hub.auth.users import User

# Commanders read districts, grids, rosters and officers because they reassign and escalate work.
Reader = Annotated[User, Depends(require_roles("admin", "commander"))]
Admin = Annotated[User, Depends(require_roles("admin"))]
Limit = Annotated[int, Query(ge=1, le=1000)]

ERRORS = problem_responses(401, 403, 422)
NOT_FOUND = problem_responses(404)
CONFLICT = problem_responses(409)


def routing_changed(request: Request, conn: psycopg.Connection) -> None:
    """Commit the request's change, then reload this replica's grid index so routing uses it at once; the other
    replicas follow within their periodic refresh (GridDirectory, 60 s)."""
    directory = getattr(request.app.state, "grids", None)
    if directory is None:
        return
    conn.commit()
    directory.reload(conn)
