"""Prototype for the concurrency proposal: fetch a stream's next page while the current one is processed.

singer-sdk's ``RESTStream.request_records`` (0.54.9) waits for a page, turns it into records, and only then
asks for the next page, so each page costs latency + server time + the tap's CPU for 500 records, one after
the other. Pipedrive's paginators need nothing from the records to know the next page (v2 ``next_cursor``,
v1 ``next_start`` are in ``additional_data``), so the next request can be sent as soon as a page arrives:
per page the tap then pays max(latency, CPU) instead of their sum. This is the first, smallest step of the
proposal in ``benchmarks/FINDINGS.md``; it keeps one request in flight per stream (two with a child read),
preserves record order and the per-page STATE (written before each further page, as before).

``install()`` patches it into tap-pipedrive's stream base class for the benchmark's A/B figures
(``python -m benchmarks.entry tap+prefetch …``).
"""

from __future__ import annotations

import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

from singer_sdk.pagination import SinglePagePaginator


def prefetching_request_records(self: t.Any, context: t.Any) -> t.Iterator[dict]:
    """``RESTStream.request_records`` with the next page's request in flight while records are yielded."""
    paginator = self.get_new_paginator() or SinglePagePaginator()
    decorated_request = self.request_decorator(self._request)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prefetch-{self.name}")
    pages = 0

    def send() -> tuple[t.Any, Future]:
        prepared = self._prepare_request(context=context, page=paginator)
        return prepared, pool.submit(decorated_request, prepared, context)

    try:
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            pending = send() if not paginator.finished else None
            while pending is not None:
                prepared, future = pending
                pending = None
                resp = future.result()
                request_counter.increment()
                self.update_sync_costs(prepared, resp, context)
                records = list(self.parse_response(resp))
                if not records:
                    if paginator.continue_if_empty(resp):
                        paginator.advance(resp)
                        pending = send() if not paginator.finished else None
                        continue
                    self.log("Pagination stopped after %d pages because no records were found in the last "
                             "response", pages)
                    break
                paginator.advance(resp)
                if not paginator.finished:
                    pending = send()
                yield from records
                pages += 1
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def install() -> None:
    from tap_pipedrive.client import PipedriveStream  # noqa: PLC0415

    PipedriveStream.request_records = prefetching_request_records  # type: ignore[method-assign]
