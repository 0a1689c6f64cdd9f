"""Manifest entries for exported Ultralytics models, in the format `edge_agent.models.manifest` reads.

`ultralytics_entry` is pure; `add_to_manifest` appends the entry as text (the manifest's comments survive a
write-back that yaml.safe_dump would drop) and validates the result with the edge's own loader, restoring the
file when the edge would refuse it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

NAME_RE = re.compile(r"^[a-z0-9_]+$")
NEW_MANIFEST_HEADER = "# Model manifest written by `cityops models export` (format: models/manifest.yaml).\n"


class ManifestEntryError(ValueError):
    """The entry cannot be added: a name clash, a manifest in another shape, or one the edge would refuse."""


def model_name(text: str) -> str:
    """A manifest-safe name (lower case, digits, underscores) from a file stem or a user's name."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    if not name:
        raise ManifestEntryError(f"cannot make a model name from {text!r}: use --name with letters or digits")
    return name


def ultralytics_entry(
    *,
    name: str,
    version: str,
    file: str,
    sha256: str,
    classes: list[str],
    imgsz: tuple[int, int],
    precision: str,
    source_url: str = "",
    licence: str = "AGPL-3.0",
) -> dict[str, Any]:
    """The entry of an Ultralytics YOLOv8/YOLO11 detect export: RGB / 255, centred letterbox padded with 114,
    output (1, 4 + C, A) decoded by the edge's `ultralytics` layout. `imgsz` is (width, height)."""
    if not NAME_RE.match(name):
        raise ManifestEntryError(f"model name {name!r} must match {NAME_RE.pattern}")
    if not classes:
        raise ManifestEntryError(f"model {name!r}: the export names no classes")
    return {
        "name": name,
        "version": version,
        "task": "detection",
        "file": file,
        "sha256": sha256,
        "classes": list(classes),
        "input": {
            "name": "images",
            "size": [int(imgsz[0]), int(imgsz[1])],
            "channel_order": "rgb",
            "mean": [0, 0, 0],
            "std": [255, 255, 255],
            "letterbox": "center",
            "pad_value": 114,
        },
        "output": {"layout": "ultralytics"},
        "licence": licence,
        # The hub's registry is where a trained model is fetched from; a local file until it is published.
        "source_url": source_url or f"file:{file}",
        "notes": f"trained with `cityops models train`, exported {precision} by `cityops models export`",
    }


def _entry_text(entry: dict[str, Any]) -> str:
    dumped = yaml.safe_dump([entry], sort_keys=False, width=120, allow_unicode=True, default_flow_style=None)
    return "".join(f"  {line}" if line.strip() else line for line in dumped.splitlines(keepends=True))


def _existing(data: dict[str, Any]) -> list[dict[str, Any]]:
    models = data.get("models") or []
    if not isinstance(models, list):
        raise ManifestEntryError("the manifest's `models` is not a list")
    return [m for m in models if isinstance(m, dict)]


def add_to_manifest(path: Path, entry: dict[str, Any]) -> str:
    """Add `entry` to the manifest at `path` (created when missing); returns 'added' or 'unchanged'.

    The same name with the same sha256 is left as is (export is re-runnable); the same name with another file is
    refused, since boxes that run that name would silently get different weights."""
    from edge_agent.config import ConfigError
    from edge_agent.models.manifest import load_manifest

    if not path.exists():
        doc = {"version": 1, "class_lists": {}, "models": [entry]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(NEW_MANIFEST_HEADER + yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True))
        original = None
    else:
        original = path.read_text()
        data = yaml.safe_load(original) or {}
        if not isinstance(data, dict):
            raise ManifestEntryError(f"{path} is not a mapping; is it a model manifest?")
        for other in _existing(data):
            if other.get("name") == entry["name"]:
                if other.get("sha256") == entry["sha256"]:
                    return "unchanged"
                raise ManifestEntryError(
                    f"{path} already has a model named {entry['name']!r} with sha256 {other.get('sha256')}; "
                    "give this export another --name (or --version suffix) or remove the old entry first"
                )
        keys = list(data)
        if not data.get("models"):
            raise ManifestEntryError(f"{path} has no `models:` list to append to; add `models:` with one entry first")
        if keys[-1] != "models":
            raise ManifestEntryError(f"{path}: `models:` must be the last top-level key so entries can be appended")
        text = original if original.endswith("\n") else original + "\n"
        path.write_text(text + "\n" + _entry_text(entry))
    try:
        load_manifest(path).get(entry["name"])
    except ConfigError as exc:  # never leave a manifest the edge cannot load
        if original is None:
            path.unlink()
        else:
            path.write_text(original)
        raise ManifestEntryError(f"the edge refuses the new entry, {path} left as it was: {exc}") from None
    return "added"
