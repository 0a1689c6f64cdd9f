"""The edge agent's one configuration model, read from a YAML file.

Every error names the file and the field (`cameras[0].fps`), so a technician can fix a config without reading code.
Deployment secrets may come from the environment instead of the file: `CITYOPS_EDGE_MQTT_URL` and
`CITYOPS_EDGE_HUB_URL` override `mqtt_url` and `hub_url`.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cityops.contract.topics import DEVICE_ID_PATTERN
from edge_agent.integrity.config import IntegrityConfig

# A batch holds at most one frame per camera; each extra frame adds latency and memory to every frame of the batch,
# so the default stops at 8 and larger values are a measured choice (inference.max_batch, at most 64).
DEFAULT_MAX_BATCH = 8
MAX_BATCH_LIMIT = 64
# Two: one batch runs while the next forms (more only helps with more cores than a small box has).
DEFAULT_INFERENCE_WORKERS = 2
MAX_INFERENCE_WORKERS = 8
ENV_OVERRIDES = {"mqtt_url": "CITYOPS_EDGE_MQTT_URL", "hub_url": "CITYOPS_EDGE_HUB_URL"}


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the field."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttUrl(StrictModel):
    """Parsed `mqtt://user:password@host:port` (or `mqtts://` for TLS)."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> MqttUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {parts.scheme or 'no scheme'!r}")
        if not parts.hostname:
            raise ValueError("MQTT URL has no host; expected mqtt://device_id:secret@host:port")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )


class LocationConfig(StrictModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class CameraConfig(StrictModel):
    camera_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    source: str = Field(
        min_length=1, description="video file, still image, rtsp://, http(s)://, usb:N, or gst:PIPELINE ! appsink"
    )
    fps: float = Field(2.0, gt=0, le=60, description="frames analysed per second")
    location: LocationConfig | None = None
    rules: Path = Field(description="edge rules file (zones and analytics) for this camera")
    loop: bool = Field(True, description="replay a video file from the start when it ends")
    integrity: IntegrityConfig = Field(IntegrityConfig(), description="camera fault checks (camera_fault events)")
    stall_after_s: float = Field(10.0, gt=0, description="no frame for this long while connected: stalled")
    read_timeout_s: float = Field(5.0, gt=0, description="stream read timeout; the reader reconnects after it")
    decode_threads: int = Field(
        1, ge=0, le=16, description="FFmpeg decoding threads for this camera; 0 lets FFmpeg use one per core"
    )


class TensorrtConfig(StrictModel):
    """The TensorRT provider's engine cache (`<data_dir>/tensorrt-cache/<model sha256>-<device>/`)."""

    fp16: bool = Field(True, description="build fp16 engines (Jetson GPUs run fp16 at about twice the fp32 speed)")
    device: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] | None = Field(
        None, description="GPU key of the cache folder, e.g. orin-nano-sm87; default: detected (board or nvidia-smi)"
    )


class RuntimeConfig(StrictModel):
    providers: list[str] | None = Field(
        None, description="ONNX Runtime providers in order of preference; default TensorRT > CUDA > CPU as available"
    )
    intra_op_threads: int = Field(0, ge=0, le=256, description="0 lets ONNX Runtime choose")
    score_threshold: float = Field(0.25, ge=0, le=1)
    nms_iou: float = Field(0.45, gt=0, le=1)
    tensorrt: TensorrtConfig = TensorrtConfig()


class InferenceConfig(StrictModel):
    """Batched inference across cameras (edge_agent/detectors/batcher.py)."""

    max_batch: int | None = Field(
        None,
        ge=1,
        le=MAX_BATCH_LIMIT,
        description="most frames run as one batch; default: the number of cameras, at most 8; 1 turns batching off",
    )
    max_wait_ms: float = Field(
        2.0,
        ge=0,
        le=100,
        description="how long a batch may wait for more cameras' frames; 0 runs whatever is waiting at once",
    )

    workers: int | None = Field(
        None,
        ge=1,
        le=MAX_INFERENCE_WORKERS,
        description="inference threads running batches concurrently (one forms while another runs); default 2",
    )

    def batch_for(self, cameras: int) -> int:
        """The batch limit for an agent with this many cameras."""
        return self.max_batch if self.max_batch is not None else max(1, min(cameras, DEFAULT_MAX_BATCH))

    def workers_for(self, max_batch: int) -> int:
        """Inference threads for batches of at most `max_batch`: no more than frames to share among them."""
        return min(self.workers if self.workers is not None else DEFAULT_INFERENCE_WORKERS, max_batch)


class OutboxConfig(StrictModel):
    max_events: int = Field(100_000, ge=100, description="events kept unacked before new ones are refused (loudly)")
    retransmit_after_s: float = Field(10.0, gt=0, description="first retransmit of an unacked batch")
    max_backoff_s: float = Field(300.0, gt=0)
    max_bytes: int = Field(
        2 * 1024**3, ge=1024**2, description="disk quota for queued events, evidence, health and telemetry"
    )
    low_priority_share: float = Field(
        0.8, gt=0, le=1, description="above this share of max_bytes, health and telemetry are dropped first"
    )
    disk_reserve_mb: int = Field(
        256,
        ge=0,
        description="free space kept on data_dir's filesystem: below it pictures, update events and health/telemetry"
        " are refused (counted) so that starts and ends still fit; below a quarter of it the disk is critical",
    )
    disk_ballast_mb: int = Field(
        32, ge=0, description="a file held in data_dir and deleted when even an end event cannot be written"
    )


class MetricsConfig(StrictModel):
    port: int | None = Field(None, ge=1, le=65535, description="serve Prometheus /metrics here; None: off")
    host: str = "127.0.0.1"


class EvidenceConfig(StrictModel):
    enabled: bool = True
    face_model: str = Field("yunet_face", description="the face detector that blurs every picture leaving the box")

    @model_validator(mode="before")
    @classmethod
    def _blur_faces_moved(cls, data: Any) -> Any:
        # The old switch was too easy to flip by accident; say where the deliberate one is.
        if isinstance(data, dict) and "blur_faces" in data:
            if data["blur_faces"] is True:
                return {k: v for k, v in data.items() if k != "blur_faces"}  # what it asked for is the default
            raise ValueError(
                "evidence.blur_faces is gone: faces are always blurred; to send them unblurred set "
                "privacy.send_faces_unblurred: true (logged at start and shown at the hub)"
            )
        return data

    jpeg_quality: int = Field(85, ge=30, le=100)
    max_width: int = Field(1280, ge=160, description="evidence pictures wider than this are scaled down")
    upload_timeout_s: float = Field(10.0, gt=0)
    # Bandwidth (edge_agent.evidence.policy): start and end always carry a picture; an update when the scene changed.
    update_pictures: Literal["changed", "always", "never"] = Field(
        "changed", description="which update events carry a picture: changed (default), always, never"
    )
    update_min_change: float = Field(
        0.3, gt=0, le=1, description="an update's box moved this much (1 - IoU with the last picture's box)"
    )
    update_refresh_s: float = Field(900.0, gt=0, description="an ongoing stay gets a fresh picture at least this often")
    max_upload_attempts: int = Field(
        5,
        ge=1,
        description="upload tries (with the outbox's backoff) on network errors, 5xx, 401/403/429 before the event"
        " is sent without its picture (evidence_missing); a file gone or a 409/413/422 sends it at once",
    )


class ModelUpdatesConfig(StrictModel):
    """How `model_update` commands are trusted and watched (edge_agent.remote.model_update, edge_agent.model_watch)."""

    trusted_keys: list[str] = Field(
        default_factory=list, description="the hub's model signing public keys (Ed25519, base64), from provisioning"
    )
    allow_unsigned: bool = Field(
        False, description="accept releases without a valid signature (logged); never in production"
    )
    allow_http: bool = Field(False, description="download models over plain http (a hub on a trusted local network)")
    rollback_below: float = Field(
        0.3, ge=0, le=1, description="roll back when the new model detects less than this share of the old one's rate"
    )
    watch_frames: int = Field(300, ge=10, description="frames (all cameras) a new model is watched for before it stays")
    min_baseline: float = Field(
        0.2, ge=0, description="confident detections per frame the old model must have had for the watch to judge"
    )

    @field_validator("trusted_keys")
    @classmethod
    def _keys_are_ed25519(cls, keys: list[str]) -> list[str]:
        for key in keys:
            try:
                raw = base64.b64decode(key, validate=True)
            except ValueError:
                raise ValueError(f"trusted key {key[:12]!r}... is not base64") from None
            if len(raw) != 32:
                raise ValueError(f"trusted key {key[:12]!r}... is {len(raw)} bytes; an Ed25519 public key has 32")
        return keys


class PrivacyConfig(StrictModel):
    """Faces are blurred in every picture that leaves the box (evidence of every kind, snapshots, probe and
    camera-fault pictures). Turning that off takes this one setting, named for what it does; the agent logs it at
    every start and reports it in its health, so the hub shows the box as sending faces."""

    send_faces_unblurred: bool = Field(
        False, description="pictures leave this box with faces visible (only where the law and the city allow it)"
    )


class EdgeConfig(StrictModel):
    device_id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN.pattern)]
    mqtt_url: str
    mqtt_ca_file: Path | None = Field(
        None,
        description="CA certificate (PEM) that signed the broker's certificate, for mqtts:// with a private CA; "
        "default: the system's CAs",
    )
    hub_url: Annotated[str, Field(pattern=r"^https?://")]
    data_dir: Path
    models_dir: Path
    model: str = "yolox_nano"
    manifest: Path | None = Field(None, description="model manifest; default models/manifest.yaml (in the package)")
    health_interval_s: float = Field(30.0, gt=0)
    cameras: list[CameraConfig] = Field(min_length=1)
    runtime: RuntimeConfig = RuntimeConfig()
    inference: InferenceConfig = InferenceConfig()
    outbox: OutboxConfig = OutboxConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    model_updates: ModelUpdatesConfig = ModelUpdatesConfig()
    metrics: MetricsConfig = MetricsConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        MqttUrl.parse(value)
        return value

    @model_validator(mode="after")
    def _ca_file_needs_tls(self) -> EdgeConfig:
        if self.mqtt_ca_file is not None and not self.mqtt.tls:
            raise ValueError("mqtt_ca_file is set but mqtt_url is mqtt:// (no TLS): use mqtts:// or drop mqtt_ca_file")
        return self

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        ids = [c.camera_id for c in cameras]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"camera_id must be unique; repeated: {', '.join(duplicates)}")
        return cameras

    @property
    def mqtt(self) -> MqttUrl:
        return MqttUrl.parse(self.mqtt_url)


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem: `file: field.path: message`."""
    lines = []
    for err in exc.errors():
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"]).replace(".[", "[")
        hint = " (unknown key: check its spelling or remove it)" if err["type"] == "extra_forbidden" else ""
        lines.append(f"{source}: {where or '<top level>'}: {err['msg']}{hint}")
    return "\n".join(lines)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping, with errors that name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def parse_config(data: dict[str, Any], source: str = "<config>", base_dir: Path | None = None) -> EdgeConfig:
    """Validate a config mapping; relative paths are resolved against `base_dir` (the file's folder)."""
    data = dict(data)
    for key, env in ENV_OVERRIDES.items():
        if os.environ.get(env):
            data[key] = os.environ[env]
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    _check_ca_file(config, source)
    return config


def _resolve_paths(config: EdgeConfig, base_dir: Path) -> EdgeConfig:
    return config.model_copy(
        update={
            "mqtt_ca_file": _resolve(base_dir, config.mqtt_ca_file) if config.mqtt_ca_file else None,
            "data_dir": _resolve(base_dir, config.data_dir),
            "models_dir": _resolve(base_dir, config.models_dir),
            "manifest": _resolve(base_dir, config.manifest) if config.manifest else None,
            "cameras": [
                c.model_copy(
                    update={"rules": _resolve(base_dir, c.rules), "source": _resolve_source(base_dir, c.source)}
                )
                for c in config.cameras
            ],
        }
    )


def _check_ca_file(config: EdgeConfig, source: str) -> None:
    """A missing CA file would only show as failed connections later; say so now, with the fix."""
    ca_file = config.mqtt_ca_file
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(
            f"{source}: mqtt_ca_file: {ca_file} does not exist; copy the broker's CA certificate (PEM) there "
            "(provision.sh writes it) or remove mqtt_ca_file to trust the system's CAs"
        )


def load_config(path: Path) -> EdgeConfig:
    return parse_config(read_yaml_mapping(path), source=str(path), base_dir=path.resolve().parent)


def _resolve(base_dir: Path, path: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def _resolve_source(base_dir: Path, source: str) -> str:
    """File sources relative to the config file; URLs and usb:N unchanged."""
    if "://" in source or source.startswith("usb:"):
        return source
    return str(_resolve(base_dir, Path(source)))
