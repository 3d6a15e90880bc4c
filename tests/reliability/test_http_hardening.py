"""The shared HTTP layer's guarantees the reliability matrix leans on, checked without a tap or target."""

from __future__ import annotations

import io
import logging
import random
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses

from pipedrive_core.http import ClientConfig, PipedriveClient, PipedriveSession, RetryPolicy
from pipedrive_core.http.errors import (
    DailyBudgetExhaustedError,
    HostUnreachableError,
    OAuthError,
    RateLimitWaitTooLongError,
    TransportError,
    UnsafeDestinationError,
)
from pipedrive_core.http.ratelimit import RateLimiter, endpoint_class
from target_pipedrive.target import TargetPipedrive
from target_pipedrive.writer import RunStoppedError
from tests.reliability.conftest import TARGET_FAST, TOKEN, log_tail, small_emulator, sync, tap_config, target_files
from tests.target.conftest import empty_sizes, record, schema, text


def test_a_new_run_in_the_same_process_relearns_a_daily_budget_that_was_spent():
    """A spent budget must not outlive the run that saw it: the next run asks Pipedrive again, so an in-process
    rerun after the reset can start."""
    account = "https://rel-budget.example|token:1"
    first = RateLimiter.shared(account)
    first.observe({"x-daily-requests-left": "0"}, 429)
    with pytest.raises(DailyBudgetExhaustedError):
        first.acquire()
    again = RateLimiter.shared(account)  # what a new PipedriveSession does
    assert again is first  # still one limiter per account (burst accounting stays shared)
    again.acquire()  # the request goes out; its answer's headers tell the new budget


# -- credentials go only to the configured API host, over TLS ---------------------------------------------

API = "https://api.pipedrive.com"
EVIL = "https://collector.example.net"
TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
SECRET = "tok-hardening-5ecret-0123456789"
OAUTH_CFG = {"oauth_client_id": "cid", "oauth_client_secret": "csec-hardening-5ecret",
             "oauth_refresh_token": "rtok-hardening-5ecret"}
OK = {"success": True, "data": [{"id": 1}], "additional_data": {"next_cursor": None}}


class FakeTime:
    """Injected monotonic clock, wall clock and sleep: waits are recorded, never slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall_now = 1_790_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_now + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _client(cfg: dict[str, Any] | None = None, *, time_: FakeTime | None = None, max_wait: float = 300.0,
            attempts: int = 3) -> PipedriveClient:
    fake = time_ or FakeTime()
    config = ClientConfig.from_config({"api_token": SECRET} if cfg is None else cfg)
    limiter = RateLimiter(max_wait=max_wait, clock=fake.clock, wall=fake.wall, sleep=fake.sleep)
    policy = RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.02, sleep=fake.sleep,
                         rng=random.Random(1))
    return PipedriveClient(config, session=PipedriveSession(config, limiter=limiter, policy=policy))


def _token_answer(api_domain: str = "https://acme.pipedrive.com") -> dict[str, Any]:
    return {"access_token": "atok-hardening-5ecret", "refresh_token": "rtok-hardening-5ecret",
            "expires_in": 3600, "api_domain": api_domain}


def _calls_to(prefix: str) -> list[Any]:
    return [c for c in responses.calls if c.request.url.startswith(prefix)]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("auth", ["api_token", "oauth"])
@responses.activate
def test_a_redirect_to_another_host_never_receives_a_credential(status, auth):
    """requests keeps custom headers such as x-api-token across a cross-host redirect: redirects are refused."""
    responses.post(TOKEN_URL, json=_token_answer())
    host = API if auth == "api_token" else "https://acme.pipedrive.com"
    responses.get(f"{host}/api/v2/deals", status=status, headers={"Location": f"{EVIL}/steal"})
    responses.get(f"{EVIL}/steal", json=OK)
    client = _client(None if auth == "api_token" else OAUTH_CFG)
    with pytest.raises(UnsafeDestinationError, match="redirect"):
        client.request("GET", "/api/v2/deals")
    assert _calls_to(EVIL) == []


@pytest.mark.parametrize(
    "url",
    [f"{EVIL}/api/v2/deals", "http://api.pipedrive.com/api/v2/deals", "https://api.pipedrive.com.evil.example/v1/x",
     "https://api.pipedrive.com:8443/api/v2/deals"],
)
@pytest.mark.parametrize("auth", ["api_token", "oauth"])
@responses.activate
def test_an_absolute_url_outside_the_api_host_is_refused_before_sending(url, auth):
    """Whatever a server answer points at (an absolute ``next`` URL, a link), the session sends credentials only
    to api_url / the OAuth api_domain, over https."""
    responses.post(TOKEN_URL, json=_token_answer())
    responses.get(url, json=OK)
    client = _client(None if auth == "api_token" else OAUTH_CFG)
    with pytest.raises(UnsafeDestinationError, match="refused to send credentials"):
        client.session.get(url)
    assert [c for c in responses.calls if not c.request.url.startswith(TOKEN_URL)] == []


@responses.activate
def test_the_oauth_api_domain_and_api_url_both_receive_the_access_token():
    responses.post(TOKEN_URL, json=_token_answer())
    responses.get("https://acme.pipedrive.com/api/v2/deals", json=OK)
    responses.get(f"{API}/api/v2/deals", json=OK)
    client = _client(OAUTH_CFG)
    client.request("GET", "/api/v2/deals")  # base_url is the api_domain
    client.session.get(f"{API}/api/v2/deals")
    assert all(c.request.headers.get("Authorization", "").startswith("Bearer ") for c in responses.calls[1:])


@pytest.mark.parametrize("api_domain", ["http://acme.pipedrive.com", "ftp://acme.pipedrive.com",
                                        "https://user:pw@acme.pipedrive.com"])
@responses.activate
def test_an_api_domain_without_tls_is_refused(api_domain):
    responses.post(TOKEN_URL, json=_token_answer(api_domain))
    responses.get("http://acme.pipedrive.com/api/v2/deals", json=OK)
    with pytest.raises(OAuthError, match="api_domain"):
        _client(OAUTH_CFG).request("GET", "/api/v2/deals")
    assert len(responses.calls) == 1  # the token request only


@pytest.mark.parametrize("status", [302, 307, 308])
@responses.activate
def test_the_token_endpoint_redirecting_elsewhere_gets_no_client_secret_or_refresh_token(status):
    """A 307/308 repeats the POST body (refresh token) and requests may keep the basic-auth client secret."""
    responses.post(TOKEN_URL, status=status, headers={"Location": f"{EVIL}/token"})
    responses.post(f"{EVIL}/token", json=_token_answer())
    responses.get(f"{EVIL}/token", json=_token_answer())
    with pytest.raises(OAuthError, match="redirect"):
        _client(OAUTH_CFG).request("GET", "/api/v2/deals")
    assert _calls_to(EVIL) == []


# -- rate-limit waits: capped, logged, and a clean stop when unreasonable ----------------------------------

@pytest.mark.parametrize(
    ("status", "reset"),
    [(429, "86400"), (200, "86400"), (429, "EPOCH+90000"), (200, "EPOCH+90000")],
    ids=["429-a-day", "remaining0-a-day", "429-epoch", "remaining0-epoch"],
)
@responses.activate
def test_an_unreasonable_announced_wait_stops_with_a_typed_error_instead_of_sleeping(status, reset):
    fake = FakeTime()
    if reset.startswith("EPOCH+"):
        reset = str(int(fake.wall() + float(reset.removeprefix("EPOCH+"))))
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset, "x-ratelimit-limit": "20"}
    body = OK if status == 200 else {"success": False, "error": "Request over limit"}
    responses.get(f"{API}/api/v2/deals", json=body, status=status, headers=headers)
    client = _client(time_=fake, max_wait=300)
    if status == 200:
        client.request("GET", "/api/v2/deals")  # this answer is fine; the next request would wait a day
    with pytest.raises(RateLimitWaitTooLongError, match="max_rate_limit_wait") as info:
        client.request("GET", "/api/v2/deals")
    assert isinstance(info.value, DailyBudgetExhaustedError)  # stopped like a spent budget: state kept
    assert not info.value.retriable
    assert max(fake.sleeps, default=0.0) < 1.0
    assert len(responses.calls) == 1


@responses.activate
def test_waits_within_the_cap_are_honoured_and_logged_at_info_with_duration_and_reason(caplog):
    fake = FakeTime()
    epoch_reset = str(int(fake.wall() + 70))  # read after the first 30 s pause: 40 s away
    responses.get(f"{API}/api/v2/deals", json=OK, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"})
    responses.get(f"{API}/api/v2/deals", json=OK,
                  headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": epoch_reset})
    responses.get(f"{API}/api/v2/deals", json=OK, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"})
    responses.get(f"{API}/api/v2/deals", json=OK)
    client = _client(time_=fake)
    with caplog.at_level(logging.INFO, logger="pipedrive.http"):
        for _ in range(4):
            client.request("GET", "/api/v2/deals")
    assert [round(s) for s in fake.sleeps] == [30, 40, 1]
    waits = [r for r in caplog.records if r.levelno == logging.INFO and "waiting" in r.getMessage()]
    assert len(waits) == 2  # the 1 s pause is ordinary pacing, not logged
    assert "30.0 s" in waits[0].getMessage() and "x-ratelimit-remaining 0" in waits[0].getMessage()
    assert "Unix time" in waits[1].getMessage()


@responses.activate
def test_search_rate_limit_headers_throttle_only_searches():
    fake = FakeTime()
    spent = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "20"}
    responses.get(f"{API}/api/v2/persons/search", json=OK, headers=spent)
    responses.get(f"{API}/api/v2/itemSearch", json=OK)
    responses.get(f"{API}/api/v2/deals", json=OK, headers={"x-ratelimit-limit": "80", "x-ratelimit-remaining": "70"})
    client = _client(time_=fake)
    client.request("GET", "/api/v2/persons/search", params={"term": "a"})
    for _ in range(3):
        client.request("GET", "/api/v2/deals")
    assert fake.sleeps == []  # list reads are not held back by the search window
    limiter = client.session.limiter
    assert limiter.bucket_burst("search") == 10 and limiter.burst == 80
    client.request("GET", "/api/v2/itemSearch", params={"term": "a"})
    assert [round(s) for s in fake.sleeps] == [20]


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/api/v2/persons/search", "search"), ("/api/v2/itemSearch/field", "search"), ("/v1/itemSearch", "search"),
     ("/api/v2/deals/search", "search"), ("/api/v2/deals", "general"), ("/v1/searchResults", "general"),
     ("/v1/notes", "general")],
)
def test_endpoint_classes(path, kind):
    assert endpoint_class(f"{API}{path}?term=x") == kind


def test_a_new_run_forgets_a_pause_that_stopped_the_previous_one():
    account = "https://rel-pause.example|token:1"
    first = RateLimiter.shared(account, max_wait=300)
    first.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "86400"}, 429)
    with pytest.raises(RateLimitWaitTooLongError):
        first.acquire()
    RateLimiter.shared(account, max_wait=300).acquire()  # the next run asks again


def test_the_tap_stops_cleanly_with_its_state_on_an_unreasonable_wait():
    with small_emulator(seed=5) as emu:
        original = emu.handle
        seen = {"n": 0}

        def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
            answer, rule, req = original(method, target, headers, raw)
            if urlsplit(target).path == "/api/v2/deals":
                seen["n"] += 1
                if seen["n"] == 1:
                    answer.headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "86400"})
            return answer, rule, req

        emu.handle = handle  # type: ignore[method-assign]
        run = sync(tap_config(emu, page_size=5), streams=["deals"])
    assert run.exit_code == 3, log_tail(run.log)  # the daily-budget exit code: rerun later
    assert "max_rate_limit_wait" in run.log
    assert "Traceback" not in run.log
    assert run.records["deals"]  # the first page was delivered
    assert any(m["type"] == "STATE" for m in run.messages)


# -- an unreachable host fails fast; a read timeout is not a connect failure -------------------------------

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("url", "reason"), [(None, "connection refused"),
                                             ("https://no-such-host.invalid", "host name not found")])
def test_an_unreachable_host_fails_after_a_few_quick_attempts_with_one_clear_reason(url, reason):
    """With the default settings (max_retries 7, backoff up to 60 s), a host never reached in this session gets
    three attempts 0.5 s and 1 s apart, not the whole backoff budget meant for transient failures."""
    fake = FakeTime()
    config = ClientConfig.from_config({"api_token": "t", "api_url": url or f"http://127.0.0.1:{_closed_port()}"})
    policy = RetryPolicy(max_attempts=config.max_retries + 1, base_delay=config.backoff_base,
                         max_delay=config.backoff_max, sleep=fake.sleep, rng=random.Random(1))
    session = PipedriveSession(config, limiter=RateLimiter(sleep=fake.sleep, clock=fake.clock), policy=policy)
    with pytest.raises(HostUnreachableError) as info:
        PipedriveClient(config, session=session).request("GET", "/api/v2/deals")
    assert reason in str(info.value) and "check api_url" in str(info.value)
    assert "\n" not in str(info.value)
    assert session.stats.total == 3
    assert fake.sleeps == [0.5, 1.0]


@responses.activate
def test_after_a_first_answer_connection_failures_get_the_normal_retry_budget():
    fake = FakeTime()
    responses.get(f"{API}/api/v2/deals", json=OK)
    client = _client(time_=fake, attempts=6)
    client.request("GET", "/api/v2/deals")
    responses.replace(responses.GET, f"{API}/api/v2/deals",
                      body=requests.ConnectionError(ConnectionRefusedError(111, "Connection refused")))
    with pytest.raises(HostUnreachableError):
        client.request("GET", "/api/v2/deals")
    assert client.session.stats.total == 1 + 6  # a blip during a run is retried as long as any transient error


@responses.activate
def test_a_read_timeout_is_reported_as_such_and_not_as_an_unreachable_host():
    fake = FakeTime()
    responses.get(f"{API}/api/v2/deals", body=requests.exceptions.ReadTimeout("read timed out"))
    client = _client(time_=fake, attempts=4)
    with pytest.raises(TransportError) as info:
        client.request("GET", "/api/v2/deals")
    assert not isinstance(info.value, HostUnreachableError)
    assert "no answer within" in str(info.value)
    assert client.session.stats.total == 4


def test_the_target_stops_cleanly_on_an_unreasonable_wait(tmp_path):
    """The target stops with its summary (state of the finished batches kept) and writes nothing more."""
    with small_emulator(seed=5, sizes=empty_sizes()) as emu:
        original = emu.handle

        def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
            answer, rule, req = original(method, target, headers, raw)
            if method == "POST" and urlsplit(target).path == "/api/v2/persons":
                answer.headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "86400"})
            return answer, rule, req

        emu.handle = handle  # type: ignore[method-assign]
        config = {"api_url": emu.url, "api_token": TOKEN, **target_files(tmp_path), **TARGET_FAST,
                  "max_workers": 1, "batch_size": 1}
        lines = text(schema("persons", {"ext": {"type": "string"}, "name": {"type": "string"}}, ["ext"]),
                     *(record("persons", {"ext": f"e{i}", "name": f"P{i}"}) for i in range(3)))
        target = TargetPipedrive(config=config, parse_env_config=False, validate_config=True)
        with pytest.raises(RunStoppedError, match="max_rate_limit_wait") as info:
            target.listen(io.StringIO(lines))
        created = emu.requests.count(method="POST", path="/api/v2/persons")
    assert "Traceback" not in str(info.value)
    assert created == 1  # the next create was not sent into the closed window


def test_ordinary_pacing_is_never_refused_even_with_a_zero_cap():
    """``max_rate_limit_wait: 0`` refuses announced pauses longer than one window, not the burst pacing."""
    fake = FakeTime()
    limiter = RateLimiter(burst=3, max_wait=0, clock=fake.clock, wall=fake.wall, sleep=fake.sleep)
    for _ in range(5):
        limiter.acquire()
    limiter.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, 200)
    limiter.acquire()
    assert fake.sleeps and max(fake.sleeps) <= limiter.window + 1e-9  # at most one window (float sums)
    limiter.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "10"}, 429)
    with pytest.raises(RateLimitWaitTooLongError):
        limiter.acquire()
