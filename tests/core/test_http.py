"""The shared HTTP layer: each retry / no-retry case, throttling, OAuth refresh and secret hygiene.

These run offline against ``responses`` (mocked transport) with injected sleep/clock, so they are fast and
deterministic; the emulator-backed fault matrix lives in tests/reliability.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
import requests
import responses

from pipedrive_core.http import ClientConfig, PipedriveClient, PipedriveSession, RateLimiter, RetryPolicy
from pipedrive_core.http import errors as e
from pipedrive_core.http.config import ConfigError

API = "https://api.pipedrive.com"
TOKEN = "s3cr3t-token-value-0123456789"
DEALS = f"{API}/api/v2/deals"
OK = {"success": True, "data": [{"id": 1}], "additional_data": {"next_cursor": None}}


class Sleeps(list[float]):
    """A fake clock: every sleep is recorded and advances ``now``."""

    now = 0.0

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(sleeps: Sleeps, *, burst: int | None = None, **cfg) -> PipedriveClient:
    config = ClientConfig.from_config({"api_token": TOKEN, **cfg})
    limiter = RateLimiter(burst=burst, sleep=sleeps, clock=sleeps.clock)
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, sleep=sleeps, rng=random.Random(1))
    return PipedriveClient(config, session=PipedriveSession(config, limiter=limiter, policy=policy))


@responses.activate
def test_token_travels_in_header_never_in_url(sleeps):
    responses.get(DEALS, json=OK)
    client = make_client(sleeps)
    client.request("GET", "/api/v2/deals", params={"limit": 1})
    sent = responses.calls[0].request
    assert sent.headers["x-api-token"] == TOKEN
    assert TOKEN not in sent.url
    assert "api_token" not in sent.url


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        ({"status": 500}, "5xx"),
        ({"status": 502}, "5xx"),
        ({"status": 503}, "5xx"),
        ({"status": 524}, "5xx"),
        ({"status": 429, "headers": {"x-ratelimit-reset": "1"}}, "429 with headers"),
        ({"status": 429}, "429 without headers"),
        ({"body": requests.exceptions.ReadTimeout("slow")}, "timeout"),
        ({"body": requests.exceptions.ConnectionError("reset")}, "connection"),
        ({"body": requests.exceptions.ChunkedEncodingError("cut")}, "dropped mid-body"),
        ({"status": 200, "body": "{not json"}, "invalid json"),
        ({"status": 200, "body": "null"}, "null body"),
    ],
)
@responses.activate
def test_transient_failures_are_retried(sleeps, first, kind):
    kwargs = first if "body" in first else {"json": {"success": False, "error": "x"}, **first}
    responses.get(DEALS, **kwargs)
    responses.get(DEALS, json=OK)
    body = make_client(sleeps).request("GET", "/api/v2/deals")
    assert body == OK, kind
    assert len(responses.calls) == 2
    assert sleeps, "a retry must wait before the next attempt"


@pytest.mark.parametrize(
    ("status", "error_cls"),
    [
        (400, e.BadRequestError),
        (401, e.AuthenticationError),
        (402, e.PaymentRequiredError),
        (403, e.ForbiddenError),
        (404, e.NotFoundError),
        (410, e.GoneError),
    ],
)
@responses.activate
def test_client_errors_are_not_retried(sleeps, status, error_cls):
    responses.get(DEALS, status=status, json={"success": False, "error": "Nope", "error_info": "Read the docs"})
    client = make_client(sleeps)
    with pytest.raises(error_cls) as info:
        client.request("GET", "/api/v2/deals", resource="deals")
    assert len(responses.calls) == 1
    text = str(info.value)
    assert "deals" in text
    assert "GET /api/v2/deals" in text
    assert f"HTTP {status}" in text
    assert "Nope" in text
    assert "Read the docs" in text


@responses.activate
def test_retries_give_up_after_max_attempts(sleeps):
    responses.get(DEALS, status=503, json={"success": False, "error": "down"})
    with pytest.raises(e.ServerError):
        make_client(sleeps).request("GET", "/api/v2/deals")
    assert len(responses.calls) == 4  # max_attempts


@responses.activate
def test_backoff_grows_exponentially_with_jitter(sleeps):
    responses.get(DEALS, status=500, json={"success": False})
    with pytest.raises(e.ServerError):
        make_client(sleeps).request("GET", "/api/v2/deals")
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        ceiling = min(8.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling


@responses.activate
def test_cloudflare_html_403_is_recognised_and_explained(sleeps):
    responses.get(DEALS, status=403, body="<!DOCTYPE html><html>Attention Required! | Cloudflare</html>",
                  content_type="text/html")
    with pytest.raises(e.CloudflareBlockedError) as info:
        make_client(sleeps).request("GET", "/api/v2/deals")
    assert "Cloudflare" in str(info.value)
    assert len(responses.calls) == 1


@responses.activate
def test_429_without_headers_still_waits_a_window(sleeps):
    responses.get(DEALS, status=429, json={"success": False, "error": "Rate limit exceeded"})
    responses.get(DEALS, json=OK)
    make_client(sleeps).request("GET", "/api/v2/deals")
    assert sum(sleeps) >= 2.0  # one full 2 s window, even with no x-ratelimit-reset


@responses.activate
def test_429_waits_for_announced_reset(sleeps):
    responses.get(DEALS, status=429, headers={"x-ratelimit-reset": "5", "x-ratelimit-remaining": "0"},
                  json={"success": False})
    responses.get(DEALS, json=OK)
    make_client(sleeps).request("GET", "/api/v2/deals")
    assert 5.0 <= sum(sleeps) < 6.0


@responses.activate
def test_daily_budget_exhausted_stops_with_clear_message(sleeps):
    responses.get(DEALS, status=429, headers={"x-daily-requests-left": "0"},
                  json={"success": False, "error": "Daily rate limit exceeded"})
    client = make_client(sleeps)
    with pytest.raises(e.DailyBudgetExhaustedError) as info:
        client.request("GET", "/api/v2/deals")
    assert "daily" in str(info.value).lower()
    assert len(responses.calls) == 1
    # and no further request is sent once the budget is known to be spent
    with pytest.raises(e.DailyBudgetExhaustedError):
        client.request("GET", "/api/v2/deals")
    assert len(responses.calls) == 1


def test_limiter_throttles_before_the_burst_limit():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    limiter = RateLimiter(burst=5, headroom=1, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.acquire()
    assert sleeps == []  # 4 = burst - headroom go straight through
    limiter.acquire()  # the 5th waits for the window to roll
    assert sleeps == [pytest.approx(2.05)]  # the window plus the send margin


def test_limiter_learns_limit_and_pauses_on_remaining_zero():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    limiter = RateLimiter(clock=lambda: now[0], sleep=sleep)
    limiter.acquire()
    limiter.observe({"x-ratelimit-limit": "20", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1.5"}, 200)
    assert limiter.burst == 20
    limiter.acquire()
    assert sleeps == [pytest.approx(1.5)]


def _limiter_on_a_fake_clock(**kwargs: Any) -> tuple[RateLimiter, list[float], list[float]]:
    """A limiter whose clock is ``now[0]`` and whose sleeps are recorded in ``sleeps`` (and advance the clock)."""
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    return RateLimiter(clock=lambda: now[0], sleep=sleep, **kwargs), now, sleeps


def test_a_full_window_of_the_clients_own_sends_waits_for_its_oldest_send_with_a_wider_margin():
    """The server counts its window full (``x-ratelimit-remaining: 0`` on a success) while the client counts one
    less: one of its sends reached the server later than it was stamped. The client widens its margin and waits
    until its own oldest send is a window old, not the whole second of the announced (rounded-up) reset."""
    from pipedrive_core.http.ratelimit import MAX_SEND_MARGIN_SECONDS, SEND_MARGIN_STEP_SECONDS, WINDOW_SECONDS

    limiter, now, sleeps = _limiter_on_a_fake_clock(burst=5)
    before = limiter.window
    for _ in range(3):  # one less than the 4 it allows itself
        limiter.acquire()
        now[0] += 0.5
    limiter.observe({"x-ratelimit-limit": "5", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, 200)
    assert limiter.window == pytest.approx(before + SEND_MARGIN_STEP_SECONDS)
    limiter.acquire()
    assert sleeps == [pytest.approx(0.0 + limiter.window - 1.5)]  # the oldest send (t=0) a window old
    for _ in range(20):
        limiter.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, 200)
    assert limiter.window == pytest.approx(WINDOW_SECONDS + MAX_SEND_MARGIN_SECONDS)


def test_a_full_window_of_someone_elses_requests_waits_for_the_reset():
    limiter, _, sleeps = _limiter_on_a_fake_clock(burst=5)
    window = limiter.window
    limiter.acquire()  # one send of its own: the others in the server's window are another client's
    limiter.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}, 200)
    limiter.acquire()
    assert sleeps == [pytest.approx(2.0)] and limiter.window == window
    limiter.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "3"}, 429)  # a 429 always waits the reset
    limiter.acquire()
    assert sleeps[-1] == pytest.approx(3.0)


def test_limiter_is_shared_per_account_across_sessions():
    a = PipedriveSession(ClientConfig.from_config({"api_token": TOKEN}))
    b = PipedriveSession(ClientConfig.from_config({"api_token": TOKEN}))
    other = PipedriveSession(ClientConfig.from_config({"api_token": TOKEN + "x"}))
    assert a.limiter is b.limiter
    assert a.limiter is not other.limiter


TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
OAUTH = {
    "oauth_client_id": "cid",
    "oauth_client_secret": "client-secret-value",
    "oauth_refresh_token": "refresh-1",
}


def _token_answer(n: int) -> dict:
    return {"access_token": f"access-{n}", "refresh_token": f"refresh-{n + 1}", "expires_in": 3600,
            "api_domain": "https://acme.pipedrive.com", "token_type": "Bearer"}


@responses.activate
def test_oauth_refreshes_uses_api_domain_and_keeps_rotated_token(sleeps):
    responses.post(TOKEN_URL, json=_token_answer(1))
    responses.get("https://acme.pipedrive.com/api/v2/deals", json=OK)
    client = make_client(sleeps, **OAUTH)
    client.request("GET", "/api/v2/deals")
    token_call, api_call = responses.calls
    assert "refresh_token=refresh-1" in token_call.request.body
    assert token_call.request.headers["Authorization"].startswith("Basic ")
    assert api_call.request.headers["Authorization"] == "Bearer access-1"
    assert client.session.auth_handler._refresh_token == "refresh-2"


@responses.activate
def test_oauth_401_refreshes_once_then_continues(sleeps):
    responses.post(TOKEN_URL, json=_token_answer(1))
    responses.post(TOKEN_URL, json=_token_answer(2))
    url = "https://acme.pipedrive.com/api/v2/deals"
    responses.get(url, status=401, json={"success": False, "error": "Unauthorized"})
    responses.get(url, json=OK)
    client = make_client(sleeps, **OAUTH)
    assert client.request("GET", "/api/v2/deals") == OK
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer access-2"
    # the second refresh presented the rotated refresh token
    assert "refresh_token=refresh-2" in responses.calls[2].request.body


@responses.activate
def test_oauth_revoked_refresh_token_is_a_clear_error(sleeps):
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "revoked"})
    with pytest.raises(e.OAuthError) as info:
        make_client(sleeps, **OAUTH).request("GET", "/api/v2/deals")
    text = str(info.value)
    assert "refresh token was refused" in text
    assert "invalid_grant" in text
    assert "refresh-1" not in text
    assert "client-secret-value" not in text


@responses.activate
def test_secrets_never_logged_at_debug(sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    responses.post(TOKEN_URL, json=_token_answer(1))
    url = "https://acme.pipedrive.com/api/v2/deals"
    responses.get(url, status=500, json={"success": False})
    responses.get(url, status=404, json={"success": False, "error": "gone"})
    client = make_client(sleeps, **OAUTH)
    with pytest.raises(e.NotFoundError) as info:
        client.request("GET", "/api/v2/deals", params={"api_token": "leaked-param"})
    tok = make_client(sleeps)
    responses.get(DEALS, status=502, json={"success": False})
    responses.get(DEALS, json=OK)
    tok.request("GET", "/api/v2/deals")
    everything = caplog.text + str(info.value) + repr(client.session) + repr(tok.session.config)
    everything += repr(client.session.auth_handler) + repr(tok.session.auth_handler)
    for secret in (TOKEN, "client-secret-value", "refresh-1", "refresh-2", "access-1", "leaked-param"):
        assert secret not in everything
    assert "retrying" in caplog.text  # the retry was logged, just without secrets


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "no credentials"),
        ({"api_token": "t", "api_url": "http://example.com"}, "https"),
        ({"api_token": "t", "api_url": "ftp://x"}, "http(s) URL"),
        ({"api_token": "t", "api_url": "https://user:pw@api.pipedrive.com"}, "credentials"),
        ({"oauth_client_id": "a"}, "missing: oauth_client_secret, oauth_refresh_token"),
        ({"api_token": "t", "request_timeout": -1}, "request_timeout"),
    ],
)
def test_config_errors_are_clear(config, message):
    with pytest.raises(ConfigError, match=None) as info:
        ClientConfig.from_config(config)
    assert message in str(info.value)


def test_plain_http_allowed_only_on_loopback():
    assert ClientConfig.from_config({"api_token": "t", "api_url": "http://127.0.0.1:8765"}).api_url.endswith("8765")
    assert ClientConfig.from_config({"api_token": "t", "api_url": "http://localhost:1"})


def test_redact_url_hides_secret_query_values():
    assert e.redact_url("https://h/v1/deals?api_token=abc&start=0") == "https://h/v1/deals?api_token=%2A%2A%2A&start=0"


@responses.activate
def test_iter_pages_follows_v1_offsets_and_v2_cursors(sleeps):
    from pipedrive_core.catalogue import Pagination

    notes = f"{API}/v1/notes"
    responses.get(notes, json={"success": True, "data": [{"id": 1}],
                               "additional_data": {"pagination": {"more_items_in_collection": True, "next_start": 1}}})
    responses.get(notes, json={"success": True, "data": [{"id": 2}],
                               "additional_data": {"pagination": {"more_items_in_collection": False}}})
    client = make_client(sleeps)
    pages = list(client.iter_pages("/v1/notes", pagination=Pagination.OFFSET, page_limit=1))
    assert pages == [[{"id": 1}], [{"id": 2}]]
    assert "start=1" in responses.calls[1].request.url

    responses.get(DEALS, json={"success": True, "data": [{"id": 3}], "additional_data": {"next_cursor": "abc"}})
    responses.get(DEALS, json=OK)
    pages = list(client.iter_pages("/api/v2/deals", pagination=Pagination.CURSOR))
    assert pages == [[{"id": 3}], [{"id": 1}]]
    assert "cursor=abc" in responses.calls[3].request.url


@responses.activate
def test_rotated_refresh_token_is_kept_in_the_token_store_for_the_next_process(sleeps, tmp_path):
    store = tmp_path / "oauth.json"
    responses.post(TOKEN_URL, json=_token_answer(1))
    responses.get("https://acme.pipedrive.com/api/v2/deals", json=OK)
    make_client(sleeps, **OAUTH, oauth_token_store=str(store)).request("GET", "/api/v2/deals")
    assert store.stat().st_mode & 0o777 == 0o600
    assert "refresh-2" in store.read_text()
    # the next run (a new session) presents the rotated token, not the revoked one from its config
    responses.post(TOKEN_URL, json=_token_answer(2))
    make_client(sleeps, **OAUTH, oauth_token_store=str(store)).request("GET", "/api/v2/deals")
    assert "refresh_token=refresh-2" in responses.calls[2].request.body
    assert "refresh-3" in store.read_text()


@responses.activate
def test_a_newly_configured_refresh_token_wins_over_the_store(sleeps, tmp_path):
    store = tmp_path / "oauth.json"
    responses.post(TOKEN_URL, json=_token_answer(1))
    responses.get("https://acme.pipedrive.com/api/v2/deals", json=OK)
    make_client(sleeps, **OAUTH, oauth_token_store=str(store)).request("GET", "/api/v2/deals")
    reauthorised = {**OAUTH, "oauth_refresh_token": "fresh-from-reauthorisation"}
    make_client(sleeps, **reauthorised, oauth_token_store=str(store)).request("GET", "/api/v2/deals")
    assert "refresh_token=fresh-from-reauthorisation" in responses.calls[2].request.body


# -- settings hygiene: api_url versions, pasted tokens, secrets in messages ---------------------------------

@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.pipedrive.com/v1", "https://api.pipedrive.com"),
        ("https://api.pipedrive.com/v1/", "https://api.pipedrive.com"),
        ("https://api.pipedrive.com/api/v2", "https://api.pipedrive.com"),
        ("https://api.pipedrive.com/api/v1/", "https://api.pipedrive.com"),
        ("https://api.pipedrive.com/api", "https://api.pipedrive.com"),
        ("https://acme.pipedrive.com//", "https://acme.pipedrive.com"),
        ("http://127.0.0.1:8765/v1", "http://127.0.0.1:8765"),
        ("  https://api.pipedrive.com/v2\n", "https://api.pipedrive.com"),
        ("https://proxy.example.com/pipedrive/api/v2", "https://proxy.example.com/pipedrive"),
        ("https://proxy.example.com/pipedrive", "https://proxy.example.com/pipedrive"),
    ],
)
def test_api_url_is_the_host_without_an_api_version(given, expected):
    """A pasted ``…/v1`` must not produce ``/v1/v1/deals``: every catalogue path carries its version already."""
    assert ClientConfig.from_config({"api_token": "t", "api_url": given}).api_url == expected


@responses.activate
def test_a_normalised_api_url_calls_the_right_paths(sleeps):
    responses.get(DEALS, json=OK)
    config = ClientConfig.from_config({"api_token": TOKEN, "api_url": f"{API}/api/v2/"})
    PipedriveClient(config, session=PipedriveSession(config, limiter=RateLimiter(sleep=sleeps))).request(
        "GET", "/api/v2/deals")
    assert responses.calls[0].request.url.startswith(DEALS)


def test_tokens_are_stripped_and_malformed_ones_refused_without_echo():
    assert ClientConfig.from_config({"api_token": f"  {TOKEN}\r\n"}).api_token == TOKEN
    oauth = ClientConfig.from_config({"oauth_client_id": " cid ", "oauth_client_secret": "sec\n",
                                      "oauth_refresh_token": "\trefresh"})
    assert (oauth.oauth_client_id, oauth.oauth_client_secret, oauth.oauth_refresh_token) == ("cid", "sec", "refresh")
    for bad in (f"{TOKEN}\n{TOKEN}x", f"{TOKEN} x", f"{TOKEN}\x00", 1234567890123, [TOKEN], {"t": TOKEN}):
        with pytest.raises(ConfigError, match="api_token") as info:
            ClientConfig.from_config({"api_token": bad})
        assert TOKEN not in str(info.value) and "1234567890123" not in str(info.value)
    assert ClientConfig.from_config({"api_token": " ", "oauth_client_id": "a", "oauth_client_secret": "b",
                                     "oauth_refresh_token": "c"}).uses_oauth


@pytest.mark.parametrize("name", ["api_url", "oauth_token_url"])
@pytest.mark.parametrize(
    "url",
    ["https://u:p4ss-w0rd@host.example", "ftp://u:p4ss-w0rd@host.example", "https://p4ss-w0rd@host.example",
     "https://u:p4ss-w0rd@host.example:notaport", "gopher://p4ss-w0rd@"],
)
def test_credentials_in_a_url_setting_are_refused_and_never_repeated(name, url):
    with pytest.raises(ConfigError) as info:
        ClientConfig.from_config({"api_token": "t", name: url})
    assert "p4ss-w0rd" not in str(info.value)
    assert name in str(info.value)


def test_mask_secrets_hides_every_spelling_of_every_secret():
    from pipedrive_core.settings import mask_secrets

    config = {"api_token": 98765432123456789, "oauth_client_secret": ["cs-abc-secret"],
              "oauth_refresh_token": "rt-xyz \n", "api_url": "https://me:pw-in-url@h.example", "page_size": 50}
    messages = ["98765432123456789 is not of type 'string'", "['cs-abc-secret'] is not of type 'string'",
                "'rt-xyz \\n' is bad", "got https://me:pw-in-url@h.example", "page_size 50 is fine"]
    masked = mask_secrets(messages, config)
    for secret in ("98765432123456789", "cs-abc-secret", "rt-xyz", "pw-in-url"):
        assert not any(secret in m for m in masked), (secret, masked)
    assert masked[-1] == "page_size 50 is fine"


def test_max_rate_limit_wait_reaches_the_limiter():
    config = ClientConfig.from_config({"api_token": "t", "api_url": "https://wait-cap.example",
                                       "max_rate_limit_wait": 42})
    assert PipedriveSession(config).limiter.max_wait == 42
    with pytest.raises(ConfigError, match="max_rate_limit_wait"):
        ClientConfig.from_config({"api_token": "t", "max_rate_limit_wait": -1})


@responses.activate
def test_a_binary_answer_passes_unparsed_while_a_broken_json_or_html_answer_is_still_retried(sleeps):
    """``GET /v1/files/{id}/download`` answers application/octet-stream; only such non-text types skip parsing."""
    from pipedrive_core.http import body_of

    url = f"{API}/v1/files/7/download"
    responses.get(url, body=b"%PDF-1.7\x00\x01", content_type="application/octet-stream")
    response = make_client(sleeps).session.get(url)
    assert body_of(response) is None and response.content == b"%PDF-1.7\x00\x01"
    for ctype in ("text/html; charset=UTF-8", "application/json", "text/plain"):
        responses.replace(responses.GET, url, body=b"<html>oops</html>", content_type=ctype)
        with pytest.raises(e.InvalidResponseError):
            make_client(sleeps).session.get(url)


@responses.activate
def test_oauth_a_refreshed_token_rejected_too_is_refreshed_once_more(sleeps):
    """An early expiry, then the token refreshed for it expires as well before the request is sent again: each
    rejected token gets one refresh, and the request goes through with the third."""
    for n in (1, 2, 3):
        responses.post(TOKEN_URL, json=_token_answer(n))
    url = "https://acme.pipedrive.com/api/v2/deals"
    expired = {"success": False, "error": "Unauthorized: access token has expired"}
    responses.get(url, status=401, json=expired)
    responses.get(url, status=401, json=expired)
    responses.get(url, json=OK)
    client = make_client(sleeps, **OAUTH)
    assert client.request("GET", "/api/v2/deals") == OK
    sent = [c.request.headers["Authorization"] for c in responses.calls if c.request.url == url]
    assert sent == ["Bearer access-1", "Bearer access-2", "Bearer access-3"]


@responses.activate
@pytest.mark.parametrize("refreshed", [("access-1",), ("access-2", "access-3")],
                         ids=["the-same-token-again", "every-token-rejected"])
def test_oauth_refreshes_for_one_request_are_bounded(sleeps, refreshed):
    """A refresh that brings back the token just rejected, or a request every token is rejected for, ends in the
    401 after at most two refreshes: no loop against the token endpoint."""
    responses.post(TOKEN_URL, json=_token_answer(1))
    for token in refreshed:
        responses.post(TOKEN_URL, json={**_token_answer(1), "access_token": token})
    url = "https://acme.pipedrive.com/api/v2/deals"
    responses.get(url, status=401, json={"success": False, "error": "Unauthorized"})
    with pytest.raises(e.AuthenticationError):
        make_client(sleeps, **OAUTH).request("GET", "/api/v2/deals")
    token_calls = sum(1 for c in responses.calls if c.request.url == TOKEN_URL)
    assert token_calls == 1 + len(refreshed)
    assert sum(1 for c in responses.calls if c.request.url == url) == 1 + len(refreshed)
