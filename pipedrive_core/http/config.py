"""Connection settings shared by the tap and the target, validated once."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipedrive_core.http.auth import DEFAULT_TOKEN_URL

DEFAULT_API_URL = "https://api.pipedrive.com"


class ConfigError(ValueError):
    """A connection setting is missing or wrong; the message says which and how to fix it."""


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (the emulator), where plain HTTP is acceptable."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL such as {DEFAULT_API_URL}, got {url!r}")
    if parts.scheme == "http" and not is_loopback(url):
        raise ConfigError(
            f"{name} must use https (TLS is always verified); plain http is only allowed for 127.0.0.1/localhost"
        )
    if parts.username or parts.password:
        raise ConfigError(f"{name} must not contain credentials; use api_token or the oauth_* settings")
    return url.rstrip("/")


@dataclass(frozen=True)
class ClientConfig:
    """Everything the HTTP layer needs; secrets are excluded from ``repr``."""

    api_url: str = DEFAULT_API_URL
    api_token: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    oauth_token_url: str = DEFAULT_TOKEN_URL
    oauth_token_store: str | None = None
    timeout: float = 60.0
    max_retries: int = 7
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    burst_limit: int | None = None
    user_agent: str = "pipedrive-singer"

    def __repr__(self) -> str:
        auth = "oauth" if self.uses_oauth else ("api_token=***" if self.api_token else "no credentials")
        return f"ClientConfig(api_url={self.api_url!r}, {auth})"

    @property
    def uses_oauth(self) -> bool:
        """Whether requests authenticate with OAuth access tokens instead of the API token."""
        return bool(self.oauth_refresh_token)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, user_agent: str = "pipedrive-singer") -> ClientConfig:
        """Build and validate from a tap/target config mapping (the keys of :mod:`pipedrive_core.settings`)."""
        api_url = _check_url("api_url", str(config.get("api_url") or DEFAULT_API_URL))
        token_url = _check_url("oauth_token_url", str(config.get("oauth_token_url") or DEFAULT_TOKEN_URL))
        oauth = {k: config.get(k) for k in ("oauth_client_id", "oauth_client_secret", "oauth_refresh_token")}
        if any(oauth.values()) and not all(oauth.values()):
            missing = ", ".join(k for k, v in oauth.items() if not v)
            raise ConfigError(
                f"OAuth needs oauth_client_id, oauth_client_secret and oauth_refresh_token; missing: {missing}"
            )
        if not config.get("api_token") and not all(oauth.values()):
            raise ConfigError(
                "no credentials: set api_token (Settings > Personal preferences > API) or the oauth_* settings"
            )
        burst = config.get("burst_limit")
        timeout = float(config.get("request_timeout") or 60.0)
        raw_retries = config.get("max_retries")
        retries = int(raw_retries) if raw_retries is not None else 7
        if timeout <= 0 or retries < 0:
            raise ConfigError("request_timeout must be > 0 and max_retries >= 0")
        return cls(
            api_url=api_url,
            api_token=config.get("api_token") or None,
            oauth_client_id=oauth["oauth_client_id"],
            oauth_client_secret=oauth["oauth_client_secret"],
            oauth_refresh_token=oauth["oauth_refresh_token"],
            oauth_token_url=token_url,
            oauth_token_store=str(config["oauth_token_store"]) if config.get("oauth_token_store") else None,
            timeout=timeout,
            max_retries=retries,
            backoff_base=float(config.get("backoff_base_seconds") or 1.0),
            backoff_max=float(config.get("backoff_max_seconds") or 60.0),
            burst_limit=int(burst) if burst else None,
            user_agent=user_agent,
        )
