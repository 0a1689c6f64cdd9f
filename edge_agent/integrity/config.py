"""Camera integrity thresholds, per camera in the agent config (`cameras[].integrity`); pydantic only."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IntegrityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_checks_per_s: float = Field(
        2.0,
        gt=0,
        le=60,
        # Every threshold below is in seconds, so checking a few frames a second finds the same faults at the same
        # times as checking all of them, for a fraction of the CPU the inference thread needs.
        description="analyse at most this many frames per second per camera; the others are skipped",
    )
    analysis_width: int = Field(320, ge=64, le=1280, description="frames are reduced to this width, grey")
    check_frozen: bool | None = Field(None, description="None: on for streams and videos, off for still images")
    offline_s: float = Field(60.0, gt=0, description="no frame for this long: offline")
    frozen_s: float = Field(30.0, gt=0, description="identical frames for this long: frozen")
    frozen_max_diff: float = Field(
        0.05,
        ge=0,
        # Static scenes on a live camera still differ by 0.1 or more through sensor and coding noise.
        description="mean grey difference (0..255) that still counts as identical",
    )
    occluded_s: float = Field(10.0, gt=0)
    blank_block_std: float = Field(2.0, gt=0, description="a block this flat (grey std) counts as blank")
    occluded_fraction: float = Field(0.75, gt=0, le=1, description="share of blank blocks that means covered")
    occluded_margin: float = Field(
        0.25, ge=0, le=1, description="...and at least this much more blank than the reference view (flat scenes)"
    )
    moved_s: float = Field(10.0, gt=0)
    moved_shift: float = Field(0.04, gt=0, le=1, description="view shift, as a share of the frame width")
    moved_min_response: float = Field(0.08, ge=0, le=1, description="weaker phase correlation: view unrecognisable")
    defocused_s: float = Field(10.0, gt=0)
    defocus_ratio: float = Field(0.35, gt=0, lt=1, description="sharpness below this share of the reference's")
    clear_s: float = Field(5.0, gt=0, description="a fault ends after its condition has been clear this long")
    reference_after_s: float = Field(5.0, ge=0, description="healthy seconds before the reference view is taken")
    reference_refresh_s: float = Field(600.0, gt=0, description="re-take the reference when healthy (light drift)")
