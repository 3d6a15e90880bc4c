"""One parametrised sink for every writable Pipedrive resource.

The catalogue already says how each resource is written, so a class per resource would only repeat it. The
sink's job is the SDK side: keep records that fail schema validation (instead of crashing the run, they are
rejected with the field named), keep the delete flag that the SDK would strip with the other ``_sdc_``
columns, tolerate missing key properties (new records have no id yet), and hand each batch to the writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink

from target_pipedrive.writer import REJECT_MARK, StreamContext

if TYPE_CHECKING:
    from target_pipedrive.target import TargetPipedrive


class PipedriveSink(BatchSink):
    """Collect records of one stream and write them with the shared worker pool at each drain."""

    #: Writes cost one request per record, so small drains cost nothing, and they keep memory flat: the SDK's
    #: default (10,000) held a whole batch in memory (+38 % peak RSS from 1k to 10k records in benchmark 5).
    MAX_SIZE_DEFAULT = 1000

    def __init__(
        self,
        target: TargetPipedrive,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.pipedrive_target = target
        self.context: StreamContext = target.stream_context(stream_name, list(key_properties or []))

    @property
    def rank(self) -> int:
        """Drain order (field definitions and referenced resources first)."""
        return self.pipedrive_target.rank_of(self.context.resource)

    def _validate_and_parse(self, record: dict[str, Any]) -> dict[str, Any]:
        """Validate against the upstream schema; a failure rejects this record only (policy: on_error)."""
        try:
            if self._validator is not None:
                self._validator.validate(record)
            self._parse_timestamps_in_record(
                record=record, schema=self.schema, treatment=self.datetime_error_treatment
            )
        except InvalidRecord as exc:
            path = getattr(exc.__cause__, "absolute_path", None)
            where = ".".join(str(p) for p in path) if path else None
            record[REJECT_MARK] = {"reason": exc.error_message, "field": where}
        except ValueError as exc:
            record[REJECT_MARK] = {"reason": f"invalid date/time value: {exc}", "field": None}
        return record

    def _remove_sdc_metadata_from_record(self, record: dict[str, Any]) -> None:
        """Strip Singer metadata, but keep the delete flag: ``_sdc_deleted_at`` is how deletes arrive."""
        flag = self.context.plan.delete_flag
        kept = record.get(flag)
        super()._remove_sdc_metadata_from_record(record)
        if kept is not None:
            record[flag] = kept

    def preprocess_record(self, record: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        """Upstream key properties may be absent (a new record has no Pipedrive ``id`` yet): default them."""
        for key in self.key_properties or ():
            record.setdefault(key, None)
        return record

    def process_batch(self, context: dict[str, Any]) -> None:
        """Write the batch (after draining the resources it may refer to)."""
        self.pipedrive_target.drain_dependencies(self)
        records = context.get("records") or []
        if records:
            self.pipedrive_target.runtime.run_batch(self.context, records)
