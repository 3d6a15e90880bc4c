"""Loading custom-field definitions from the ``*Fields`` endpoints, once per run, for the tap and the target.

Both plugins need the same thing: the raw field records of a ``*_fields`` catalogue resource (the tap
publishes them as a stream and types its columns with them; the target translates columns to field keys),
parsed into :class:`~pipedrive_core.fields.FieldDef`. One loader reads them with the resource's own path,
pagination and page size, caches them per run, and is thread-safe for the target's workers.
"""

from __future__ import annotations

import threading
from typing import Any

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_core.fields import FieldDef, parse_fields
from pipedrive_core.http.session import PipedriveClient


def fetch_field_records(client: PipedriveClient, fields_resource: str) -> list[dict[str, Any]]:
    """Every field record of ``fields_resource`` (a catalogue ``*_fields`` resource), all pages."""
    res = CATALOGUE[fields_resource]
    records: list[dict[str, Any]] = []
    for page in client.iter_pages(
        res.read_path, pagination=res.pagination, params=dict(res.read_params), page_limit=res.page_limit,
        resource=res.name,
    ):
        records.extend(r for r in page if isinstance(r, dict))
    return records


class FieldDefinitions:
    """Field definitions per ``*_fields`` resource, fetched on first use and kept for the run.

    :meth:`invalidate` forgets one set (after the run itself wrote to it) and bumps :attr:`version`, so
    callers that derived something from the definitions can tell it is stale.
    """

    def __init__(self, client: PipedriveClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._parsed: dict[str, dict[str, FieldDef]] = {}
        self.version = 0

    def _records_locked(self, fields_resource: str) -> list[dict[str, Any]]:
        cached = self._records.get(fields_resource)
        if cached is None:
            cached = self._records[fields_resource] = fetch_field_records(self.client, fields_resource)
        return cached

    def records(self, fields_resource: str) -> list[dict[str, Any]]:
        """The raw field records (as Pipedrive answered them)."""
        with self._lock:
            return self._records_locked(fields_resource)

    def definitions(self, fields_resource: str | None) -> dict[str, FieldDef]:
        """Parsed definitions keyed by field key (empty for a resource without custom fields)."""
        if fields_resource is None:
            return {}
        with self._lock:
            parsed = self._parsed.get(fields_resource)
            if parsed is None:
                parsed = self._parsed[fields_resource] = parse_fields(self._records_locked(fields_resource))
            return parsed

    def invalidate(self, fields_resource: str) -> None:
        """Forget one definition set; the next use fetches it again."""
        with self._lock:
            self._records.pop(fields_resource, None)
            self._parsed.pop(fields_resource, None)
            self.version += 1
