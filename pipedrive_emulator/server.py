"""The emulator: an HTTP/1.1 keep-alive server on loopback in front of the store.

Request pipeline: parse → latency → fault rules (pre-dispatch kinds) → ``/oauth/token`` → auth → rate
limits → v1-sunset check → route → handler → post-dispatch faults (drop, malformed, commit-then-timeout,
timeout) → answer with rate-limit headers → request log.

Usable in-process from pytest::

    with Emulator(seed=1) as emu:
        requests.get(f"{emu.url}/api/v2/deals", headers={"x-api-token": emu.api_token})
        emu.clock.advance(3600)
        emu.store.update("deals", 1, {"title": "Changed"})
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from .auth import OAuthServer, OAuthSettings, authenticate
from .clock import Clock
from .envelope import Answer, ApiError, dumps
from .faults import CLOUDFLARE_403, POST_DISPATCH, FaultInjector, FaultRule, parse_spec
from .ratelimit import RateLimitedError, RateLimiter
from .request import Context, Request
from .routing import Router, build_router, sunset_error
from .seed import seed_store, sizes_for
from .store import Store
from .writes import parse_multipart


class LoggedRequest(NamedTuple):
    """One served request: what tests count."""

    method: str
    path: str
    query: dict[str, str]
    status: int


class RequestLog:
    """A thread-safe list of :class:`LoggedRequest`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []

    def append(self, item: LoggedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[LoggedRequest]:
        """A copy of the log."""
        with self._lock:
            return list(self._items)

    def count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        """How many logged requests match (``path`` exact, without query)."""
        return sum(1 for r in self.snapshot() if (method is None or r.method == method)
                   and (path is None or r.path == path) and (status is None or r.status == status))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> LoggedRequest:
        with self._lock:
            return self._items[index]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    emulator: Emulator


class Emulator:
    """A faithful local Pipedrive (API v1 and v2) with controllable time, limits and faults."""

    def __init__(  # noqa: PLR0917 - positional knobs, as documented
        self,
        seed: int = 1,
        scale: float = 1.0,
        latency_ms: float = 0,
        burst: int | None = None,
        daily_budget: int | None = None,
        faults: str | list[FaultRule] | None = None,
        v1_sunset: bool = True,
        api_token: str = "emulator-token",  # noqa: S107 - a fixture value
        oauth: OAuthSettings | None = None,
        port: int = 0,
        *,
        sizes: Mapping[str, int] | None = None,
        custom_fields_per_entity: int = 18,
        jitter_ms: float = 0,
        search_burst: int | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        plan: str = "growth",
    ) -> None:
        self.seed = seed
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.v1_sunset = v1_sunset
        self.plan = plan
        self.api_token = api_token
        self.port = port
        self.host = host
        self.clock = clock or Clock()
        self.store = Store(self.clock)
        self.sizes = sizes_for(scale, sizes)
        seed_store(self.store, seed, self.sizes, custom_fields_per_entity)
        self.limiter = RateLimiter(burst, daily_budget, search_burst)
        rules = parse_spec(faults) if isinstance(faults, str) else list(faults or [])
        self.faults = FaultInjector(seed, rules)
        self.oauth_settings = oauth
        self.oauth: OAuthServer | None = None
        self.requests = RequestLog()
        self.router: Router = build_router()
        self._jitter = random.Random(f"jitter:{seed}")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving on a daemon thread; return the base URL ``http://127.0.0.1:PORT``."""
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        if self.oauth_settings is not None:
            self.oauth = OAuthServer(self.oauth_settings, self.clock, self.url)
        self.context = Context(self.store, self.v1_sunset, self.url, self.plan)
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"pipedrive-emulator:{self.port}", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers ---------------------------------------------------------------------------
    def reset_log(self) -> None:
        """Clear the request log."""
        self.requests.clear()

    def restore_budget(self) -> None:
        """Refill the daily token budget (a new day)."""
        self.limiter.restore_budget()

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate with the API token."""
        return {"x-api-token": self.api_token}

    # -- request pipeline -----------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes
               ) -> tuple[Answer, FaultRule | None, Request]:
        """Answer one request (no socket work: the handler writes what this returns)."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        # first value of each parameter; id arrays (``deal_ids=1&deal_ids=2``) are joined with commas
        query = {k: ",".join(v) if len(v) > 1 and k.endswith(("_ids", "[]")) else v[0]
                 for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        req = Request(method, path, query)
        self.store.maybe_purge()
        if self.latency_ms or self.jitter_ms:
            time.sleep((self.latency_ms + self._jitter.uniform(0, self.jitter_ms)) / 1000)
        rule = self.faults.pick(method, path)
        if rule is not None and rule.kind not in POST_DISPATCH:
            return self._fault_answer(rule), rule, req
        if path == "/oauth/token" and method == "POST":
            if self.oauth is None:
                return ApiError(404, "OAuth is not enabled on this emulator").as_answer(), None, req
            return self.oauth.token(headers.get("authorization"), raw_body), None, req
        answer = self._dispatch(method, path, headers, raw_body, req)
        return answer, rule, req

    def _dispatch(self, method: str, path: str, headers: dict[str, str], raw_body: bytes, req: Request) -> Answer:
        route, params, path_exists = self.router.match(method, path)
        try:
            authenticate(self.api_token, self.oauth, headers, req.query)
        except ApiError as exc:
            return exc.as_answer(self.limiter.peek_headers())
        cost = route.cost if route is not None else 0
        try:
            limit_headers = self.limiter.admit(cost, search=route is not None and route.is_search)
        except RateLimitedError as exc:
            return exc.error.as_answer(exc.headers)
        try:
            if route is None:
                if path_exists:
                    raise ApiError(405, f"Method {method} is not allowed for {path}")
                raise ApiError(404, "Unknown method .")
            if route.sunset and self.v1_sunset:
                raise sunset_error(route)
            req.params = params
            req.body = _parse_body(headers, raw_body)
            answer = route.handler(self.context, req)
        except ApiError as exc:
            answer = exc.as_answer()
        except Exception as exc:
            answer = ApiError(500, f"Internal emulator error: {type(exc).__name__}: {exc}").as_answer()
        answer.headers.update(limit_headers)
        return answer

    def _fault_answer(self, rule: FaultRule) -> Answer:
        kind = rule.kind
        if kind == "html403":
            return Answer(403, CLOUDFLARE_403, {}, "text/html; charset=UTF-8")
        if kind == "nullbody":
            return Answer(200, b"null", self.limiter.peek_headers())
        if kind == "oauth_expire":
            return ApiError(401, "Unauthorized: access token has expired", "Refresh the access token.",
                            code="token_expired").as_answer()
        if kind == "429":
            headers = self.limiter.peek_headers() if rule.headers else {}
            if rule.headers:
                headers["x-ratelimit-remaining"] = "0"
                headers["x-ratelimit-reset"] = "2"
            return ApiError(429, "Request over limit", "Slow down.").as_answer(headers)
        texts = {"500": "Internal server error", "502": "Bad gateway", "503": "Service unavailable",
                 "524": "A timeout occurred"}
        return ApiError(int(kind), texts[kind], "Please retry later.").as_answer()


def _parse_body(headers: dict[str, str], raw: bytes) -> Any:
    if not raw:
        return None
    ctype = headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        return parse_multipart(ctype, raw)
    if "application/x-www-form-urlencoded" in ctype:
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Request body is not valid JSON") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: headers and body are two writes; with Nagle on, the body waits for the client's delayed ACK (~40 ms)
    disable_nagle_algorithm = True
    server: _Server
    server_version = "pipedrive-emulator"
    sys_version = ""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header tells the emulator's (fake) time, as Pipedrive's tells its own."""
        return super().date_time_string(self.server.emulator.clock.epoch() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator keeps its own request log."""

    def _serve(self) -> None:
        emu = self.server.emulator
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer, rule, req = emu.handle(self.command, self.path, headers, raw)
        emu.requests.append(LoggedRequest(self.command, req.path, req.query, answer.status))
        if rule is not None and rule.kind in POST_DISPATCH:
            self._post_fault(rule, answer)
            return
        self._write(answer)

    def _write(self, answer: Answer, *, body: bytes | None = None, truncate: bool = False) -> None:
        payload = answer.body if body is None else body
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2] if truncate else payload)
        self.wfile.flush()

    def _post_fault(self, rule: FaultRule, answer: Answer) -> None:
        kind = rule.kind
        if kind == "malformed":
            self._write(Answer(200, b'{"success": true, "data": [{"id": 1, "title": "trunc', answer.headers))
            return
        if kind == "drop":
            self._write(answer, truncate=True)
            self._hang_up()
            return
        time.sleep(rule.delay)
        if kind == "timeout" and rule.then == "answer":
            self._write(answer)
            return
        self._hang_up()

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - stdlib naming


__all__ = ["Emulator", "LoggedRequest", "OAuthSettings", "RequestLog", "dumps"]
