"""The hub's one configuration model, filled from `CITYOPS_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, model_validator
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
    jwt_ttl_s: int = 3600
    admin_user: str = "admin"
    admin_password: SecretStr = SecretStr("cityops-admin")
    evidence_dir: Path = Path(".cityops/evidence")
    share_group: str = "hub"
    demo_seed: bool = Field(False, description="seed the demo district, grids, officers and cameras at start")
    ingest: bool = Field(True, description="run the MQTT ingest consumer in this process")
    ingest_batch_max: int = 2000
    ingest_batch_wait_ms: int = 20
    ingest_queue_max: int = 20000
    max_future_s: int = 300
    max_past_s: int = 30 * 24 * 3600
    rules_dir: Path = Path("rules")
    db_pool_min: int = 2
    db_pool_max: int = 10
    public_mqtt_host: str | None = Field(None, description="broker host devices are told at provisioning")
    public_mqtt_port: int | None = Field(None, description="broker port devices are told at provisioning")
    ingest_client_id: str | None = Field(None, description="MQTT client id of this replica's consumer")
    ingest_session_expiry_s: int = Field(24 * 3600, description="how long the broker keeps the hub's queue")
    db_wait_s: float = Field(60.0, description="how long the hub waits for the database at start")

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> HubSettings:
        if self.environment == "production":
            for name in ("jwt_secret", "admin_password"):
                if getattr(self, name).get_secret_value() in PLACEHOLDER_SECRETS | {"cityops-admin"}:
                    raise ValueError(f"CITYOPS_{name.upper()} is a placeholder; set a real secret in production")
            if len(self.jwt_secret.get_secret_value()) < 32:
                raise ValueError("CITYOPS_JWT_SECRET must be at least 32 characters in production")
        return self

    @property
    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint(self.mqtt_url)

    @property
    def hub_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"


@lru_cache
def get_settings() -> HubSettings:
    return HubSettings()
