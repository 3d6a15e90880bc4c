"""Search streams: results of Pipedrive's search endpoints for configured terms.

Enabled by ``search_terms``: ``{"persons": ["acme", "smith"], "items": ["invoice"]}``. Every resource whose
catalogue row has a v2 ``search_path`` is searchable under its name, plus ``items`` (the search across item
types). Each term is a partition (and a ``term`` column). Search answers are
``data.items[] = {result_score, item}``; records are the item's ``id`` and ``type`` plus the whole item as an
object, so one schema serves every item type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from pipedrive_core.catalogue import ITEM_SEARCH_PATH, Pagination, active
from pipedrive_core.http import body_of
from tap_pipedrive.client import ApiStream, ReadPlan

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
    fields: frozenset[str] = frozenset()  #: the endpoint's ``fields=`` values (all searched when not sent)


def _search_streams() -> dict[str, SearchSpec]:
    specs = {
        f"{r.name}_search": SearchSpec(r.name, r.writes.search_path, r.writes.search_fields)
        for r in active()
        if r.writes is not None and r.writes.search_path and r.writes.search_path.startswith("/api/v2/")
    }
    specs["item_search"] = SearchSpec("items", ITEM_SEARCH_PATH)
    return specs


SEARCH_STREAMS: dict[str, SearchSpec] = _search_streams()

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "term": {"type": ["string"]},
        "type": {"type": ["string", "null"]},
        "id": {"type": ["integer", "string", "null"]},
        "result_score": {"type": ["number", "null"]},
        "item": {"type": ["object", "null"]},
    },
}


class SearchStream(ApiStream):
    """Results of one search endpoint for the configured terms."""

    spec: SearchSpec
    primary_keys = ("term", "type", "id")
    replication_key = None

    def __init__(self, tap: TapPipedrive) -> None:
        super().__init__(tap, SEARCH_SCHEMA)

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured term."""
        terms = (self.config.get("search_terms") or {}).get(self.spec.config_key) or []
        return [{"term": str(t)} for t in terms]

    @override
    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """``term`` (+ ``exact_match``) with cursor pagination."""
        params: dict[str, Any] = {"term": (context or {}).get("term", "")}
        if self.config.get("search_exact_match"):
            params["exact_match"] = "true"
        return ReadPlan("full", self.spec.path, params, Pagination.CURSOR, SEARCH_PAGE_LIMIT)

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """``data.items[]`` → ``{type, id, result_score, item}``."""
        body = body_of(response)
        data = body.get("data") if isinstance(body, dict) else None
        for hit in (data.get("items") if isinstance(data, dict) else None) or ():
            item = hit.get("item") if isinstance(hit, dict) else None
            item = item if isinstance(item, dict) else {}
            yield {"type": item.get("type"), "id": item.get("id"), "result_score": hit.get("result_score"),
                   "item": item}


def search_stream_classes(specs: Mapping[str, SearchSpec] | None = None,
                          base: type[SearchStream] | None = None) -> dict[str, type[SearchStream]]:
    """One class per search endpoint (``specs``: the v2 searches unless given; ``base``: their stream class)."""
    return {
        name: type(
            "".join(p.title() for p in name.split("_")) + "Stream",
            (base or SearchStream,),
            {"name": name, "path": spec.path, "spec": spec, "__doc__": f"Search results of GET {spec.path}."},
        )
        for name, spec in (SEARCH_STREAMS if specs is None else specs).items()
    }
