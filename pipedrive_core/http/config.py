"""Connection settings shared by the tap and the target, validated once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pipedrive_core.http.auth import DEFAULT_TOKEN_URL
from pipedrive_core.http.errors import redact_url
from pipedrive_core.http.ratelimit import DEFAULT_MAX_WAIT_SECONDS
from pipedrive_core.http.urls import is_loopback

DEFAULT_API_URL = "https://api.pipedrive.com"


class ConfigError(ValueError):
    """A connection setting is missing or wrong; the message says which and how to fix it."""


#: API version suffixes users paste from Pipedrive's docs; the connector adds the version to every path itself
_VERSION_SUFFIX = re.compile(r"(/api)?(/v[12])?/*$")


def _check_url(name: str, raw: Any) -> str:
    """A validated base URL. Messages never repeat a URL that carries credentials (only its scheme and host)."""
    if not isinstance(raw, str):
        raise ConfigError(f"{name} must be a string URL such as {DEFAULT_API_URL} (got a {type(raw).__name__})")
    url = raw.strip()
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        has_userinfo = bool(parts.username or parts.password)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigError(f"{name} must be an http(s) URL such as {DEFAULT_API_URL}") from None
    if has_userinfo:
        raise ConfigError(f"{name} must not contain credentials; use api_token or the oauth_* settings")
    if parts.scheme not in {"http", "https"} or not hostname:
        raise ConfigError(f"{name} must be an http(s) URL such as {DEFAULT_API_URL}, got {redact_url(url)!r}")
    if parts.scheme == "http" and not is_loopback(url):
        raise ConfigError(
            f"{name} must use https (TLS is always verified); plain http is only allowed for 127.0.0.1/localhost"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or fragment (got {redact_url(url)!r})")
    return url.rstrip("/")


def normalise_api_url(url: str) -> str:
    """``api_url`` without a trailing API version: ``https://api.pipedrive.com/v1`` and ``…/api/v2`` mean the host
    (every catalogue path starts with ``/v1`` or ``/api/v2`` already, so keeping it would call ``/v1/v1/…``). A
    path prefix of a reverse proxy (``https://proxy.example/pipedrive``) is kept."""
    parts = urlsplit(url)
    path = _VERSION_SUFFIX.sub("", parts.path)
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")).rstrip("/")


def secret_setting(config: Mapping[str, Any], name: str) -> str | None:
    """A credential from the config: surrounding whitespace (a pasted newline) is removed; a value of another
    JSON type, or with whitespace or control characters inside, is refused. The value is never repeated."""
    value = config.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string (got a {type(value).__name__}; the value is not shown)")
    value = value.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigError(
            f"{name} contains spaces, line breaks or control characters inside it; copy it again "
            "(the value is not shown)"
        )
    return value or None


def _plain_setting(config: Mapping[str, Any], name: str) -> str | None:
    value = config.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int):
        raise ConfigError(f"{name} must be a string (got a {type(value).__name__})")
    return str(value).strip() or None


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
    max_rate_limit_wait: float = DEFAULT_MAX_WAIT_SECONDS
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
        api_url = normalise_api_url(_check_url("api_url", config.get("api_url") or DEFAULT_API_URL))
        token_url = _check_url("oauth_token_url", config.get("oauth_token_url") or DEFAULT_TOKEN_URL)
        api_token = secret_setting(config, "api_token")
        oauth = {
            "oauth_client_id": _plain_setting(config, "oauth_client_id"),
            "oauth_client_secret": secret_setting(config, "oauth_client_secret"),
            "oauth_refresh_token": secret_setting(config, "oauth_refresh_token"),
        }
        if any(oauth.values()) and not all(oauth.values()):
            missing = ", ".join(k for k, v in oauth.items() if not v)
            raise ConfigError(
                f"OAuth needs oauth_client_id, oauth_client_secret and oauth_refresh_token; missing: {missing}"
            )
        if not api_token and not all(oauth.values()):
            raise ConfigError(
                "no credentials: set api_token (Settings > Personal preferences > API) or the oauth_* settings"
            )
        burst = config.get("burst_limit")
        timeout = float(config.get("request_timeout") or 60.0)
        raw_retries = config.get("max_retries")
        retries = int(raw_retries) if raw_retries is not None else 7
        if timeout <= 0 or retries < 0:
            raise ConfigError("request_timeout must be > 0 and max_retries >= 0")
        raw_wait = config.get("max_rate_limit_wait")
        max_wait = float(raw_wait) if raw_wait is not None else DEFAULT_MAX_WAIT_SECONDS
        if max_wait < 0:
            raise ConfigError("max_rate_limit_wait must be >= 0 (seconds)")
        return cls(
            api_url=api_url,
            api_token=api_token,
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
            max_rate_limit_wait=max_wait,
            user_agent=user_agent,
        )
