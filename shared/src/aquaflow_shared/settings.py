"""Settings fragments that services compose into their own settings class.

Each fragment reads its own environment prefix, so an operator sets for example
``AQUAFLOW_BROKER_URL`` once and every service that talks to the broker picks it up.
Secrets are ``SecretStr`` and never appear in logs or reprs.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_BROKER_", extra="ignore")

    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    # Every exchange and queue name starts with this; tests use a unique one per run.
    prefix: str = Field(default="aquaflow", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    # RabbitMQ dead-letters a message after this many deliveries without a decision:
    # the guard against a message that kills its consumer (SIGKILL, out of memory).
    delivery_limit: int = Field(default=12, ge=1)
    # Failed attempts at one message (message-specific failures only: an unavailable
    # dependency pauses the stage instead) before it is dead-lettered.
    max_attempts: int = Field(default=8, ge=1)
    # First retry delay; it doubles with each attempt up to retry_backoff_max_seconds.
    retry_backoff_seconds: float = Field(default=1.0, ge=0.0)
    retry_backoff_max_seconds: float = Field(default=30.0, ge=0.0)
    # While a dependency is down: first probe after this long, doubling up to the max.
    outage_probe_seconds: float = Field(default=1.0, gt=0.0)
    outage_probe_max_seconds: float = Field(default=30.0, gt=0.0)
    # On SIGTERM, how long in-flight messages may take to finish before the rest are
    # left to the broker (unacked messages go back to their queue when we disconnect).
    graceful_timeout_seconds: float = Field(default=20.0, gt=0.0)
    prefetch: int = Field(default=16, ge=1)


class S3Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_S3_", extra="ignore")

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretStr = SecretStr("minioadmin")
    secret_access_key: SecretStr = SecretStr("minioadmin")
    # Objects larger than this are refused before download.
    max_object_bytes: int = Field(default=64 * 1024 * 1024, ge=1)


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_HTTP_", extra="ignore")

    host: str = "0.0.0.0"  # noqa: S104 - services run in containers and must be scrapeable
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"


def env_names(settings_cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (upper case)."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in settings_cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= env_names(annotation)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names
