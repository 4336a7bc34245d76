"""Settings from environment variables prefixed O2C_ (pydantic-settings)."""
from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="O2C_", extra="ignore")

    database_url: str = "sqlite:///./o2c.db"
    # PostgreSQL pool per process; SQLite ignores it.
    pool_size: int = 10
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "orders@o2c.example"
    smtp_timeout_seconds: float = 10.0
    # The in-process dispatcher of `o2c serve` (embedded default); off when a separate worker runs.
    dispatcher_in_process: bool | None = None
    dispatcher_poll_seconds: float = 1.0
    # Largest quantity one line may carry: anything above is a typing error, not an order.
    max_line_quantity: int = 1_000_000
    # Card payments through Stripe (o2c.payments.gateways): off while no secret key is set.
    stripe_secret_key: SecretStr | None = None
    stripe_base_url: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = 30.0
    # Web sessions: the key that signs the session cookie (every server process needs the same one; unset,
    # a random key is kept in `secret_file`), and how long an idle or any session lasts.
    secret_key: SecretStr | None = None
    secret_file: str = "./.o2c-secret"
    session_idle_minutes: int = 30
    session_max_hours: int = 12


@lru_cache
def get_settings() -> Settings:
    return Settings()
