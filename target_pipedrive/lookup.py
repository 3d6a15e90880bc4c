"""Reading Pipedrive on the target's behalf: custom-field definitions, and finding existing records.

Finding is what keeps creates from duplicating. It serves two callers:

* ``match_on`` upserts (a person by email, an organization by name, a deal by an external-id custom field):
  Pipedrive's ``/search`` endpoints where the resource has one (exact match), else a scan of the list that is
  indexed once per run. Every hit is confirmed by reading the record and comparing the values exactly,
  because search is fuzzy and tokenised.
* reconciliation of a create whose outcome is unknown (a crash or a timeout after Pipedrive committed it):
  candidates created or changed since the journaled intent are compared with the journaled payload.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pipedrive_core.catalogue import Pagination, Replication, Resource
from pipedrive_core.field_definitions import FieldDefinitions
from pipedrive_core.fields import SEARCHABLE_TYPES, FieldDef, flatten_v2
from pipedrive_core.http import PipedriveClient
from pipedrive_core.http.errors import NotFoundError
from target_pipedrive.translate import RecordError

#: body field → search field, where Pipedrive's names differ
SEARCH_ALIASES: Mapping[str, str] = {"emails": "email", "email": "email", "phones": "phone", "phone": "phone"}


class FieldCache(FieldDefinitions):
    """Custom-field definitions per entity, fetched once per run (and again after a ``*_fields`` write)."""

    def get(self, entity: Resource) -> dict[str, FieldDef]:
        """Definitions of ``entity``'s fields (empty when it has none)."""
        return self.definitions(entity.fields_resource)


def _fold(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return sorted(str(_fold(v)) for v in value)
    return value


def _values_of(record: Mapping[str, Any], field: str, fields: Mapping[str, FieldDef]) -> list[Any]:
    """All comparable values a read record holds for a body field (lists of objects yield each value)."""
    custom = record.get("custom_fields")
    flat = {**record, **flatten_v2(custom, fields)} if isinstance(custom, Mapping) else record
    value = flat.get(field)
    if isinstance(value, Mapping):
        value = value.get("value", value.get("id"))
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return [v.get("value") for v in value]
    return [value]


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _body_terms(body: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """Flat field → term for the given body fields (custom ones looked up in ``custom_fields``)."""
    custom = body.get("custom_fields") if isinstance(body.get("custom_fields"), Mapping) else {}
    terms: dict[str, Any] = {}
    for col in columns:
        value = body[col] if col in body else (custom or {}).get(col, body.get(col))
        if isinstance(value, Mapping):
            value = value.get("value")
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            primary = [v for v in value if v.get("primary")] or value
            value = primary[0].get("value")
        terms[col] = value
    return terms


def matches(record: Mapping[str, Any], terms: Mapping[str, Any], fields: Mapping[str, FieldDef]) -> bool:
    """Whether a read record holds every term (case-insensitive for text, numeric for numbers)."""
    for field, term in terms.items():
        found = [_fold(v) for v in _values_of(record, field, fields)]
        if _fold(term) not in found:
            return False
    return True


def comparable_terms(body: Mapping[str, Any], fields: Mapping[str, FieldDef]) -> dict[str, Any]:
    """The scalar parts of a write body, flat, for recognising the record it created."""
    terms = {k: v for k, v in body.items() if k != "custom_fields" and _scalar(v) and v is not None}
    custom = body.get("custom_fields")
    if isinstance(custom, Mapping):
        terms.update({k: v for k, v in flatten_v2(custom, fields).items() if _scalar(v) and v is not None})
    for key in ("emails", "phones"):
        if isinstance(body.get(key), list):
            terms.update(_body_terms(body, [key]))
    return terms


class Finder:
    """Find existing Pipedrive records of one resource by field values."""

    def __init__(
        self,
        client: PipedriveClient,
        resource: Resource,
        fields: Callable[[], Mapping[str, FieldDef]],
        is_mapped: Callable[[str], bool],
    ) -> None:
        self.client = client
        self.resource = resource
        self.fields = fields
        self.is_mapped = is_mapped
        self._lock = threading.Lock()
        self._listing: list[dict[str, Any]] | None = None

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, pid: str) -> dict[str, Any] | None:
        """One record by id (``None`` when it no longer exists)."""
        path = self.resource.item_path.format(id=pid)
        try:
            body = self.client.request("GET", path, resource=self.resource.name)
        except NotFoundError:
            return None
        data = body.get("data")
        return data if isinstance(data, dict) else None

    def _list(self, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.client.iter_pages(
            self.resource.read_path,
            pagination=self.resource.pagination,
            params={**self.resource.read_params, **(params or {})},
            page_limit=self.resource.page_limit,
            resource=self.resource.name,
        ):
            out.extend(r for r in page if isinstance(r, dict))
        return out

    def listing(self) -> list[dict[str, Any]]:
        """The whole list, read once per run and extended by :meth:`remember` as records are created."""
        with self._lock:
            if self._listing is None:
                self._listing = self._list()
            return list(self._listing)

    def remember(self, record: dict[str, Any]) -> None:
        """Add a record this run created to the cached listing (so a later match finds it)."""
        with self._lock:
            if self._listing is not None:
                self._listing.append(record)

    def _search_ids(self, field: str, term: Any) -> list[str] | None:
        """Candidate ids from the resource's search endpoint, or ``None`` when it cannot search ``field``."""
        writes = self.resource.writes
        allowed = writes.search_fields if writes is not None else frozenset()
        if writes is None or writes.search_path is None or not allowed or term in (None, ""):
            return None
        fields = self.fields()
        custom = field in fields and fields[field].is_custom
        search_field = "custom_fields" if custom else SEARCH_ALIASES.get(field, field)
        if search_field not in allowed:
            return None
        if search_field == "custom_fields" and fields[field].field_type not in SEARCHABLE_TYPES:
            return None
        ids: list[str] = []
        params = {"term": str(term), "fields": search_field, "exact_match": "true", "limit": 100}
        for page in self.client.iter_pages(
            writes.search_path, pagination=Pagination.CURSOR, params=params, page_limit=100,
            resource=self.resource.name,
        ):
            for entry in page:
                items = entry.get("items") if isinstance(entry, Mapping) and "items" in entry else [entry]
                for item in items or []:
                    inner = item.get("item", item) if isinstance(item, Mapping) else {}
                    if isinstance(inner, Mapping) and inner.get("id") is not None:
                        ids.append(str(inner["id"]))
        return ids

    # --- finding -------------------------------------------------------------------------------------

    def find(self, terms: Mapping[str, Any], *, what: str) -> str | None:
        """The id of the one record holding all ``terms``; ``None`` if none; error if several."""
        if not terms or any(v in (None, "", []) for v in terms.values()):
            return None
        fields = self.fields()
        first_field, first_term = next(iter(terms.items()))
        ids = self._search_ids(first_field, first_term)
        hits: list[str] = []
        if ids is not None:
            for pid in dict.fromkeys(ids):
                record = self.get(pid)
                if record is not None and not record.get("is_deleted") and matches(record, terms, fields):
                    hits.append(pid)
        else:
            hits = [
                str(r["id"]) for r in self.listing()
                if r.get("id") is not None and not r.get("is_deleted") and matches(r, terms, fields)
            ]
        hits = list(dict.fromkeys(hits))
        if len(hits) > 1:
            raise RecordError(
                f"{what} matched {len(hits)} {self.resource.name} records (ids {', '.join(hits[:10])}); "
                "make the match_on columns unique in Pipedrive or give the record an id"
            )
        return hits[0] if hits else None

    def reconcile(
        self, body: Mapping[str, Any], since: dt.datetime, match_terms: Mapping[str, Any] | None
    ) -> str | None:
        """After a create of unknown outcome: the id of the record it made, if Pipedrive has it.

        With ``match_on`` the match decides. Otherwise candidates are the records found by the natural field
        (name/title) or changed since the intent, and one must carry every scalar value of the body and not
        already belong to another source key.
        """
        if match_terms:
            try:
                return self.find(match_terms, what="reconciliation")
            except RecordError:
                return None
        fields = self.fields()
        terms = comparable_terms(body, fields)
        if not terms:
            return None
        natural = self.resource.natural_field
        candidates: list[dict[str, Any]] = []
        ids = self._search_ids(natural, terms[natural]) if natural and terms.get(natural) else None
        if ids is not None:
            for pid in dict.fromkeys(ids):
                record = self.get(pid)
                if record is not None:
                    candidates.append(record)
        elif self.resource.replication is Replication.UPDATED_SINCE:
            start = (since - dt.timedelta(minutes=2)).astimezone(dt.timezone.utc)
            candidates = self._list({"updated_since": start.strftime("%Y-%m-%dT%H:%M:%SZ")})
        else:
            candidates = self._list()
        hits = [
            str(r["id"]) for r in candidates
            if r.get("id") is not None and not r.get("is_deleted") and matches(r, terms, fields)
        ]
        free = [pid for pid in dict.fromkeys(hits) if not self.is_mapped(pid)]
        return free[0] if free else None


def match_terms(body: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """The values of the match_on body fields, taken from a rendered request body."""
    return _body_terms(body, columns)
