"""The hub's one configuration model, filled from `CITYOPS_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "cityops-development-only-jwt-secret-change-me"
PLACEHOLDER_SECRETS = {"change-me", "changethis", "admin", "", DEV_JWT_SECRET}


class MqttEndpoint:
    """Parsed `mqtt://user:password@host:port` (or `mqtts://` for TLS)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"MQTT URL {url!r} must start with mqtt:// or mqtts://")
        self.tls = parts.scheme in ("mqtts", "ssl")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None

    def __repr__(self) -> str:
        return f"MqttEndpoint({self.host}:{self.port}, user={self.username!r}, tls={self.tls})"


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    environment: str = Field("development", description="development | production")
    database_url: str = "postgresql://cityops@127.0.0.1:55432/cityops"
    mqtt_url: str = "mqtt://cityops-hub:cityops-hub@127.0.0.1:18830"
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    public_url: str | None = Field(None, description="URL devices and browsers use to reach the hub")
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_ttl_s: int = Field(900, gt=0, description="lifetime of an access token in seconds; browsers refresh it")
    provisioning_token_ttl_s: int = Field(
        1800, ge=60, le=7 * 86400, description="default lifetime of a one-time provisioning token in seconds"
    )
    # Browser sessions and login throttling (cloud_hub.auth.sessions, routes/auth.py). Throttle counters live in the
    # database, so every replica counts the same failures; the address is the client's as uvicorn sees it (behind a
    # proxy, uvicorn must trust its X-Forwarded-For: FORWARDED_ALLOW_IPS / --proxy-headers --forwarded-allow-ips).
    refresh_ttl_s: int = Field(30 * 24 * 3600, gt=0, description="lifetime of a refresh token (renewed at each use)")
    login_failure_window_s: int = Field(900, gt=0, description="window over which failed logins are counted")
    login_max_failures_per_user: int = Field(5, ge=1, description="failed logins per username within the window")
    login_max_failures_per_address: int = Field(20, ge=1, description="failed logins per address within the window")
    admin_user: str = "admin"
    admin_password: SecretStr = SecretStr("cityops-admin")
    evidence_dir: Path = Path(".cityops/evidence")
    share_group: str = "hub"
    # A broker that asks the hub who may connect and what they may do (EMQX's HTTP authentication and authorisation,
    # routes/broker.py) sends this in X-CityOps-Broker-Secret; unset, those routes refuse every request.
    broker_auth_secret: SecretStr | None = Field(None, description="shared secret of the broker's HTTP auth calls")
    demo_seed: bool = Field(False, description="seed the demo district, grids, officers and cameras at start")
    ingest: bool = Field(True, description="run the MQTT ingest consumer in this process")
    # Events (or readings) per ingest transaction under load: per-batch costs (incident lookups and updates, cursor
    # locks, commit) are paid per touched situation, so bigger batches cost less per event. Idle, a batch is what
    # arrived within ingest_batch_wait_ms.
    ingest_batch_max: int = Field(5000, ge=1)
    ingest_batch_wait_ms: int = 20
    ingest_queue_max: int = 20000
    # Writer threads per ingesting process, each with its own queue, connection and devices (by a hash of the device
    # id): one writer's Python work overlaps another's database round trips, and as they never share a device their
    # transactions never wait on each other's locks.
    ingest_writers: int = Field(
        2, ge=1, le=16, description="ingest writer threads per process, devices split among them"
    )
    ingest_metrics_port: int = Field(
        9300, ge=0, le=65535, description="ingest supervisor's /healthz and /metrics; workers on the next ports; 0: off"
    )
    ingest_stuck_s: float = Field(
        60.0, gt=0, description="an ingest worker whose /healthz fails this long is restarted by its supervisor"
    )
    ingest_store_retries: int = Field(
        3,
        ge=1,
        description="tries of a batch that raises something other than a database error before the message"
        " responsible is dead-lettered (store_failed) and the rest flows on",
    )
    max_future_s: int = 300
    max_past_s: int = 30 * 24 * 3600
    rules_dir: Path = Path("rules")
    rules_poll_s: float = Field(5.0, gt=0, description="how often the hub looks for changed rule files to reload")
    db_pool_min: int = 2
    db_pool_max: int = 10
    public_mqtt_host: str | None = Field(None, description="broker host devices are told at provisioning")
    public_mqtt_port: int | None = Field(None, description="broker port devices are told at provisioning")
    # The hub may reach the broker in plain MQTT on an internal network while devices must use TLS, so the devices'
    # scheme is its own setting; unset, it follows the hub's own CITYOPS_MQTT_URL.
    public_mqtt_tls: bool | None = Field(
        None, description="devices connect with TLS (mqtts://); default: as CITYOPS_MQTT_URL"
    )
    public_mqtt_ca_file: Path | None = Field(
        None,
        description="CA certificate (PEM) devices must trust for the broker, handed out at provisioning; set it for "
        "a private CA, leave it unset when the broker's certificate is from a CA the devices already trust",
    )
    ingest_client_id: str | None = Field(None, description="MQTT client id of this replica's consumer")
    # How long the broker keeps a stopped consumer's session and keeps dealing it a share of the messages: long
    # enough for a replica to restart and take its queue back, short enough that a replica that never returns does
    # not swallow part of the traffic for long (devices retransmit what it swallowed; nothing is lost either way).
    ingest_session_expiry_s: int = Field(300, description="seconds the broker keeps a stopped consumer's queue")
    db_wait_s: float = Field(60.0, description="how long the hub waits for the database at start")
    telemetry_sweep_s: float = Field(30.0, gt=0, description="how often telemetry rules check for missing data")
    # Storage lifecycle (cloud_hub.store.retention / policies / rollups, cloud_hub.scheduler).
    retention_events_days: float = Field(180, gt=0, description="raw events (and their evidence) kept this long")
    retention_telemetry_days: float = Field(90, gt=0, description="telemetry readings kept this long")
    retention_health_days: float = Field(30, gt=0, description="device health reports kept this long")
    retention_dead_letters_days: float = Field(90, gt=0, description="dead letters kept this long")
    retention_rollups_days: float = Field(5 * 366, gt=0, description="dashboard rollups kept this long")
    compress_after_days: float = Field(7, gt=0, description="TimescaleDB compresses chunks older than this")
    evidence_orphan_grace_h: float = Field(
        7 * 24, gt=0, description="a picture whose event is not stored is deleted after this many hours"
    )
    scheduler: bool = Field(True, description="run the hub's periodic jobs (rollups, retention) in this process")
    rollup_refresh_s: float = Field(60, gt=0, description="how often the hub refreshes its rollup tables")
    rollup_lookback_h: float = Field(2, ge=0, description="recent hours every rollup refresh recomputes")
    retention_interval_s: float = Field(3600, gt=0, description="how often the hub runs retention")
    sla_escalation_s: float = Field(60, gt=0, description="how often overdue work orders are escalated")
    rollup_timezone: str = Field("UTC", description="time zone of the SLA rollup's days (IANA name)")
    evidence_url: str | None = Field(None, description="file:///path or s3://bucket/prefix; default: evidence_dir")
    evidence_s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, Ceph, ...)")
    evidence_s3_region: str = "us-east-1"
    evidence_s3_access_key_id: str | None = None
    evidence_s3_secret_access_key: SecretStr | None = None
    # Device control (cloud_hub.devices.control, cloud_hub.models_registry).
    models_dir: Path | None = Field(None, description="served model files; default: models/ beside evidence_dir")
    model_max_bytes: int = Field(1024**3, gt=0, description="largest model file the hub accepts")
    model_signing_key_file: Path | None = Field(
        None, description="Ed25519 key (PEM) that signs model releases; default: model-signing.key in models_dir"
    )
    snapshot_keep: int = Field(20, ge=1, description="camera snapshots kept per device camera (newest first)")
    # The live channel (cloud_hub.live): the relay streams to browsers from this process; messages are kept this long
    # so that a client that reconnects gets what it missed (older: it is told to reload its lists instead).
    live: bool = Field(True, description="serve GET /api/v1/live from this process (a relay thread and connection)")
    live_retention_s: float = Field(900, gt=0, description="how long live messages stay available for replay")
    shutdown_grace_s: float = Field(5, ge=0, description="seconds a stopping hub waits for open requests and streams")
    # The web apps (cloud_hub.api.web) and their map: by default the project's own district and grid GeoJSON on a
    # plain background, which needs no internet; a tile server (self-hosted, or Tianditu / AMap online) is optional.
    web_dir: Path | None = Field(None, description="built web apps; default: dashboards/web/dist of the checkout")
    map_tiles_url: str | None = Field(None, description="XYZ raster tile URL template for the maps' base layer")
    map_tiles_crs: Literal["wgs84", "gcj02"] = Field("wgs84", description="gcj02 for AMap-style (China) tiles")
    map_tiles_attribution: str = Field("", description="attribution the tile provider requires")
    map_max_zoom: int = Field(19, ge=1, le=22)

    @field_validator("rollup_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"CITYOPS_ROLLUP_TIMEZONE {value!r} is not an IANA zone (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("public_mqtt_ca_file", mode="before")
    @classmethod
    def _empty_ca_file_is_none(cls, value: object) -> object:
        return None if value == "" else value  # compose passes an unset variable as ""

    @field_validator("public_mqtt_ca_file")
    @classmethod
    def _ca_file_holds_a_certificate(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                text = value.read_text(encoding="ascii", errors="replace")
            except OSError as exc:
                raise ValueError(f"CITYOPS_PUBLIC_MQTT_CA_FILE {value}: cannot read: {exc.strerror or exc}") from None
            if "-----BEGIN CERTIFICATE-----" not in text:
                raise ValueError(f"CITYOPS_PUBLIC_MQTT_CA_FILE {value} holds no PEM certificate")
        return value

    @model_validator(mode="after")
    def _ca_file_needs_tls(self) -> HubSettings:
        if self.public_mqtt_ca_file is not None and not self.device_mqtt_tls:
            raise ValueError(
                "CITYOPS_PUBLIC_MQTT_CA_FILE is set but devices are told plain MQTT: set CITYOPS_PUBLIC_MQTT_TLS=true"
            )
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> HubSettings:
        if self.environment == "production":
            for name in ("jwt_secret", "admin_password"):
                if getattr(self, name).get_secret_value() in PLACEHOLDER_SECRETS | {"cityops-admin"}:
                    raise ValueError(f"CITYOPS_{name.upper()} is a placeholder; set a real secret in production")
            if len(self.jwt_secret.get_secret_value()) < 32:
                raise ValueError("CITYOPS_JWT_SECRET must be at least 32 characters in production")
            if self.broker_auth_secret is not None and len(self.broker_auth_secret.get_secret_value()) < 32:
                raise ValueError("CITYOPS_BROKER_AUTH_SECRET must be at least 32 characters in production")
        return self

    @property
    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint(self.mqtt_url)

    @property
    def device_mqtt_tls(self) -> bool:
        """Whether devices reach the broker over TLS (provisioning tells them mqtts://)."""
        return self.public_mqtt_tls if self.public_mqtt_tls is not None else self.mqtt.tls

    def device_mqtt_ca_pem(self) -> str | None:
        """The CA certificate devices are given, read at each provisioning so a renewed CA file is handed out."""
        return self.public_mqtt_ca_file.read_text(encoding="ascii") if self.public_mqtt_ca_file else None

    @property
    def hub_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"


@lru_cache
def get_settings() -> HubSettings:
    return HubSettings()
