from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from edge_testkit import shared_file

from edge_agent.config import ConfigError
from edge_agent.models.manifest import ModelIntegrityError, ModelStore, load_manifest


def test_manifest_lists_every_shared_model_with_coco_classes() -> None:
    manifest = load_manifest()
    files = {spec.file for spec in manifest.models}
    for name in (
        "yolox_nano.onnx",
        "object_detection_nanodet_2022nov.onnx",
        "yolov8n_int8_AGPL.onnx",
        "face_detection_yunet_2023mar.onnx",
        "license_plate_detection_lpd_yunet_2023mar.onnx",
    ):
        assert name in files
    yolox = manifest.get("yolox_nano")
    assert len(yolox.classes) == 80 and yolox.classes[2] == "car" and yolox.classes[79] == "toothbrush"
    assert yolox.input.size == (416, 416) and yolox.input.letterbox == "top_left"
    assert "0.1.1rc0/yolox_nano.onnx" in yolox.source_url


def test_unknown_model_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="known models: yolox_nano"):
        load_manifest().get("yolo_nope")


def test_bad_class_list_reference_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "version: 1\nclass_lists: {coco80: [a]}\nmodels:\n"
        "  - {name: m, version: '1', task: detection, file: m.onnx, sha256: " + "0" * 64 + ", classes: coco81,"
        " input: {size: [1, 1]}, output: {layout: yolox}, licence: x, source_url: http://x}\n"
    )
    with pytest.raises(ConfigError, match="coco81"):
        load_manifest(manifest)


def test_verified_file_resolves_and_mismatch_is_refused(tmp_path: Path) -> None:
    original = shared_file("models", "face_detection_yunet_2023mar.onnx")
    models = tmp_path / "models"
    models.mkdir()
    copy = models / original.name
    shutil.copy(original, copy)
    store = ModelStore(load_manifest(), models, tmp_path / "hashes.json")
    spec, path = store.resolve("yunet_face")
    assert path == copy and (tmp_path / "hashes.json").is_file()

    with copy.open("r+b") as fh:  # corrupt one byte, same size
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(copy, ns=(1, 1))  # a new mtime, as any real rewrite would leave
    with pytest.raises(ModelIntegrityError, match="the manifest expects " + spec.sha256):
        store.resolve("yunet_face")


def test_hash_cache_is_keyed_by_size_and_mtime(tmp_path: Path) -> None:
    original = shared_file("models", "face_detection_yunet_2023mar.onnx")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(original, models / original.name)
    cache = tmp_path / "hashes.json"
    ModelStore(load_manifest(), models, cache).resolve("yunet_face")
    # Poison the cached digest: an unchanged file must be trusted from the cache (and so fail here)...
    cache.write_text(cache.read_text().replace(load_manifest().get("yunet_face").sha256, "f" * 64))
    with pytest.raises(ModelIntegrityError):
        ModelStore(load_manifest(), models, cache).resolve("yunet_face")
    # ...and a touched file is hashed again.
    os.utime(models / original.name, ns=(2, 2))
    ModelStore(load_manifest(), models, cache).resolve("yunet_face")


def test_missing_weights_say_where_to_get_them(tmp_path: Path) -> None:
    store = ModelStore(load_manifest(), tmp_path)
    with pytest.raises(ModelIntegrityError, match=r"github\.com/Megvii-BaseDetection"):
        store.resolve("yolox_nano")
