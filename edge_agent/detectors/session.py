"""ONNX Runtime sessions: provider choice (TensorRT > CUDA > CPU from what is installed), threads, quiet logs.

With the TensorRT provider, engines are cached: ONNX Runtime builds an engine on the first session (minutes on a
Jetson) and loads it from `trt_engine_cache_path` afterwards. The cache folder is keyed by the model's sha256 and
the device (GPU name and compute capability), because an engine is only valid for the weights and the GPU it was
built for; ONNX Runtime names the engines inside by its own graph hash, so the batched copy of a model shares the
folder without clashing.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from edge_agent.config import ConfigError

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
TENSORRT = "TensorrtExecutionProvider"
UNKNOWN_DEVICE = "unknown-gpu"


@dataclass(frozen=True, slots=True)
class TensorrtSettings:
    """Where and how the TensorRT provider caches engines for one model.

    Attributes:
        cache_root: the agent's folder of engine caches (`<data_dir>/tensorrt-cache`).
        model_sha256: the ONNX file's sha256 (manifest-verified).
        device: GPU key such as `orin-sm87`; None = detect when the provider is used (`detect_device_key`).
        fp16: build fp16 engines (`runtime.tensorrt.fp16`).
    """

    cache_root: Path
    model_sha256: str
    device: str | None = None
    fp16: bool = True


def device_key(name: str, compute_capability: str | None = None) -> str:
    """A folder-safe GPU key: `NVIDIA Jetson Orin Nano`, `8.7` -> `nvidia-jetson-orin-nano-sm87`."""
    key = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or UNKNOWN_DEVICE
    if compute_capability:
        key += "-sm" + re.sub(r"[^0-9]", "", compute_capability)
    return key


def tensorrt_cache_dir(settings: TensorrtSettings, device: str) -> Path:
    return settings.cache_root / f"{settings.model_sha256[:16]}-{device}"


def tensorrt_provider_options(settings: TensorrtSettings, device: str) -> dict[str, str]:
    """The TensorRT provider's options: engine and timing caches in the model's and device's folder, fp16 per config.

    Values are strings, as ONNX Runtime's Python API passes them on anyway ("True"/"False" are what it parses).
    """
    cache = str(tensorrt_cache_dir(settings, device))
    return {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": cache,
        "trt_fp16_enable": str(settings.fp16),
    }


def detect_device_key() -> str:
    """The GPU this box runs on: a Jetson's board model, else nvidia-smi's first GPU; `unknown-gpu` if neither says.

    Called only when the TensorRT provider is going to be used (I/O: reads /proc, may run nvidia-smi).
    """
    try:
        board = Path("/proc/device-tree/model").read_text(encoding="utf-8", errors="replace").strip("\x00 \n")
    except OSError:
        board = ""
    if "jetson" in board.lower():
        return device_key(board)
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_DEVICE
    first = out.strip().splitlines()[0] if out.strip() else ""
    name, _, capability = first.partition(",")
    return device_key(name.strip(), capability.strip() or None) if name.strip() else UNKNOWN_DEVICE


def provider_list(
    chosen: Sequence[str], options: Mapping[str, Mapping[str, str]]
) -> list[str | tuple[str, dict[str, str]]]:
    """ONNX Runtime's `providers=` argument: a (name, options) pair where a provider has options, else the name."""
    return [(name, dict(options[name])) if name in options else name for name in chosen]


def choose_providers(available: Sequence[str], requested: Sequence[str] | None = None) -> list[str]:
    """Requested providers that are available, in the requested order; default: the best available ones.

    A requested provider that is missing is logged and skipped; if none remains, that is a config error.
    """
    if requested:
        chosen = [p for p in requested if p in available]
        missing = [p for p in requested if p not in available]
        if missing:
            log.warning("ONNX Runtime providers not available here, skipped: %s", ", ".join(missing))
        if not chosen:
            raise ConfigError(
                f"runtime.providers: none of {list(requested)} is available; available: {', '.join(available)}"
            )
        return chosen
    chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    return chosen or ["CPUExecutionProvider"]


def open_session(
    model: Path | bytes,
    providers: Sequence[str] | None,
    intra_op_threads: int,
    *,
    label: str | None = None,
    tensorrt: TensorrtSettings | None = None,
    available: Sequence[str] | None = None,
    session_factory: Callable[..., Any] = ort.InferenceSession,
) -> ort.InferenceSession:
    """A session on a model file, or on a serialized model built in memory (`label` names it in the log).

    `tensorrt`: engine caching for the TensorRT provider when it is chosen (without it, TensorRT rebuilds its
    engines on every start). `available` and `session_factory` stand in for ONNX Runtime's in tests."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # some zoo exports warn about initializers on every load
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    # No busy-waiting between parallel sections: on a small box the intra-op threads would otherwise burn the cores
    # that frame decoding, tracking and evidence need (measured by bench/edge: whole-pipeline throughput rose, and
    # the bare model did not get slower; see docs/benchmarks.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = choose_providers(ort.get_available_providers() if available is None else available, providers)
    provider_options: dict[str, dict[str, str]] = {}
    if tensorrt is not None and TENSORRT in chosen:
        device = tensorrt.device or detect_device_key()
        provider_options[TENSORRT] = tensorrt_provider_options(tensorrt, device)
        tensorrt_cache_dir(tensorrt, device).mkdir(parents=True, exist_ok=True)
    source = str(model) if isinstance(model, Path) else model
    session = session_factory(source, sess_options=options, providers=provider_list(chosen, provider_options))
    name = label or (model.name if isinstance(model, Path) else "in-memory model")
    log.info("loaded %s with %s", name, ", ".join(session.get_providers()))
    return session
