"""Stream classes generated from the catalogue: one distinct subclass per active resource.

Distinct classes (not instances of one generic class) are what singer-sdk links children to parents by
(``parent_stream_type``). Retired resources are never generated, so they are never called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from typing_extensions import override

from pipedrive_core.catalogue import Replication, Resource, active
from tap_pipedrive.bulk import BulkChildStream
from tap_pipedrive.client import ChildStream, PipedriveStream, parent_column
from tap_pipedrive.fastpath import report_temporal
from tap_pipedrive.list_queries import top_level_partitions


class TopLevelStream(PipedriveStream):
    """A list read at the top level (full, ``updated_since`` or ``/recents``)."""

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """The catalogue's partitions (:func:`~tap_pipedrive.list_queries.top_level_partitions`)."""
        return top_level_partitions(self.resource, self.config)


class FieldsStream(PipedriveStream):
    """A ``*_fields`` stream: the definitions read at discovery, plus the column each field lands in."""

    @override
    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Reuse the definitions discovery fetched (one call per run), with the key ↔ column mapping."""
        mapping = self.tap.column_map(self.resource.name)
        for raw in self.tap.field_records(self.resource.name):
            record = dict(raw)
            key = str(record.get("key") or "")
            column = mapping.get(key, key)
            record["column"] = column
            subfields = self.tap.field_subfields(self.resource.name, key)
            record["columns"] = [column, *(f"{column}_{s}" for s in subfields)]
            yield record
        report_temporal(self)  # impossible dates/times among the definitions: once per column, with a count


def _class_name(name: str) -> str:
    return "".join(part.title() for part in name.split("_")) + "Stream"


def primary_keys_for(res: Resource) -> tuple[str, ...]:
    """Children are keyed by (parent id, own key): a follower or flow item repeats across parents, unless
    the catalogue says the child's key is global."""
    if res.parent is None or res.key_is_global:
        return (res.key,)
    return (parent_column(res), *(res.key_columns or (res.key,)))


def build_stream_classes(resources: Iterable[Resource] | None = None) -> dict[str, type[PipedriveStream]]:
    """One class per active resource, parents created before their children."""
    chosen = list(resources if resources is not None else active())
    classes: dict[str, type[PipedriveStream]] = {}
    ordered = [r for r in chosen if r.parent is None] + [r for r in chosen if r.parent is not None]
    for res in ordered:
        base: type[PipedriveStream]
        if res.fields_of:
            base = FieldsStream
        elif res.parent is None:
            base = TopLevelStream
        else:
            base = BulkChildStream if res.bulk_path else ChildStream
        attrs: dict[str, Any] = {
            "resource": res,
            "name": res.name,
            "path": res.read_path,
            "primary_keys": primary_keys_for(res),
            "selected_by_default": res.selected_by_default,
            "replication_key": res.replication_key
            if res.replication in {Replication.UPDATED_SINCE, Replication.RECENTS}
            else None,
            "__doc__": f"Pipedrive {res.title} ({res.read_path}, API v{res.read_version}). {res.description}",
        }
        if res.parent is not None:
            if res.parent not in classes:
                continue  # parent inactive: the child cannot be read
            attrs["parent_stream_type"] = classes[res.parent]
        classes[res.name] = type(_class_name(res.name), (base,), attrs)
    return classes


STREAM_CLASSES = build_stream_classes()
