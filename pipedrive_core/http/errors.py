"""Errors the HTTP layer raises, each naming what a user needs to act: resource, method, path, status, and
Pipedrive's own ``error``/``error_info`` texts. Secrets never appear: paths are stripped of query strings
that could hold credentials before they reach a message."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = re.compile(r"(?i)^(api_token|access_token|refresh_token|client_secret|token|code)$")


def redact_url(url: str) -> str:
    """Return ``url`` without a scheme/host password and with secret query values replaced by ``***``."""
    parts = urlsplit(url)
    query = urlencode(
        [(k, "***" if _SECRET_PARAMS.match(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    )
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class PipedriveError(Exception):
    """Base of every error the connector raises about the Pipedrive API."""

    #: whether the retry policy may try the same request again
    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        error: str | None = None,
        error_info: str | None = None,
        resource: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = redact_url(url) if url else None
        self.status = status
        self.error = error
        self.error_info = error_info
        self.resource = resource
        #: seconds the server asked us to wait (429 ``x-ratelimit-reset``), if any
        self.retry_after = retry_after

    def with_resource(self, resource: str) -> PipedriveError:
        """Attach the catalogue resource the failing call was for (callers know it, the session does not)."""
        self.resource = resource
        return self

    @property
    def path(self) -> str | None:
        """The request path (and redacted query) without the host."""
        if not self.url:
            return None
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def __str__(self) -> str:
        where = " ".join(p for p in (self.method, self.path) if p)
        head = f"Pipedrive {self.resource}: " if self.resource else "Pipedrive: "
        status = f"HTTP {self.status} " if self.status is not None else ""
        detail = "; ".join(p for p in (self.error, self.error_info) if p)
        text = f"{head}{where} failed: {status}{self.message}".rstrip()
        if detail and detail not in self.message:
            text += f" (Pipedrive says: {detail})"
        return text


class TransportError(PipedriveError):
    """Timeouts, refused or dropped connections: the request may not have reached Pipedrive."""

    retriable = True


class HostUnreachableError(TransportError):
    """No connection could be opened (host name unknown, connection refused, connect timeout): the request did
    not reach Pipedrive. Before the first answer of a session this is almost always a wrong ``api_url`` or no
    network, so it gets only a few quick attempts (``first_contact``); later it is retried like other transient
    errors."""

    def __init__(self, message: str, *, first_contact: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.first_contact = first_contact


class InvalidResponseError(PipedriveError):
    """A 2xx answer whose body is not JSON, or is JSON ``null``: Pipedrive's transient glitches."""

    retriable = True


class RateLimitedError(PipedriveError):
    """HTTP 429 from the burst limit: wait for the window and try again."""

    retriable = True


class ServerError(PipedriveError):
    """HTTP 5xx (including Cloudflare's 52x): transient on Pipedrive's side."""

    retriable = True


class DailyBudgetExhaustedError(PipedriveError):
    """The company's daily token budget is spent; nothing will succeed until it resets."""


class PaginationError(PipedriveError):
    """A list answer's paging data cannot be followed: a position that does not advance, or more items announced
    with no way to tell where they start. Not retried: the same answer would come back."""


class RateLimitWaitTooLongError(DailyBudgetExhaustedError):
    """Pipedrive's rate-limit headers ask for a pause longer than ``max_rate_limit_wait``.

    Handled like a spent daily budget (a subclass, so both plugins stop the same way: state kept, the exit
    code that tells a scheduler to retry later): the API is closed for longer than a run should sleep.
    """


class UnsafeDestinationError(PipedriveError):
    """A request (or a redirect) would carry credentials to a host other than the configured API host, or
    without TLS: refused before anything is sent."""


class BadRequestError(PipedriveError):
    """HTTP 400: Pipedrive refused the request's parameters or payload."""


class AuthenticationError(PipedriveError):
    """HTTP 401: the API token or OAuth access token is missing, wrong or revoked."""


class PaymentRequiredError(PipedriveError):
    """HTTP 402: the company's plan does not include this feature."""


class ForbiddenError(PipedriveError):
    """HTTP 403: the user lacks permission for this resource."""


class CloudflareBlockedError(ForbiddenError):
    """HTTP 403 with an HTML page: Cloudflare blocked the client after repeated limit violations."""


class NotFoundError(PipedriveError):
    """HTTP 404: the record or path does not exist (for a record: deleted, or never existed)."""


class GoneError(PipedriveError):
    """HTTP 410: Pipedrive retired the endpoint (e.g. the v1 entity endpoints since 2026-08-01)."""


class OAuthError(AuthenticationError):
    """The OAuth token endpoint refused to refresh (revoked or expired refresh token, bad client)."""


STATUS_ERRORS: dict[int, type[PipedriveError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: ForbiddenError,
    404: NotFoundError,
    410: GoneError,
    429: RateLimitedError,
}


def error_fields(body: Any) -> tuple[str | None, str | None]:
    """Extract Pipedrive's ``error`` and ``error_info`` from an error envelope, tolerating odd bodies."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    info = body.get("error_info")
    if isinstance(error, dict):  # some v2 errors nest {"message": ...}
        error = error.get("message") or str(error)
    return (str(error) if error else None, str(info) if info else None)
