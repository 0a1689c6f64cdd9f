"""Per-rule licence-plate options (`plates:` in a parking rule of rules/edge/*.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PLATE_MODEL = "lpd_yunet"
"""Manifest name of the plate detector the agent loads when a rule asks for plates."""


class PlateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read: bool = Field(False, description="add the vehicle's plate {text, confidence, corners} to start events")
    blur: bool = Field(False, description="pixelate every plate found in this rule's evidence pictures")

    @property
    def wanted(self) -> bool:
        return self.read or self.blur

    def merged(self, other: PlateOptions) -> PlateOptions:
        """What a set of rules needs loaded: read if any reads, blur if any blurs."""
        return PlateOptions(read=self.read or other.read, blur=self.blur or other.blur)
