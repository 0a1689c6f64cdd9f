"""Helpers of the technician tests: ../shared files that must be there (a failure naming the path, never a skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def shared_file(*parts: str) -> Path:
    """A file of ../shared beside the checkout. Missing fails the test with the path (CI=true or not): these tests
    prove behaviour on real media and must not pass by being skipped."""
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        where = "CI=true: the CI job must provide" if os.environ.get("CI") == "true" else "expected"
        pytest.fail(f"{path} is missing ({where} the shared models/media folder at {SHARED})", pytrace=False)
    return path


def shared_media(name: str) -> Path:
    return shared_file("media", name)
