"""Search streams of v1 "find by term" endpoints (catalogue ``find_path``): ``users_search`` from
``GET /v1/users/find?term=``.

Enabled like the other search streams, by ``search_terms`` (``{"users": ["anna", "@example.com"]}``); each
term is a partition and a ``term`` column. The endpoint has no pagination and answers a plain list of user
objects (no score), which become ``{type: "user", id, result_score: null, item: <user>}`` rows, the schema of
every search stream. ``search_exact_match`` does not apply (the endpoint matches substrings).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from pipedrive_core.catalogue import Pagination, active
from pipedrive_core.http import body_of
from tap_pipedrive.client import ReadPlan
from tap_pipedrive.search import SearchSpec, SearchStream, search_stream_classes

if TYPE_CHECKING:
    import requests

#: search_terms key → stream name and endpoint, for every resource with a ``find_path``
FIND_STREAMS: dict[str, SearchSpec] = {
    f"{r.name}_search": SearchSpec(r.name, r.find_path) for r in active() if r.find_path
}


class FindStream(SearchStream):
    """Results of one v1 find endpoint for the configured terms."""

    @override
    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """``term`` only: one unpaginated request per term."""
        return ReadPlan("full", self.spec.path, {"term": (context or {}).get("term", "")}, Pagination.NONE, 1)

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """``data[]`` of records → ``{type, id, result_score, item}``."""
        body = body_of(response)
        data = body.get("data") if isinstance(body, dict) else None
        kind = self.spec.config_key.rstrip("s")
        for item in data if isinstance(data, list) else ():
            if isinstance(item, dict):
                yield {"type": kind, "id": item.get("id"), "result_score": None, "item": item}


def find_stream_classes() -> dict[str, type[SearchStream]]:
    """One class per find endpoint."""
    return search_stream_classes(FIND_STREAMS, FindStream)
