"""Authentication for every request: an API token in the ``x-api-token`` header, or OAuth2 access
tokens obtained with a refresh token.

The token is never put in a URL (Pipedrive also accepts ``?api_token=``, which leaks into proxies and
logs), and both classes mask secrets in ``repr`` so a debugger or a log of the session shows nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.auth import AuthBase

from pipedrive_core.http.errors import OAuthError, TransportError, error_fields
from pipedrive_core.http.urls import may_carry_credentials

DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"  # noqa: S105 - a URL, not a secret
#: refresh this many seconds before the access token's announced expiry
EXPIRY_MARGIN_SECONDS = 60.0
#: the scheme an OAuth access token is sent with
BEARER = "Bearer "


class ApiTokenAuth(AuthBase):
    """Send the personal API token in the ``x-api-token`` header."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["x-api-token"] = self._token
        return request

    def fingerprint(self) -> str:
        """A non-secret identity for sharing one rate limiter per account."""
        return f"token:{hash(self._token) & 0xFFFFFFFF:08x}"

    def __repr__(self) -> str:
        return "ApiTokenAuth(token=***)"


class OAuthRefreshAuth(AuthBase):
    """OAuth2 bearer tokens from Pipedrive's refresh-token grant.

    The access token is refreshed shortly before it expires and once more when Pipedrive answers 401
    (the session calls :meth:`refresh`). Pipedrive may rotate the refresh token: the newest one is kept for
    the rest of the run (``on_rotate`` lets a caller persist it). ``api_domain`` from the token answer is the
    company host that OAuth calls must use.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_url: str = DEFAULT_TOKEN_URL,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        on_rotate: Callable[[str], None] | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.token_url = token_url
        self._timeout = timeout
        self._http = session or requests.Session()
        self._clock = clock
        self._on_rotate = on_rotate
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0
        self.api_domain: str | None = None
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"OAuthRefreshAuth(client_id={self._client_id!r}, token_url={self.token_url!r}, secrets=***)"

    def fingerprint(self) -> str:
        """A non-secret identity for sharing one rate limiter per account."""
        return f"oauth:{self._client_id}"

    def _expired(self) -> bool:
        return self._access_token is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_SECONDS

    def ensure_token(self) -> None:
        """Refresh the access token if there is none yet or it is about to expire."""
        with self._lock:
            if self._expired():
                self._refresh_locked()

    def refresh(self, rejected_token: str | None = None) -> None:
        """Get a new access token, unless another thread already replaced ``rejected_token``."""
        with self._lock:
            if rejected_token is not None and self._access_token != rejected_token:
                return
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        if not may_carry_credentials(self.token_url):
            raise OAuthError("oauth_token_url must be an https URL (plain http only to localhost)", method="POST",
                             url=self.token_url)
        try:
            # Never follow a redirect: a 307/308 would repeat the refresh token and client secret elsewhere.
            response = self._http.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": self._refresh_token},
                auth=(self._client_id, self._client_secret),
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TransportError(
                f"could not reach the OAuth token endpoint ({type(exc).__name__})",
                method="POST",
                url=self.token_url,
            ) from None
        if 300 <= response.status_code < 400:
            raise OAuthError(
                "the OAuth token endpoint answered with a redirect, which is not followed (it would repeat the "
                "refresh token and client secret elsewhere); check oauth_token_url",
                method="POST", url=self.token_url, status=response.status_code,
            )
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            error, info = error_fields(body)
            if isinstance(body, dict) and not error:
                error = body.get("error_description") or body.get("message")
            raise OAuthError(
                "the OAuth refresh token was refused (revoked, expired after 60 days unused, or issued to "
                "another client); authorize the app again and update oauth_refresh_token",
                method="POST",
                url=self.token_url,
                status=response.status_code,
                error=str(error) if error else None,
                error_info=info,
            )
        api_domain = body.get("api_domain")
        if api_domain and not (isinstance(api_domain, str) and may_carry_credentials(api_domain)):
            raise OAuthError(
                "the OAuth token answer names an api_domain that is not an https URL; the access token is not "
                "sent there", method="POST", url=self.token_url, status=response.status_code,
            )
        self._access_token = str(body["access_token"])
        self._expires_at = self._clock() + float(body.get("expires_in") or 3600)
        new_refresh = body.get("refresh_token")
        if new_refresh and new_refresh != self._refresh_token:
            self._refresh_token = str(new_refresh)
            if self._on_rotate is not None:
                self._on_rotate(self._refresh_token)
        if api_domain:
            self.api_domain = str(api_domain).rstrip("/")
        self.refresh_count += 1

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.ensure_token()
        request.headers["Authorization"] = f"{BEARER}{self._access_token}"
        return request

    @staticmethod
    def token_of(request: requests.PreparedRequest) -> str | None:
        """The access token ``request`` carries (for the session to tell which token a 401 rejected)."""
        header = request.headers.get("Authorization") or ""
        return header[len(BEARER):] if header.startswith(BEARER) else None
