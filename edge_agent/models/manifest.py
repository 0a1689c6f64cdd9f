"""Read `models/manifest.yaml` and resolve a model name to a verified weights file.

The sha256 of a weights file is checked before it is loaded; the result is cached by (path, size, mtime) so an
agent restart does not hash tens of megabytes again. A mismatch is refused with a message saying what to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.config import ConfigError, format_validation_error, read_yaml_mapping

log = logging.getLogger(__name__)

# In a checkout a link to models/manifest.yaml; in an installed wheel a copy of it (package data), so the agent
# finds its manifest wherever it is installed and whatever folder it runs from.
DEFAULT_MANIFEST = Path(__file__).resolve().parent / "manifest.yaml"
Layout = Literal["yolox", "nanodet", "ultralytics", "yunet", "lpd_yunet"]


class ModelIntegrityError(RuntimeError):
    """The weights file is missing or is not the file the manifest names."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    name: str | None = None
    size: tuple[int, int] | None = Field(None, description="network input (width, height); None = any size")
    channel_order: Literal["bgr", "rgb"] = "bgr"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    letterbox: Literal["top_left", "center", "none"] = "top_left"
    pad_value: int = Field(114, ge=0, le=255)


class OutputSpec(_Strict):
    layout: Layout
    strides: tuple[int, ...] = (8, 16, 32)
    reg_max: int = 7


class ModelSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    version: str
    task: Literal["detection", "face_detection", "plate_detection"]
    file: str
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    classes: tuple[str, ...]
    input: InputSpec
    output: OutputSpec
    licence: str
    source_url: str
    notes: str = ""


class Manifest(_Strict):
    version: Literal[1]
    class_lists: dict[str, list[str]]
    models: list[ModelSpec]

    @model_validator(mode="before")
    @classmethod
    def _expand_class_lists(cls, data: object) -> object:
        """`classes: coco80` refers to a list under `class_lists`, so the 80 names are written once."""
        if not isinstance(data, dict):
            return data
        lists = data.get("class_lists") or {}
        models = []
        for entry in data.get("models") or []:
            if isinstance(entry, dict) and isinstance(entry.get("classes"), str):
                ref = entry["classes"]
                if ref not in lists:
                    raise ValueError(f"model {entry.get('name')!r}: classes {ref!r} is not a key of class_lists")
                entry = {**entry, "classes": lists[ref]}
            models.append(entry)
        return {**data, "models": models}

    def get(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.models)
        raise ConfigError(f"model {name!r} is not in the model manifest; known models: {known}")


def load_manifest(path: Path | None = None) -> Manifest:
    path = path or DEFAULT_MANIFEST
    data = read_yaml_mapping(path)
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelStore:
    """Resolves model names to verified files in `models_dir`; remembers verified hashes in `cache_path`."""

    def __init__(self, manifest: Manifest, models_dir: Path, cache_path: Path | None = None) -> None:
        self.manifest = manifest
        self.models_dir = models_dir
        self.cache_path = cache_path

    def resolve(self, name: str) -> tuple[ModelSpec, Path]:
        """The spec and the path of a model whose file matches the manifest's sha256."""
        spec = self.manifest.get(name)
        path = self.models_dir / spec.file
        if not path.is_file():
            raise ModelIntegrityError(
                f"model {name!r}: weights file {path} not found; download it from {spec.source_url} "
                f"into {self.models_dir} (expected sha256 {spec.sha256})"
            )
        actual = self._cached_sha256(path)
        if actual != spec.sha256:
            raise ModelIntegrityError(
                f"model {name!r}: {path} has sha256 {actual}, but the manifest expects {spec.sha256}; "
                f"the file is corrupt or a different model. Replace it with the file from {spec.source_url}"
            )
        return spec, path

    def _cached_sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        cache = self._read_cache()
        entry = cache.get(key)
        if entry and entry.get("stamp") == stamp:
            return str(entry["sha256"])
        digest = file_sha256(path)
        cache[key] = {"stamp": stamp, "sha256": digest}
        self._write_cache(cache)
        return digest

    def _read_cache(self) -> dict[str, dict]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            data = json.loads(self.cache_path.read_text())
        except (OSError, ValueError):
            log.warning("model hash cache %s is unreadable; hashing again", self.cache_path)
            return {}
        return data if isinstance(data, dict) else {}

    def _write_cache(self, cache: dict[str, dict]) -> None:
        if self.cache_path is None:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=1))
            os.replace(tmp, self.cache_path)  # atomic: a crash never leaves half a cache
        except OSError as exc:
            log.warning("cannot write model hash cache %s: %s", self.cache_path, exc)
