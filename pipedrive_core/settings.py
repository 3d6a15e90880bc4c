"""Connection settings common to tap-pipedrive and target-pipedrive (one schema, one meaning)."""

from __future__ import annotations

from singer_sdk import typing as th

from pipedrive_core.http.auth import DEFAULT_TOKEN_URL
from pipedrive_core.http.config import DEFAULT_API_URL

CONNECTION_SETTINGS = th.PropertiesList(
    th.Property(
        "api_token",
        th.StringType,
        secret=True,
        description="Pipedrive personal API token, sent in the x-api-token header (never in URLs or logs). "
        "Required unless the oauth_* settings are given.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        description="API host. https only, except 127.0.0.1/localhost (the emulator). With OAuth the "
        "api_domain from the token answer is used instead of the default host.",
    ),
    th.Property("oauth_client_id", th.StringType, description="OAuth app client id (with the two below)."),
    th.Property("oauth_client_secret", th.StringType, secret=True, description="OAuth app client secret."),
    th.Property(
        "oauth_refresh_token",
        th.StringType,
        secret=True,
        description="OAuth refresh token; access tokens are refreshed from it (rotated tokens kept for the run).",
    ),
    th.Property(
        "oauth_token_store",
        th.StringType,
        description="File that keeps the newest OAuth refresh token when Pipedrive rotates it (mode 0600), so the "
        "next run does not present a revoked one. Recommended with OAuth; unset: rotated tokens live for one run.",
    ),
    th.Property("oauth_token_url", th.StringType, default=DEFAULT_TOKEN_URL, description="OAuth token endpoint."),
    th.Property("request_timeout", th.NumberType, default=60, description="Seconds to wait for one answer."),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=7,
        description="Retries of a failed call (5xx, timeouts, dropped connections, invalid JSON); 429s wait for "
        "the rate-limit window and get more attempts.",
    ),
    th.Property(
        "burst_limit",
        th.IntegerType,
        description="Requests allowed per rolling 2 s window (your plan's burst limit). Unset: learned from "
        "Pipedrive's x-ratelimit-limit header.",
    ),
)
