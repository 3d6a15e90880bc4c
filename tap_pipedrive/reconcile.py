"""Deletion reconciliation: which records of an incremental stream disappeared since the last run.

Pipedrive marks deletions only for deals (``is_deleted``); persons, organizations, activities, products,
notes, files, … simply vanish from lists, and neither ``updated_since`` nor ``/recents`` reports them. With
``reconcile_deletes`` set, the ``deleted_records`` stream lists the current ids of each named stream (ids
only are kept, so memory is one integer per record), compares them with the ids of the previous pass (kept
in state as compact ``[first, last]`` ranges) and emits ``{stream, id, _sdc_deleted_at}`` for every id that is
gone. Join it to the stream's table, or apply it in the warehouse (``UPDATE … SET _sdc_deleted_at``). Full-table
streams do not need it: ``emit_activate_version_messages`` covers them.

An id missing from this pass is not yet proof of a deletion: a v1 list paged by offset can shift under the
reader (a row deleted or moved before the offset) and skip a row that still exists. Every candidate is
therefore confirmed with a request for the record itself; only a 404 or 410 (or a record the answer marks
deleted) is reported. That costs one request per deleted record, and nothing when nothing was deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from pipedrive_core.catalogue import CATALOGUE, Pagination, Replication, Resource
from pipedrive_core.http import PipedriveClient
from pipedrive_core.http.errors import GoneError, NotFoundError
from tap_pipedrive.client import ApiStream, ReadPlan
from tap_pipedrive.incremental import normalize_timestamp

if TYPE_CHECKING:
    from tap_pipedrive.tap import TapPipedrive

#: streams whose deletions can be reconciled: incremental, top level, no delete marker of their own
RECONCILABLE = tuple(
    r.name for r in CATALOGUE.values()
    if r.retired is None and r.parent is None and r.delete_marker is None
    and r.replication in {Replication.UPDATED_SINCE, Replication.RECENTS}
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "stream": {"type": ["string"]},
        "id": {"type": ["string"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def compress(ids: Iterable[Any]) -> list[Any]:
    """Integer ids as sorted ``[first, last]`` ranges (Pipedrive ids are dense); other ids sorted as they are."""
    values = sorted(set(ids), key=lambda v: (not isinstance(v, int), str(v) if not isinstance(v, int) else v))
    out: list[Any] = []
    for value in values:
        if isinstance(value, int) and out and isinstance(out[-1], list) and out[-1][1] == value - 1:
            out[-1][1] = value
        elif isinstance(value, int):
            out.append([value, value])
        else:
            out.append(value)
    return out


def expand(compact: Iterable[Any]) -> set[Any]:
    """Inverse of :func:`compress`."""
    ids: set[Any] = set()
    for item in compact or ():
        if isinstance(item, list) and len(item) == 2:
            ids.update(range(int(item[0]), int(item[1]) + 1))
        else:
            ids.add(item)
    return ids


class DeletedRecordsStream(ApiStream):
    """``deleted_records``: ids that vanished from the streams named in ``reconcile_deletes``."""

    name = "deleted_records"
    path = "/"
    primary_keys = ("stream", "id")
    replication_key = None

    def __init__(self, tap: TapPipedrive) -> None:
        super().__init__(tap, SCHEMA)

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition (and state entry) per reconciled stream."""
        return [{"stream": name} for name in reconciled_streams(self.config)]

    def current_ids(self, resource: Resource) -> set[Any]:
        """Every id the resource's list holds now (pages are read and dropped one by one)."""
        client = PipedriveClient(self.tap.client_config, session=self.tap.session)
        params = dict(resource.read_params)
        ids: set[Any] = set()
        limit = max(1, min(int(self.config.get("page_size") or 500), resource.page_limit, 500))
        for page in client.iter_pages(resource.read_path, pagination=resource.pagination, params=params,
                                      page_limit=limit if resource.pagination is not Pagination.NONE else 500,
                                      resource=resource.name):
            self.stats.requests += 1
            ids.update(r.get(resource.key) for r in page if isinstance(r, Mapping))
        ids.discard(None)
        return ids

    def is_gone(self, resource: Resource, record_id: Any) -> bool:
        """Whether the record itself answers 404/410 (or says it is deleted): a missing id confirmed."""
        client = PipedriveClient(self.tap.client_config, session=self.tap.session)
        self.stats.requests += 1
        try:
            body = client.request("GET", resource.item_path.replace("{id}", str(record_id)), resource=resource.name)
        except (NotFoundError, GoneError):
            return True
        data = body.get("data") if isinstance(body, Mapping) else None
        return not isinstance(data, Mapping) or bool(data.get("is_deleted") or data.get("deleted"))

    @override
    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """The ids pass reads the named stream's list (see :meth:`current_ids`)."""
        resource = CATALOGUE[str((context or {}).get("stream"))]
        return ReadPlan("full", resource.read_path, dict(resource.read_params), resource.pagination)

    @override
    def read_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Compare this pass's ids with the previous pass's; emit the vanished ones that are confirmed gone."""
        name = str((context or {}).get("stream"))
        resource = CATALOGUE[name]
        state = self.get_context_state(context)
        started = normalize_timestamp(self.tap.server_now())
        now_ids = self.current_ids(resource)
        previous = state.get("ids")
        if previous is not None:
            before = expand(previous)
            missing = before - now_ids
            gone = {i for i in missing if self.is_gone(resource, i)}
            now_ids |= missing - gone  # still there: the list moved under the ids pass
            self.logger.info("%s: %d of %d records disappeared since the last reconciliation", name, len(gone),
                             len(before))
            for record_id in sorted(gone, key=str):
                yield {"id": str(record_id), "_sdc_deleted_at": started}
        state["ids"] = compress(now_ids)


def reconciled_streams(config: Mapping[str, Any]) -> list[str]:
    """The streams named by ``reconcile_deletes`` (``["all"]``: every stream that qualifies)."""
    value = config.get("reconcile_deletes") or []
    names = [str(v) for v in value]
    if "all" in names:
        return list(RECONCILABLE)
    unknown = [n for n in names if n not in RECONCILABLE]
    if unknown:
        from singer_sdk.exceptions import ConfigValidationError  # noqa: PLC0415

        msg = (f"reconcile_deletes: {', '.join(unknown)} cannot be reconciled; choose from "
               f"{', '.join(RECONCILABLE)} (full-table streams use emit_activate_version_messages)")
        raise ConfigValidationError(msg, errors=[msg])
    return names
