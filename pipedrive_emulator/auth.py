"""API-token and OAuth 2 authentication, with OAuth token expiry on the fake clock.

``x-api-token`` (or the discouraged ``api_token`` query parameter) must equal the configured token; an
``Authorization: Bearer`` token must have been issued by ``POST /oauth/token`` (``grant_type=refresh_token``,
HTTP basic ``client_id:client_secret``) and not be expired. Refresh tokens rotate on every use: the old one
is revoked, so a client that does not keep the newest gets ``invalid_grant``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs

from .clock import Clock
from .envelope import Answer, ApiError, dumps


@dataclass(frozen=True)
class OAuthSettings:
    """The OAuth app the emulator knows, and the refresh token it starts with."""

    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"  # noqa: S105 - a fixture value, not a credential
    refresh_token: str = "emulator-refresh-0"  # noqa: S105
    access_token_ttl: int = 3600
    rotate_refresh_tokens: bool = True


class OAuthServer:
    """Issues, rotates, expires and revokes tokens."""

    def __init__(self, settings: OAuthSettings, clock: Clock, api_domain: str) -> None:
        self.settings = settings
        self.clock = clock
        self.api_domain = api_domain
        self._lock = threading.Lock()
        self._counter = 0
        self.refresh_tokens: set[str] = {settings.refresh_token}
        self.access_tokens: dict[str, int] = {}  #: token → expiry epoch (fake clock)

    def _new(self, kind: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{kind}:{self._counter}".encode()).hexdigest()[:32]
        return f"{kind}:{self._counter}:{digest}"

    def token(self, authorization: str | None, body: bytes) -> Answer:
        """``POST /oauth/token``: the refresh-token grant."""
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
        if not self._client_ok(authorization, form):
            return _oauth_error(401, "invalid_client", "Invalid client credentials")
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "Only grant_type=refresh_token is supported")
        refresh = form.get("refresh_token", "")
        with self._lock:
            if refresh not in self.refresh_tokens:
                return _oauth_error(400, "invalid_grant", "Invalid or revoked refresh token")
            access = self._new("access")
            self.access_tokens[access] = self.clock.epoch() + self.settings.access_token_ttl
            new_refresh = refresh
            if self.settings.rotate_refresh_tokens:
                self.refresh_tokens.discard(refresh)
                new_refresh = self._new("refresh")
                self.refresh_tokens.add(new_refresh)
        return Answer(200, dumps({"access_token": access, "token_type": "Bearer", "refresh_token": new_refresh,
                                  "scope": "base,deals:full,contacts:full",
                                  "expires_in": self.settings.access_token_ttl, "api_domain": self.api_domain}))

    def _client_ok(self, authorization: str | None, form: dict[str, str]) -> bool:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
            except ValueError:
                return False
            client_id, _, secret = decoded.partition(":")
        return client_id == self.settings.client_id and secret == self.settings.client_secret

    def check(self, token: str) -> str | None:
        """None when the access token is valid, else why not (``expired`` / ``invalid``)."""
        expiry = self.access_tokens.get(token)
        if expiry is None:
            return "invalid"
        if self.clock.epoch() >= expiry:
            return "expired"
        return None

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token, or all of them (the user disconnected the app)."""
        with self._lock:
            if refresh_token is None:
                self.refresh_tokens.clear()
            else:
                self.refresh_tokens.discard(refresh_token)

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired now."""
        with self._lock:
            now = self.clock.epoch()
            for token in self.access_tokens:
                self.access_tokens[token] = now


def _oauth_error(status: int, error: str, description: str) -> Answer:
    return Answer(status, dumps({"success": False, "error": error, "error_description": description,
                                 "message": description}))


def unauthorized(reason: str = "invalid") -> ApiError:
    """Pipedrive's 401 envelope."""
    if reason == "expired":
        return ApiError(401, "Unauthorized: access token has expired", "Refresh the access token.",
                        code="token_expired")
    return ApiError(401, "You need to be authorized to make this request.",
                    "Please check developers.pipedrive.com for more information about Pipedrive API.")


def authenticate(api_token: str, oauth: OAuthServer | None, headers: dict[str, str],
                 query: dict[str, str]) -> None:
    """Raise a 401 unless the request carries a valid API token or OAuth access token."""
    token = headers.get("x-api-token") or query.get("api_token")
    if token is not None:
        if token == api_token:
            return
        raise unauthorized()
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer ") and oauth is not None:
        problem = oauth.check(authorization[7:].strip())
        if problem is None:
            return
        raise unauthorized(problem)
    raise unauthorized()
