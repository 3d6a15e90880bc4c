"""Loading custom-field definitions from the ``*Fields`` endpoints, once per run, for the tap and the target.

Both plugins need the same thing: the raw field records of a ``*_fields`` catalogue resource (the tap
publishes them as a stream and types its columns with them; the target translates columns to field keys),
parsed into :class:`~pipedrive_core.fields.FieldDef`. One loader reads them with the resource's own path,
pagination and page size, caches them per run, and is thread-safe for the target's workers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_core.fields import FieldDef, parse_fields
from pipedrive_core.http.session import PipedriveClient

#: the most definition sets fetched side by side (the HTTP pool keeps ten connections per host)
PREFETCH_THREADS = 8


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
        #: what a prefetch met instead of a set, raised at the set's first use
        self._failed: dict[str, BaseException] = {}
        self.version = 0

    def _records_locked(self, fields_resource: str) -> list[dict[str, Any]]:
        failed = self._failed.pop(fields_resource, None)
        if failed is not None:
            raise failed
        cached = self._records.get(fields_resource)
        if cached is None:
            cached = self._records[fields_resource] = fetch_field_records(self.client, fields_resource)
        return cached

    def prefetch(self, fields_resources: Iterable[str]) -> None:
        """Fetch the sets not cached yet side by side, one thread each, instead of one round trip after another as
        they are first used (a tap builds every stream's schema at start-up). Every request still goes through the
        client's session and its rate limiter. An error is kept and raised where the set is first used, as if it
        had been fetched there: the same requests and the same errors as without the prefetch."""
        with self._lock:
            wanted = sorted({name for name in fields_resources
                             if name not in self._records and name not in self._failed})
        if len(wanted) < 2:
            return
        with ThreadPoolExecutor(max_workers=min(len(wanted), PREFETCH_THREADS),
                                thread_name_prefix="field-definitions") as pool:
            fetched = {name: pool.submit(fetch_field_records, self.client, name) for name in wanted}
        with self._lock:
            for name, future in fetched.items():
                error = future.exception()
                if error is not None:
                    self._failed[name] = error
                else:
                    self._records.setdefault(name, future.result())

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
            self._failed.pop(fields_resource, None)
            self.version += 1
