"""The one loader of custom-field definitions, used by the tap (streams, column typing) and the target
(``lookup.FieldCache``)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import responses

from pipedrive_core.catalogue import CATALOGUE, active
from pipedrive_core.field_definitions import FieldDefinitions, fetch_field_records
from pipedrive_core.http import ClientConfig, PipedriveClient, PipedriveSession, RateLimiter, RetryPolicy

API = "https://api.pipedrive.com"
KEY = "a" * 40


def _client() -> PipedriveClient:
    config = ClientConfig.from_config({"api_token": "t"})
    session = PipedriveSession(config, limiter=RateLimiter(sleep=lambda _s: None),
                               policy=RetryPolicy(max_attempts=1, sleep=lambda _s: None, rng=random.Random(1)))
    return PipedriveClient(config, session=session)


def _register_two_pages(path: str) -> None:
    first = [{"id": 1, "key": "title", "name": "Title", "field_type": "varchar"}, "not a record"]
    second = [{"id": 2, "key": KEY, "name": "Budget", "field_type": "monetary"}]
    responses.get(f"{API}{path}", json={"success": True, "data": first, "additional_data": {
        "pagination": {"start": 0, "limit": 2, "more_items_in_collection": True, "next_start": 2}}})
    responses.get(f"{API}{path}", json={"success": True, "data": second, "additional_data": {
        "pagination": {"start": 2, "limit": 2, "more_items_in_collection": False}}})


@responses.activate
def test_every_fields_resource_is_read_over_all_its_pages_with_its_own_path():
    for res in (r for r in active() if r.fields_of):
        responses.reset()
        _register_two_pages(res.read_path.split("?")[0])
        records = fetch_field_records(_client(), res.name)
        assert [r["id"] for r in records] == [1, 2], res.name
        assert f"limit={res.page_limit}" in responses.calls[0].request.url


@responses.activate
def test_definitions_are_fetched_once_per_run_even_from_many_threads_and_again_after_invalidate():
    path = CATALOGUE["deal_fields"].read_path
    _register_two_pages(path)
    defs = FieldDefinitions(_client())
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _i: defs.definitions("deal_fields"), range(8)))
    assert all(r is results[0] for r in results)
    assert results[0][KEY].field_type == "monetary" and results[0][KEY].is_custom
    assert len(responses.calls) == 2  # two pages, once
    assert defs.definitions(None) == {}
    version = defs.version
    defs.invalidate("deal_fields")
    assert defs.version == version + 1
    defs.records("deal_fields")
    assert len(responses.calls) == 3  # fetched again (responses now repeats its last, final page)
