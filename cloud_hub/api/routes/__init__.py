"""One APIRouter per resource, each with prefix /api/v1."""
