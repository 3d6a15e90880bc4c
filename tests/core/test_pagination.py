"""The one next-page reading shared by the tap's paginators and ``PipedriveClient.iter_pages``.

The rule that matters most is the fallback when ``next_start`` is missing: the *requested* limit would skip
rows when Pipedrive caps the page size, and stopping would drop the rest of the list. Both callers use
:func:`pipedrive_core.pagination.next_token`; the cases below are checked through each of them.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests
import responses

from pipedrive_core.catalogue import Pagination
from pipedrive_core.http import ClientConfig, PipedriveClient, PipedriveSession, RateLimiter, RetryPolicy
from pipedrive_core.http.errors import PaginationError
from pipedrive_core.http.session import BODY_ATTR
from pipedrive_core.pagination import next_cursor, next_start, next_token
from tap_pipedrive.pagination import V1OffsetPaginator, V2CursorPaginator


def _page(data: list[Any], **pagination: Any) -> dict[str, Any]:
    return {"success": True, "data": data, "additional_data": {"pagination": pagination}}


#: (answer to a page asked with start=100, the next start or None)
OFFSET_CASES = [
    pytest.param(_page([1] * 3, start=100, limit=3, more_items_in_collection=True, next_start=103), 103,
                 id="next_start"),
    pytest.param(_page([1] * 3, start=100, limit=3, more_items_in_collection=False, next_start=103), None,
                 id="no-more-items-wins-over-next_start"),
    pytest.param(_page([1] * 3, start=100, limit=3), None, id="flag-missing-is-the-end"),
    pytest.param(_page([1] * 3, start=100, limit=3, more_items_in_collection="true"), None,
                 id="flag-must-be-true-not-truthy"),
    pytest.param(_page([1] * 3, start=100, limit=3, more_items_in_collection=True), 103,
                 id="fallback-echoed-start-plus-limit"),
    pytest.param(_page([1] * 2, more_items_in_collection=True), 102,
                 id="fallback-start-plus-delivered-items-not-requested-limit"),
    pytest.param(_page([1] * 2, more_items_in_collection=True, next_start="102"), 102, id="numeric-string"),
    pytest.param({"success": True, "data": [1], "additional_data": None}, None, id="no-additional-data"),
    pytest.param({"success": True, "data": [1], "additional_data": {"pagination": "odd"}}, None,
                 id="malformed-pagination"),
]


@pytest.mark.parametrize(("body", "expected"), OFFSET_CASES)
def test_next_start_reads_the_answer_not_the_request(body, expected):
    assert next_start(body, start=100) == expected
    assert next_token(Pagination.OFFSET, body, 100) == expected


def _response(body: dict[str, Any]) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    setattr(response, BODY_ATTR, body)
    return response


@pytest.mark.parametrize(("body", "expected"), OFFSET_CASES)
def test_the_tap_paginator_agrees(body, expected):
    response = _response(body)
    paginator = V1OffsetPaginator()
    paginator.advance(_response(_page([1], more_items_in_collection=True, next_start=100)))
    assert paginator.current_value == 100  # the page below was asked with start=100
    assert paginator.get_next(response) == expected
    assert paginator.has_more(response) is (expected is not None)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_page([1], more_items_in_collection=True, next_start=100), id="next_start-repeats"),
        pytest.param(_page([1], more_items_in_collection=True, next_start=40), id="next_start-goes-back"),
        pytest.param(_page([], more_items_in_collection=True), id="more-announced-nowhere-to-go"),
    ],
)
def test_an_offset_that_cannot_advance_is_an_error_not_a_loop_or_a_silent_end(body):
    with pytest.raises(PaginationError):
        next_start(body, start=100)


def test_cursor_ends_on_null_or_empty_and_refuses_a_repeating_cursor():
    assert next_cursor({"additional_data": {"next_cursor": "b"}}, current="a") == "b"
    assert next_cursor({"additional_data": {"next_cursor": None}}, current="a") is None
    assert next_cursor({"additional_data": {"next_cursor": ""}}) is None
    assert next_cursor({"additional_data": None}) is None
    with pytest.raises(PaginationError):
        next_cursor({"additional_data": {"next_cursor": "a"}}, current="a")
    paginator = V2CursorPaginator()
    paginator.advance(_response({"additional_data": {"next_cursor": "a"}}))
    with pytest.raises(PaginationError):
        paginator.get_next(_response({"additional_data": {"next_cursor": "a"}}))


def test_single_answer_lists_have_one_page():
    assert next_token(Pagination.NONE, _page([1], more_items_in_collection=True, next_start=5)) is None


API = "https://api.pipedrive.com"


def _client() -> PipedriveClient:
    config = ClientConfig.from_config({"api_token": "t"})
    policy = RetryPolicy(max_attempts=1, sleep=lambda _s: None, rng=random.Random(1))
    limiter = RateLimiter(sleep=lambda _s: None)
    return PipedriveClient(config, session=PipedriveSession(config, limiter=limiter, policy=policy))


@responses.activate
def test_iter_pages_uses_the_delivered_count_when_the_server_caps_the_page_size():
    """Asked for 500, Pipedrive delivers 100 (files) without ``next_start``: the next page starts at 100,
    not at 500 (400 rows skipped) and the list does not end after the first page."""
    url = f"{API}/v1/files"
    responses.get(url, json=_page([{"id": i} for i in range(100)], more_items_in_collection=True))
    responses.get(url, json=_page([{"id": 100}], more_items_in_collection=False))
    pages = list(_client().iter_pages("/v1/files", pagination=Pagination.OFFSET, page_limit=500))
    assert [len(p) for p in pages] == [100, 1]
    assert "start=100" in responses.calls[1].request.url


@responses.activate
def test_iter_pages_stops_on_a_repeating_cursor_with_a_typed_error():
    url = f"{API}/api/v2/deals"
    responses.get(url, json={"success": True, "data": [{"id": 1}], "additional_data": {"next_cursor": "c1"}})
    responses.get(url, json={"success": True, "data": [{"id": 2}], "additional_data": {"next_cursor": "c1"}})
    pages = _client().iter_pages("/api/v2/deals", pagination=Pagination.CURSOR, resource="deals")
    assert next(pages) == [{"id": 1}]
    assert next(pages) == [{"id": 2}]
    with pytest.raises(PaginationError, match="Pipedrive deals"):
        next(pages)
    assert len(responses.calls) == 2
