"""ONNX Runtime sessions: provider choice (TensorRT > CUDA > CPU from what is installed), threads, quiet logs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from edge_agent.config import ConfigError

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


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
    model: Path | bytes, providers: Sequence[str] | None, intra_op_threads: int, *, label: str | None = None
) -> ort.InferenceSession:
    """A session on a model file, or on a serialized model built in memory (`label` names it in the log)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # some zoo exports warn about initializers on every load
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    # No busy-waiting between parallel sections: on a small box the intra-op threads would otherwise burn the cores
    # that frame decoding, tracking and evidence need (measured by bench/edge: whole-pipeline throughput rose, and
    # the bare model did not get slower; see docs/benchmarks.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = choose_providers(ort.get_available_providers(), providers)
    source = str(model) if isinstance(model, Path) else model
    session = ort.InferenceSession(source, sess_options=options, providers=chosen)
    name = label or (model.name if isinstance(model, Path) else "in-memory model")
    log.info("loaded %s with %s", name, ", ".join(session.get_providers()))
    return session
