"""`cityops models export`: ONNX FP32 (Ultralytics), FP16 and INT8 (converted from the FP32 file), each with a
manifest entry the edge loads.

FP16 is converted from the FP32 ONNX with onnxruntime's float16 tool rather than Ultralytics' `half=True`, which
needs a CUDA device; the network's inputs and outputs stay float32 so the edge's pre-processing and decoder are the
same for every precision. INT8 is dynamic quantisation (weights int8, activations quantised at run time): it needs
no calibration set, and it is what the shared yolov8n_int8 model uses on the edge's CPUs.
"""

from __future__ import annotations

import ast
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.manifest_entry import add_to_manifest, model_name, ultralytics_entry
from models.offline import import_ultralytics

FORMATS = ("fp32", "fp16", "int8")


@dataclass(frozen=True, slots=True)
class Exported:
    precision: str
    path: Path
    entry: dict[str, Any]
    manifest_change: str | None  # "added" / "unchanged", None without a manifest


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"--formats {text!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    return list(dict.fromkeys(formats))


def onnx_metadata(path: Path) -> tuple[list[str], tuple[int, int]]:
    """Class names and (width, height) from the metadata Ultralytics writes into its ONNX exports."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if "names" not in meta or "imgsz" not in meta:
        raise ValueError(f"{path} has no Ultralytics metadata (names, imgsz); export it with `cityops models export`")
    names = ast.literal_eval(meta["names"])  # a dict literal {0: 'a', ...}, written by Ultralytics
    height, width = ast.literal_eval(meta["imgsz"])
    return [names[i] for i in sorted(names)], (int(width), int(height))


def export_fp32(weights: Path, imgsz: int | None, out_path: Path) -> Path:
    """Ultralytics' ONNX export, fixed batch 1, on the CPU, moved to `out_path`."""
    ultralytics = import_ultralytics()
    model = ultralytics.YOLO(str(weights))
    args: dict[str, Any] = {"format": "onnx", "device": "cpu", "dynamic": False, "simplify": True}
    if imgsz:
        args["imgsz"] = imgsz
    written = Path(model.export(**args))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if written.resolve() != out_path.resolve():
        shutil.move(str(written), out_path)
    return out_path


def convert_fp16(fp32: Path, out_path: Path) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32))
    # keep_io_types: float32 in and out, so the manifest's input spec and the decoder do not change.
    half = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(half, str(out_path))
    return out_path


def convert_int8(fp32: Path, out_path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs one INFO line per tensor on the root logger; only its warnings are worth showing.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        quantize_dynamic(str(fp32), str(out_path), weight_type=QuantType.QUInt8)
    finally:
        root.setLevel(level)
    return out_path


def export(
    weights: Path,
    formats: list[str],
    out_dir: Path,
    *,
    name: str | None = None,
    version: str = "1",
    imgsz: int | None = None,
    manifest: Path | None = None,
) -> list[Exported]:
    """Export `weights` (.pt, or an Ultralytics FP32 .onnx for FP16/INT8 only) and register each file."""
    from edge_agent.models.manifest import file_sha256

    if not weights.is_file():
        raise ValueError(f"weights {weights} not found")
    base = model_name(name or weights.stem)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / f"{base}.onnx"
    created_fp32 = weights.resolve() != fp32.resolve()
    if weights.suffix == ".onnx":
        if weights.resolve() != fp32.resolve():
            shutil.copyfile(weights, fp32)
    elif weights.suffix == ".pt":
        export_fp32(weights, imgsz, fp32)
    else:
        raise ValueError(f"weights {weights} must be an Ultralytics .pt or an FP32 .onnx it exported")
    classes, size = onnx_metadata(fp32)
    paths = {"fp32": fp32}
    if "fp16" in formats:
        paths["fp16"] = convert_fp16(fp32, out_dir / f"{base}_fp16.onnx")
    if "int8" in formats:
        paths["int8"] = convert_int8(fp32, out_dir / f"{base}_int8.onnx")
    results = []
    for precision in formats:
        path = paths[precision]
        entry = ultralytics_entry(
            name=base if precision == "fp32" else f"{base}_{precision}",
            version=version,
            file=path.name,
            sha256=file_sha256(path),
            classes=classes,
            imgsz=size,
            precision=precision,
        )
        change = add_to_manifest(manifest, entry) if manifest else None
        results.append(Exported(precision, path, entry, change))
    if "fp32" not in formats and created_fp32:  # the FP32 file was only the source of the conversions
        fp32.unlink(missing_ok=True)
    return results
