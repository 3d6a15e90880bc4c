"""Connection settings common to tap-pipedrive and target-pipedrive (one schema, one meaning), and the checks
both plugins run on a config at start: unknown keys (typos) and error messages that never repeat a secret."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from singer_sdk import typing as th

from pipedrive_core.http.auth import DEFAULT_TOKEN_URL
from pipedrive_core.http.config import DEFAULT_API_URL
from pipedrive_core.http.ratelimit import DEFAULT_MAX_WAIT_SECONDS

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
        "max_rate_limit_wait",
        th.NumberType,
        default=DEFAULT_MAX_WAIT_SECONDS,
        description="Longest single wait (seconds) the run accepts when Pipedrive's rate-limit headers ask it to "
        "pause (a 429, or x-ratelimit-remaining 0, with x-ratelimit-reset). Longer announced waits stop the run "
        "cleanly with its state saved, like a spent daily budget; waits over a few seconds are logged at INFO.",
    ),
    th.Property(
        "burst_limit",
        th.IntegerType,
        description="Requests allowed per rolling 2 s window (your plan's burst limit). Unset: learned from "
        "Pipedrive's x-ratelimit-limit header.",
    ),
)

#: settings whose values are credentials (marked ``secret`` above)
SECRET_SETTINGS: frozenset[str] = frozenset(
    name for name, prop in CONNECTION_SETTINGS.to_dict()["properties"].items() if prop.get("secret")
)
#: settings that are URLs and may carry ``user:password@`` by mistake
URL_SETTINGS = ("api_url", "oauth_token_url")
MASK = "***"


def _secret_texts(config: Mapping[str, Any]) -> set[str]:
    """Every spelling under which a secret of ``config`` could appear in a message."""
    texts: set[str] = set()
    for name in SECRET_SETTINGS:
        value = config.get(name)
        if value is None or value == "" or isinstance(value, bool):
            continue
        for text in (str(value), repr(value), json.dumps(value, default=str)):
            texts.update({text, text.strip()})
        if isinstance(value, str):
            texts.update(part for part in value.split() if len(part) >= 4)
    for name in URL_SETTINGS:
        value = config.get(name)
        if not isinstance(value, str):
            continue
        try:
            parts = urlsplit(value.strip())
            userinfo = [parts.username, parts.password]
        except ValueError:
            userinfo = []
        netloc = value.split("//", 1)[-1].split("/", 1)[0]
        if "@" in netloc:
            userinfo.append(netloc.rsplit("@", 1)[0])
        texts.update(t for item in userinfo if item for t in (item, unquote(item)))
    return {t for t in texts if len(t) >= 3}


def mask_secrets(messages: Iterable[str], config: Mapping[str, Any]) -> list[str]:
    """``messages`` (e.g. singer-sdk's JSON-schema errors, which quote the offending value) with every credential
    of ``config`` and every ``user:password`` of its URLs replaced by ``***``."""
    texts = sorted(_secret_texts(config), key=len, reverse=True)
    masked = []
    for message in messages:
        clean = message
        for text in texts:
            clean = clean.replace(text, MASK)
        masked.append(clean)
    return masked


def _folded(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def unknown_settings(config: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One warning per config key the plugin does not know (a typo such as ``apitoken`` would otherwise end in a
    misleading "no credentials"), with a "did you mean" when a known name is close."""
    names = sorted(set(known))
    by_folded = {_folded(n): n for n in names}
    warnings = []
    for key in sorted(k for k in config if k not in names):
        guess = by_folded.get(_folded(key))
        if guess is None:
            close = difflib.get_close_matches(_folded(key), list(by_folded), n=1, cutoff=0.75)
            guess = by_folded[close[0]] if close else None
        hint = f"; did you mean {guess!r}?" if guess else ""
        warnings.append(f"unknown setting {key!r} is ignored{hint}")
    return warnings
