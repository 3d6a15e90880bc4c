"""The one HTTP pipeline every Pipedrive call of the tap and the target goes through.

``PipedriveSession`` is a ``requests.Session`` whose :meth:`send` applies, per attempt: authentication,
the shared rate limiter, the request, the limiter's reading of the answer's headers, and a classification
of the answer into a parsed body or a typed :mod:`~pipedrive_core.http.errors` exception. The retry policy
wraps the attempts. Because it is a plain session, singer-sdk's ``RESTStream`` can use it as its
``requests_session`` unchanged, and the target's worker threads share one instance.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from pipedrive_core.catalogue import Pagination
from pipedrive_core.clock import ServerClock
from pipedrive_core.http.auth import ApiTokenAuth, OAuthRefreshAuth
from pipedrive_core.http.config import ClientConfig
from pipedrive_core.http.errors import (
    STATUS_ERRORS,
    AuthenticationError,
    CloudflareBlockedError,
    DailyBudgetExhaustedError,
    HostUnreachableError,
    InvalidResponseError,
    OAuthError,
    PaginationError,
    PipedriveError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnsafeDestinationError,
    error_fields,
    redact_url,
)
from pipedrive_core.http.ratelimit import RateLimiter, endpoint_class
from pipedrive_core.http.retry import RetryPolicy
from pipedrive_core.http.token_store import RefreshTokenStore
from pipedrive_core.http.urls import Origin, may_carry_credentials, origin
from pipedrive_core.pagination import next_token, token_param

logger = logging.getLogger("pipedrive.http")

#: attribute set on every successful ``requests.Response`` with its parsed JSON body
BODY_ATTR = "pipedrive_body"


class RequestStats:
    """Thread-safe counts of requests sent, by method and by outcome, for summaries and benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_method: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    def count(self, method: str, status: int | None, error: str | None = None) -> None:
        """Record one attempt."""
        with self._lock:
            self.by_method[method] += 1
            if status is not None:
                self.by_status[status] += 1
            if error:
                self.errors[error] += 1

    @property
    def total(self) -> int:
        """All attempts, retries included."""
        return sum(self.by_method.values())


def _connect_failure(exc: BaseException) -> str | None:
    """Why a connection could not be opened (host name unknown, refused, connect timeout), or ``None`` when the
    connection was opened and failed later (dropped, reset): those are retried like other transient errors."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out"
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        nxt = current.__cause__ or current.__context__
        current = nxt if nxt is not current else None
        if isinstance(chain[-1], requests.ConnectionError) and chain[-1].args:
            inner = chain[-1].args[0]
            if isinstance(inner, BaseException):
                chain.append(inner)
                current = getattr(inner, "reason", None) or inner.__cause__ or current
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain).lower()
    if "NameResolutionError" in names or "name or service not known" in text or "nodename nor servname" in text \
            or "getaddrinfo failed" in text or "temporary failure in name resolution" in text:
        return "host name not found"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return "connection refused"
    if "NewConnectionError" in names or "network is unreachable" in text or "no route to host" in text:
        return "cannot open a connection"
    return None


#: refreshes of the OAuth access token one request may cause, one per token it was rejected with
MAX_REFRESHES_PER_REQUEST = 2

#: bytes read per call when a body is loaded (requests' own ``.content`` reads 10 KB per call)
BODY_CHUNK = 1 << 20


def _with_body(response: requests.Response, *, streamed: bool | None) -> requests.Response:
    """The response with its body read, in chunks of :data:`BODY_CHUNK`, unless the caller asked to stream it.

    ``requests`` loads a body in 10 KB reads; each read gives up and retakes the GIL, and while a reader thread
    parses a page, threads receiving other pages wait for it once per read. A few large reads cost the same
    bytes with a fraction of the hand-overs. The body ends up where ``requests`` keeps it (``_content``), so
    ``.content``, ``.text`` and ``.json()`` work as usual.
    """
    if streamed:
        return response
    response._content = b"".join(response.iter_content(BODY_CHUNK)) or b""
    return response


def _is_binary(response: requests.Response) -> bool:
    """Whether a successful answer declares a non-text content type (``GET /v1/files/{id}/download`` answers
    ``application/octet-stream``). JSON, text and a missing type are parsed as JSON, so a proxy's HTML page or a
    broken body on a JSON endpoint is still an :class:`InvalidResponseError` and retried."""
    ctype = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return bool(ctype) and "json" not in ctype and not ctype.startswith("text/")


def _looks_like_html(response: requests.Response) -> bool:
    ctype = response.headers.get("content-type", "")
    return "html" in ctype or response.content[:64].lstrip().lower().startswith((b"<!doctype", b"<html"))


class PipedriveSession(requests.Session):
    """A ``requests.Session`` with Pipedrive's auth, rate limiting, retries and error semantics."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        json_loads: Callable[[bytes], Any] = json.loads,
    ) -> None:
        super().__init__()
        self.config = config
        self.auth_handler: ApiTokenAuth | OAuthRefreshAuth
        if config.uses_oauth:
            refresh_token = str(config.oauth_refresh_token)
            store = (
                RefreshTokenStore(config.oauth_token_store, client_id=str(config.oauth_client_id),
                                  configured_token=refresh_token)
                if config.oauth_token_store
                else None
            )
            self.auth_handler = OAuthRefreshAuth(
                client_id=str(config.oauth_client_id),
                client_secret=str(config.oauth_client_secret),
                refresh_token=(store.load() if store else None) or refresh_token,
                token_url=config.oauth_token_url,
                timeout=config.timeout,
                on_rotate=store.save if store else None,
            )
        else:
            self.auth_handler = ApiTokenAuth(str(config.api_token))
        account = f"{config.api_url}|{self.auth_handler.fingerprint()}"
        self.limiter = limiter or RateLimiter.shared(
            account, burst=config.burst_limit, max_wait=config.max_rate_limit_wait
        )
        self.policy = policy or RetryPolicy(
            max_attempts=config.max_retries + 1, base_delay=config.backoff_base, max_delay=config.backoff_max
        )
        self.json_loads = json_loads
        self.stats = RequestStats()
        #: Pipedrive's time, from the ``Date`` of every answer this session gets
        self.server_clock = ServerClock()
        #: whether any answer arrived yet: until then a host that cannot be connected to fails fast
        self._reached = False
        self.headers["User-Agent"] = config.user_agent
        self.headers["Accept"] = "application/json"
        self.verify = True
        # Pool size: the target's workers share this session.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"PipedriveSession({self.config!r})"

    @property
    def base_url(self) -> str:
        """The API host to call: OAuth's ``api_domain`` once known, else ``api_url``."""
        if isinstance(self.auth_handler, OAuthRefreshAuth):
            self.auth_handler.ensure_token()
            if self.auth_handler.api_domain and self.config.api_url.startswith("https://api.pipedrive.com"):
                return self.auth_handler.api_domain
        return self.config.api_url

    def credential_origins(self) -> set[Origin]:
        """The origins that may receive this session's credentials: ``api_url`` and OAuth's ``api_domain``."""
        urls = [self.config.api_url]
        if isinstance(self.auth_handler, OAuthRefreshAuth) and self.auth_handler.api_domain:
            urls.append(self.auth_handler.api_domain)
        return {o for o in map(origin, urls) if o is not None}

    def _check_destination(self, url: str, method: str) -> None:
        if not may_carry_credentials(url) or origin(url) not in self.credential_origins():
            found = origin(url)
            where = f"{found[0]}://{found[1]}:{found[2]}" if found else "a malformed URL"
            raise UnsafeDestinationError(
                f"refused to send credentials to {where}: only the configured API host (api_url, or the OAuth "
                "api_domain) receives them, over https (plain http only to localhost)",
                method=method, url=url,
            )

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send with retries; return a successful response carrying its parsed body, or raise.

        Redirects are never followed: a redirect would carry the credential headers to wherever the answer
        points (``requests`` keeps custom headers such as ``x-api-token`` across hosts).
        """
        kwargs.setdefault("timeout", self.config.timeout)
        kwargs["allow_redirects"] = False

        def describe() -> str:
            return f"{request.method} {redact_url(request.url or '')}"

        for attempt in self.policy.retrying(describe):
            with attempt:
                return self._send_refreshing(request, kwargs)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _send_refreshing(self, request: requests.PreparedRequest, kwargs: dict[str, Any]) -> requests.Response:
        """Send; with OAuth, a 401 refreshes the access token the request carried (unless another thread already
        replaced it) and sends again. Once per token: a token that was refreshed and then rejected too (it expired
        in between, or an early expiry met a fresh token) gets one more refresh, up to
        :data:`MAX_REFRESHES_PER_REQUEST`; the same token rejected twice is the error."""
        rejected: list[str | None] = []
        while True:
            carried: list[str | None] = []
            try:
                return self._attempt(request, kwargs, carried)
            except OAuthError:
                raise
            except AuthenticationError:
                if not isinstance(self.auth_handler, OAuthRefreshAuth):
                    raise
                token = carried[-1] if carried else None
                if token in rejected or len(rejected) >= MAX_REFRESHES_PER_REQUEST:
                    raise
                rejected.append(token)
                logger.info("Pipedrive rejected the OAuth access token; refreshing it")
                self.auth_handler.refresh(rejected_token=token)

    def _attempt(self, request: requests.PreparedRequest, kwargs: dict[str, Any],
                 carried: list[str | None] | None = None) -> requests.Response:
        """Send ``request`` once; the OAuth access token it carries is appended to ``carried``."""
        prepared = request.copy()
        method = str(prepared.method)
        if isinstance(self.auth_handler, OAuthRefreshAuth):
            self.auth_handler.ensure_token()  # learns api_domain, one of the allowed destinations
        self._check_destination(prepared.url or "", method)
        self.auth_handler(prepared)
        if carried is not None and isinstance(self.auth_handler, OAuthRefreshAuth):
            carried.append(self.auth_handler.token_of(prepared))
        kind = endpoint_class(prepared.url or "")
        self.limiter.acquire(kind)
        try:
            response = _with_body(super().send(prepared, **{**kwargs, "stream": True}), streamed=kwargs.get("stream"))
        except (requests.exceptions.ConnectTimeout, requests.ConnectionError) as exc:
            reason = _connect_failure(exc)
            if reason is None:
                self.stats.count(method, None, "connection")
                raise TransportError(
                    f"connection failed or dropped ({type(exc).__name__})", method=method, url=prepared.url
                ) from None
            self.stats.count(method, None, "connect")
            host = redact_url(prepared.url or "").split("/")[2] if "//" in (prepared.url or "") else "?"
            raise HostUnreachableError(
                f"connection failed, cannot connect to {host} ({reason}); check api_url and the network",
                method=method, url=prepared.url, first_contact=not self._reached,
            ) from None
        except requests.Timeout:
            self.stats.count(method, None, "timeout")
            raise TransportError(
                f"no answer within {kwargs.get('timeout')}s", method=method, url=prepared.url
            ) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            self.stats.count(method, None, "connection")
            raise TransportError(
                f"connection failed or dropped ({type(exc).__name__})", method=method, url=prepared.url
            ) from None
        self._reached = True
        self.stats.count(method, response.status_code)
        self.server_clock.observe(response)
        self.limiter.observe(response.headers, response.status_code, kind)
        return self._classify(response, method)

    def _classify(self, response: requests.Response, method: str) -> requests.Response:
        status = response.status_code
        url = response.request.url if response.request else response.url
        if status < 300 and _is_binary(response):
            setattr(response, BODY_ATTR, None)  # a file download: callers read response.content
            return response
        if status < 300:
            try:
                body = self.json_loads(response.content) if response.content else None
            except ValueError:
                raise InvalidResponseError(
                    "the answer is not valid JSON", method=method, url=url, status=status
                ) from None
            if body is None:
                raise InvalidResponseError(
                    "the answer's body is null (a known transient Pipedrive glitch)",
                    method=method, url=url, status=status,
                )
            setattr(response, BODY_ATTR, body)
            return response
        if 300 <= status < 400:
            target = origin(response.headers.get("location") or "")
            where = f" to {target[0]}://{target[1]}" if target else ""
            raise UnsafeDestinationError(
                f"the API answered with a redirect{where}; redirects are not followed, so credentials never leave "
                "the configured API host (check api_url)",
                method=method, url=url, status=status,
            )
        if status == 403 and _looks_like_html(response):
            raise CloudflareBlockedError(
                "Cloudflare blocked the client with an HTML page, which Pipedrive does after repeated "
                "rate-limit violations; wait a few minutes, lower burst_limit or concurrency, and rerun",
                method=method, url=url, status=status,
            )
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        error, info = error_fields(body)
        if status == 429:
            daily_spent = self.limiter.daily_left is not None and self.limiter.daily_left <= 0
            if daily_spent or "daily" in f"{error} {info}".lower():
                raise DailyBudgetExhaustedError(
                    "the daily API token budget of this Pipedrive company is spent; rerun after it resets",
                    method=method, url=url, status=status, error=error, error_info=info,
                )
            # The limiter already blocks further sends until the window resets; retry right after.
            raise RateLimitedError(
                "rate limit exceeded", method=method, url=url, status=status, error=error,
                error_info=info, retry_after=0.0,
            )
        if status >= 500:
            raise ServerError("server error", method=method, url=url, status=status, error=error, error_info=info)
        cls = STATUS_ERRORS.get(status, PipedriveError)
        raise cls(response.reason or "request refused", method=method, url=url, status=status,
                  error=error, error_info=info)


def body_of(response: requests.Response) -> Any:
    """The parsed JSON body a :class:`PipedriveSession` attached to a successful response (``None`` for a
    binary answer such as a file download: read ``response.content``)."""
    return getattr(response, BODY_ATTR)


def release_raw_body(response: requests.Response) -> None:
    """Let go of a parsed answer's raw bytes: a page waiting for its reader then holds only its records (the raw
    JSON of a page of deals is a third of the size again of its parsed records). ``.content`` is empty
    afterwards; :func:`body_of` still gives the parsed body."""
    if getattr(response, BODY_ATTR, None) is not None:
        response._content = b""


#: the cheapest authenticated call (2 API tokens): the token's user, with its ``company_id``
CURRENT_USER_PATH = "/v1/users/me"


class PipedriveClient:
    """Convenience calls on a :class:`PipedriveSession` for code outside singer-sdk streams."""

    def __init__(self, config: ClientConfig, *, session: PipedriveSession | None = None) -> None:
        self.config = config
        self.session = session or PipedriveSession(config)

    def url(self, path: str) -> str:
        """Absolute URL of an API path such as ``/api/v2/deals``."""
        return f"{self.session.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        resource: str | None = None,
    ) -> Any:
        """Send one call (with retries) and return the whole parsed envelope."""
        try:
            response = self.session.request(method, self.url(path), params=params, json=json_body)
        except PipedriveError as exc:
            if resource:
                exc.with_resource(resource)
            raise
        return body_of(response)

    def current_user(self) -> Any:
        """``GET /v1/users/me``'s envelope; its ``Date`` also sets the session's clock, which is how a run that has
        asked nothing else yet learns Pipedrive's time."""
        return self.request("GET", CURRENT_USER_PATH, resource="users")

    def iter_pages(
        self,
        path: str,
        *,
        pagination: Pagination,
        params: Mapping[str, Any] | None = None,
        page_limit: int = 500,
        resource: str | None = None,
    ) -> Iterator[list[Any]]:
        """Yield the ``data`` list of each page of a v1 (start/limit) or v2 (cursor) list."""
        query: dict[str, Any] = dict(params or {})
        param = token_param(pagination)
        if param is not None:
            query["limit"] = page_limit
        while True:
            body = self.request("GET", path, params=query, resource=resource)
            data = body.get("data") or []
            yield data if isinstance(data, list) else [data]
            try:
                token = next_token(pagination, body, query.get(param) if param else None)
            except PaginationError as exc:
                if resource:
                    exc.with_resource(resource)
                raise
            if token is None or param is None:
                return
            query[param] = token
