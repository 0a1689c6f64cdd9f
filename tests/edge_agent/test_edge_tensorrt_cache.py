"""TensorRT engine caching: the provider options (cache keyed by model sha256 and device, fp16 per config) and that
sessions get them when the provider is there. No GPU here and the CPU onnxruntime has no TensorRT provider, so the
available providers and the session class are stood in for."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from edge_testkit import MODELS_DIR, shared_file

from edge_agent.app import TENSORRT_CACHE_DIR, detector_options
from edge_agent.config import ConfigError, RuntimeConfig, parse_config
from edge_agent.detectors import create_detector
from edge_agent.detectors.session import (
    TENSORRT,
    TensorrtSettings,
    device_key,
    open_session,
    tensorrt_provider_options,
)
from edge_agent.models.manifest import ModelStore, load_manifest

SHA = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"


class SessionSpy:
    """Stands in for onnxruntime.InferenceSession: records how it was built."""

    calls: ClassVar[list[dict]] = []

    def __init__(self, source, sess_options, providers) -> None:
        SessionSpy.calls.append({"source": source, "providers": providers})

    def get_providers(self) -> list[str]:
        return [p if isinstance(p, str) else p[0] for p in SessionSpy.calls[-1]["providers"]]


def test_provider_options_key_the_cache_by_model_and_device(tmp_path: Path) -> None:
    settings = TensorrtSettings(tmp_path / "tensorrt-cache", SHA, fp16=False)
    options = tensorrt_provider_options(settings, "orin-nano-sm87")
    cache = str(tmp_path / "tensorrt-cache" / "695e750a5d5754bb-orin-nano-sm87")
    assert options == {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": cache,
        "trt_fp16_enable": "False",
    }
    assert tensorrt_provider_options(settings, "rtx-a2000-sm86")["trt_engine_cache_path"] != cache
    other_model = TensorrtSettings(tmp_path / "tensorrt-cache", "0" * 64)
    assert tensorrt_provider_options(other_model, "orin-nano-sm87")["trt_engine_cache_path"] != cache


@pytest.mark.parametrize(
    ("name", "capability", "key"),
    [
        ("NVIDIA Jetson Orin Nano Developer Kit", None, "nvidia-jetson-orin-nano-developer-kit"),
        ("NVIDIA H200", "9.0", "nvidia-h200-sm90"),
        ("", None, "unknown-gpu"),
    ],
)
def test_device_key_is_folder_safe(name: str, capability: str | None, key: str) -> None:
    assert device_key(name, capability) == key


def test_session_gets_the_tensorrt_options_when_the_provider_is_listed(tmp_path: Path) -> None:
    SessionSpy.calls = []
    settings = TensorrtSettings(tmp_path / "cache", SHA, device="orin-nano-sm87")
    available = [TENSORRT, "CUDAExecutionProvider", "CPUExecutionProvider"]
    open_session(Path("m.onnx"), None, 0, tensorrt=settings, available=available, session_factory=SessionSpy)
    providers = SessionSpy.calls[-1]["providers"]
    assert providers[0] == (TENSORRT, tensorrt_provider_options(settings, "orin-nano-sm87"))
    assert providers[1:] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert (tmp_path / "cache" / "695e750a5d5754bb-orin-nano-sm87").is_dir()  # ready for ONNX Runtime to write
    # Without TensorRT (or without cache settings) the providers are plain names, as before.
    open_session(
        Path("m.onnx"), None, 0, tensorrt=settings, available=["CPUExecutionProvider"], session_factory=SessionSpy
    )
    assert SessionSpy.calls[-1]["providers"] == ["CPUExecutionProvider"]
    open_session(Path("m.onnx"), None, 0, available=available, session_factory=SessionSpy)
    assert SessionSpy.calls[-1]["providers"] == available


def test_agent_detector_caches_engines_under_its_data_dir(tmp_path: Path) -> None:
    shared_file("models", "yolox_nano.onnx")
    config = parse_config(
        {
            "device_id": "edge-trt-01",
            "mqtt_url": "mqtt://edge-trt-01:pw@127.0.0.1:1",
            "hub_url": "http://127.0.0.1:1",
            "data_dir": str(tmp_path / "data"),
            "models_dir": str(MODELS_DIR),
            "cameras": [{"camera_id": "cam-1", "source": "x.jpg", "rules": "r.yaml"}],
            "runtime": {"tensorrt": {"fp16": False, "device": "orin-nano-sm87"}},
        }
    )
    options = detector_options(config, [])
    assert options.tensorrt_cache == tmp_path / "data" / TENSORRT_CACHE_DIR
    spec, path = ModelStore(load_manifest(), MODELS_DIR).resolve(config.model)
    detector = create_detector(spec, path, options)  # the CPU build here: no TensorRT, the plain CPU provider
    settings = detector.tensorrt_settings()
    assert settings == TensorrtSettings(tmp_path / "data" / TENSORRT_CACHE_DIR, SHA, "orin-nano-sm87", False)
    assert tensorrt_provider_options(settings, "orin-nano-sm87")["trt_fp16_enable"] == "False"


def test_bad_tensorrt_device_key_is_refused() -> None:
    assert RuntimeConfig().tensorrt.fp16 is True
    with pytest.raises(ConfigError, match=r"runtime\.tensorrt\.device"):
        parse_config(
            {
                "device_id": "edge-trt-01",
                "mqtt_url": "mqtt://edge-trt-01:pw@127.0.0.1:1",
                "hub_url": "http://127.0.0.1:1",
                "data_dir": "d",
                "models_dir": "m",
                "cameras": [{"camera_id": "cam-1", "source": "x.jpg", "rules": "r.yaml"}],
                "runtime": {"tensorrt": {"device": "../../etc"}},
            }
        )
