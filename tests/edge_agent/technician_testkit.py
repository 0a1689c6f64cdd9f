"""Helpers of the technician tests: ../shared files that must be there (tests/shared_assets.py)."""

from tests.shared_assets import shared_file as shared_file
from tests.shared_assets import shared_media as shared_media
