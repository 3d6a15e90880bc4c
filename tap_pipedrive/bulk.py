"""Child reads for many parents per request (catalogue ``bulk_path``): deal products and installments.

``GET /api/v2/deals/products?deal_ids=1,2,…`` answers the products of up to 100 deals at once, so a deal read
costs one products request per 100 deals instead of one per deal. singer-sdk syncs a child once per parent
record; a :class:`BulkChildStream` only notes the parent id there and reads when it holds ``bulk_max`` of
them, and when its parent is about to write STATE (:meth:`ChildStream.flush_pending`, called by the parent
before each checkpoint and at the end of its read). A STATE therefore never covers a parent whose children
are still unread, and a stop loses no child record: the parents after the last STATE are read again.

Records of a bulk answer carry their parent's id themselves (``deal_id``), which becomes the parent column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from typing_extensions import override

from tap_pipedrive.client import ChildStream, ReadPlan, parent_column
from tap_pipedrive.plans import PlanGate

#: context key of a bulk read: the comma-separated parent ids
BULK_IDS = "bulk_ids"


class BulkChildStream(ChildStream):
    """A child read in batches of parents through the catalogue's ``bulk_path``."""

    #: a bulk read is cheap enough to re-read the children of every parent on incremental runs
    refreshes_all_parents = True
    batches_parents = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[Any] = []
        self._noted: set[Any] = set()
        self.gate = PlanGate(self)

    @override
    def note_parents(self, parent_ids: Iterable[Any]) -> None:
        """Read the children of these parents too (those not read in this run yet), in batches."""
        for parent_id in parent_ids:
            if parent_id not in self._noted:
                self._noted.add(parent_id)
                self._pending.append(parent_id)
                if len(self._pending) >= self.resource.bulk_max:
                    self.flush_pending()

    @override
    def read_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """A parent's context only notes its id (a batch is read when full); a batch context reads."""
        if context is not None and BULK_IDS in context:
            if self.gate.closed:
                return []
            return super().read_records(context)
        if context is not None and context.get("parent_id") is not None:
            self._noted.add(context["parent_id"])
            self._pending.append(context["parent_id"])
        if len(self._pending) >= self.resource.bulk_max:
            self.flush_pending()
        return []

    @override
    def flush_pending(self) -> None:
        """Read the children of every noted parent, ``bulk_max`` parents per request."""
        limit = max(1, self.resource.bulk_max)
        while self._pending:
            batch, self._pending = self._pending[:limit], self._pending[limit:]
            self.sync({BULK_IDS: ",".join(str(p) for p in batch)})

    @override
    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """The bulk list for a batch context; the catalogue's per-parent read otherwise."""
        res = self.resource
        if context is None or BULK_IDS not in context or res.bulk_path is None:
            return super().read_plan(context)
        return ReadPlan("full", res.bulk_path, {res.bulk_param: context[BULK_IDS]}, res.pagination,
                        self.page_size)

    @override
    def skips(self, exc: Any, context: Mapping[str, Any] | None) -> bool:
        """A plan without the resource closes the stream (one warning); a vanished parent is skipped."""
        return self.gate.skips(exc) or super().skips(exc, context)

    @override
    def post_process(self, row: dict[str, Any], context: Mapping[str, Any] | None = None
                     ) -> dict[str, Any] | None:
        """The parent column is the parent id the record carries (a batch has many parents)."""
        if context is not None and BULK_IDS in context:
            context = {"parent_id": row.get(parent_column(self.resource))}
        return super().post_process(row, context)
