"""Medians and ratios of the legs measured in one run (pure; no timing or I/O here)."""

from __future__ import annotations

import statistics
from collections import defaultdict


def medians(measurements: list[dict]) -> dict[str, dict]:
    """Per variant: every round's frames/s and their median."""
    by_variant: dict[str, list[float]] = defaultdict(list)
    for m in measurements:
        by_variant[m["variant"]].append(m["fps"])
    return {
        v: {"fps": [round(x, 2) for x in xs], "median_fps": round(statistics.median(xs), 2)}
        for v, xs in by_variant.items()
    }


def ratio(measurements: list[dict], numerator: str, denominator: str) -> dict | None:
    """numerator/denominator as the ratio of the medians and as the median of same-round ratios (drift-robust)."""
    num = {m["round"]: m["fps"] for m in measurements if m["variant"] == numerator}
    den = {m["round"]: m["fps"] for m in measurements if m["variant"] == denominator}
    rounds = sorted(set(num) & set(den))
    if not rounds or any(den[r] <= 0 for r in rounds):
        return None
    per_round = [num[r] / den[r] for r in rounds]
    return {
        "of_medians": round(statistics.median(num.values()) / statistics.median(den.values()), 3),
        "median_of_rounds": round(statistics.median(per_round), 3),
        "rounds": [round(x, 3) for x in per_round],
    }


def ratios(measurements: list[dict], models: list[str], cameras: list[int], peer: bool) -> dict[str, dict | None]:
    """Adds `pipeline_Ncam / detector_Ncam` where that bare-model leg was measured (N > 1)."""
    out: dict[str, dict | None] = {}
    for model in models:
        raw, det = f"{model}/ort_session", f"{model}/detector"
        out[f"{model}: detector / ort_session"] = ratio(measurements, det, raw)
        for n in cameras:
            pipe = f"{model}/pipeline_{n}cam"
            out[f"{model}: pipeline_{n}cam / detector"] = ratio(measurements, pipe, det)
            out[f"{model}: pipeline_{n}cam / ort_session"] = ratio(measurements, pipe, raw)
            out[f"{model}: pipeline_{n}cam / detector_{n}cam"] = ratio(measurements, pipe, f"{model}/detector_{n}cam")
            # Present only with --baseline: the same pipeline as before the speed-ups, and new over old.
            out[f"{model}: pipeline_{n}cam_inline / detector"] = ratio(measurements, f"{pipe}_inline", det)
            out[f"{model}: pipeline_{n}cam / pipeline_{n}cam_inline"] = ratio(measurements, pipe, f"{pipe}_inline")
            if peer and model == "yolov8n_int8":
                peer_leg = f"{model}/ultralytics_track"
                out[f"{model}: pipeline_{n}cam / ultralytics_track"] = ratio(measurements, pipe, peer_leg)
    return {k: v for k, v in out.items() if v is not None}
