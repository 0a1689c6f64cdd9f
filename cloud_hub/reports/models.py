"""What a hotline system sends (pydantic, also the OpenAPI request schema) and its canonical content. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cloud_hub.workorders.images import MAX_PHOTO_BYTES

CASE_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_PHOTOS = 5
# base64 of the largest photo the hub keeps (4 characters per 3 bytes), plus line breaks some encoders add
MAX_PHOTO_BASE64 = (MAX_PHOTO_BYTES + 2) // 3 * 4 + MAX_PHOTO_BYTES // 57 + 16


class ReportPlace(BaseModel):
    """Where: a point (WGS 84, as GPS gives it; convert GCJ-02 map coordinates first) and/or the address as said."""

    model_config = ConfigDict(extra="forbid")

    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    address: str | None = Field(None, min_length=1, max_length=500)
    district: str | None = Field(
        None, min_length=1, max_length=64, description="district id the hotline assigned; used when no grid is found"
    )

    @model_validator(mode="after")
    def _somewhere(self) -> ReportPlace:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together: send both or neither")
        if self.lon is None and self.address is None:
            raise ValueError("say where: lon and lat, or the address, or both")
        return self


class ReportPhoto(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        min_length=1,
        max_length=MAX_PHOTO_BASE64,
        description="the JPEG, PNG or WebP picture, base64 (at most 10 MB decoded)",
        json_schema_extra={"contentEncoding": "base64"},
    )
    note: str | None = Field(None, max_length=500)
    taken_at: AwareDatetime | None = None


class ReportSubmission(BaseModel):
    """A case from the hotline. `case_number` is the idempotency key: send the same case again after a timeout and
    the answer is the case already opened; a different case under a used number is refused (409)."""

    model_config = ConfigDict(extra="forbid")

    case_number: str = Field(pattern=CASE_NUMBER_PATTERN, description="the hotline's case number, e.g. GL2026112300123")
    category: str = Field(min_length=1, max_length=64, description="a category of rules/hub/reports.yaml")
    text: str = Field(min_length=1, max_length=4000, description="what the citizen reported")
    place: ReportPlace
    reported_at: AwareDatetime | None = Field(None, description="when the citizen called; default: when received")
    photos: list[ReportPhoto] = Field(default_factory=list, max_length=MAX_PHOTOS)


def canonical_content(submission: ReportSubmission, photo_sha256: list[str]) -> dict[str, Any]:
    """What identifies the case's content (photos by sha256), JSON-ready; equal for a faithful retry."""
    return {
        "category": submission.category,
        "text": submission.text,
        "place": submission.place.model_dump(mode="json"),
        "reported_at": _utc(submission.reported_at),
        "photos": [
            {"sha256": sha, "note": p.note, "taken_at": _utc(p.taken_at)}
            for sha, p in zip(photo_sha256, submission.photos, strict=True)
        ],
    }


def _utc(moment: datetime | None) -> str | None:
    # One spelling per instant: "Z", "+00:00" and "+08:00" forms of the same time are the same content.
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def differences(stored: dict[str, Any], sent: dict[str, Any]) -> list[str]:
    """The top-level fields in which a retry differs from the case stored under its number."""
    return [key for key in sent if stored.get(key) != sent.get(key)] + [k for k in stored if k not in sent]
