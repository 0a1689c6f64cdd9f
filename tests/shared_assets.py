"""The real models and footage of ../shared (beside the checkout), for every test that needs them.

A missing file fails the test under `CI=true`, naming the path, so a CI job without ../shared can never turn green
by skipping; on a developer's machine without the folder the test is skipped with the same message.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MODELS_DIR = SHARED / "models"
MEDIA_DIR = SHARED / "media"


def require_shared(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: the real models and footage are expected in {SHARED}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}, and the CI job must provide them", pytrace=False)
    pytest.skip(message)


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    require_shared(path)
    return path


def shared_media(name: str) -> Path:
    return shared_file("media", name)
