"""Search streams (COZYROC's "Read search"): optional reads of Pipedrive's v2 search endpoints.

They exist only when ``search_terms`` names terms for them; each term is one partition (and a ``term``
column). Search answers are ``data.items[] = {result_score, item}``; records are the item's ``id`` and
``type`` plus the whole item as an object, so one schema serves every item type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipedrive_core.catalogue import Pagination, Resource
from tap_pipedrive.client import PipedriveStream, ReadPlan

if TYPE_CHECKING:
    import requests

    from tap_pipedrive.tap import TapPipedrive

#: Pipedrive's search pages hold at most 100 items (item search); the entity searches accept the same.
SEARCH_PAGE_LIMIT = 100


@dataclass(frozen=True)
class SearchSpec:
    """One search endpoint."""

    config_key: str  #: key in the ``search_terms`` setting
    path: str


SEARCH_STREAMS: dict[str, SearchSpec] = {
    "deals_search": SearchSpec("deals", "/api/v2/deals/search"),
    "persons_search": SearchSpec("persons", "/api/v2/persons/search"),
    "organizations_search": SearchSpec("organizations", "/api/v2/organizations/search"),
    "products_search": SearchSpec("products", "/api/v2/products/search"),
    "item_search": SearchSpec("items", "/api/v2/itemSearch"),
}

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "term": {"type": ["string"]},
        "type": {"type": ["string", "null"]},
        "id": {"type": ["integer", "null"]},
        "result_score": {"type": ["number", "null"]},
        "item": {"type": ["object", "null"]},
    },
}


class SearchStream(PipedriveStream):
    """Results of one search endpoint for the configured terms."""

    spec: SearchSpec
    primary_keys = ("term", "type", "id")
    replication_key = None

    activate_version_allowed = False  # results depend on the terms: not a table snapshot

    def __init__(self, tap: TapPipedrive) -> None:
        super().__init__(tap, SEARCH_SCHEMA)

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured term."""
        terms = (self.config.get("search_terms") or {}).get(self.spec.config_key) or []
        return [{"term": str(t)} for t in terms]

    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """``term`` (+ ``exact_match``) with cursor pagination."""
        params: dict[str, Any] = {"term": (context or {}).get("term", "")}
        if self.config.get("search_exact_match"):
            params["exact_match"] = "true"
        return ReadPlan("full", self.spec.path, params, Pagination.CURSOR, SEARCH_PAGE_LIMIT)

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """``data.items[]`` → ``{type, id, result_score, item}``."""
        from pipedrive_core.http import body_of  # noqa: PLC0415

        data = body_of(response).get("data") or {}
        for hit in data.get("items") or ():
            item = hit.get("item") or {}
            yield {"type": item.get("type"), "id": item.get("id"), "result_score": hit.get("result_score"),
                   "item": item}

    def post_process(
        self, row: dict[str, Any], context: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Search items carry no custom-field columns or bookmarks."""
        return row


def search_stream_classes() -> dict[str, type[SearchStream]]:
    """One class per search endpoint."""
    classes: dict[str, type[SearchStream]] = {}
    for name, spec in SEARCH_STREAMS.items():
        resource = Resource(name=name, title=name, v1_path=None, v2_path=spec.path, read_version=2,
                            pagination=Pagination.CURSOR, page_limit=SEARCH_PAGE_LIMIT)
        classes[name] = type(
            "".join(p.title() for p in name.split("_")) + "Stream",
            (SearchStream,),
            {"name": name, "path": spec.path, "spec": spec, "resource": resource,
             "__doc__": f"Search results of GET {spec.path}."},
        )
    return classes
