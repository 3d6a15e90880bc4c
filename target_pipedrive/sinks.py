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
from typing_extensions import override
from upath import UPath

from target_pipedrive.sdk_compat import BatchFileEncoding, CompatSink, split_batch_url
from target_pipedrive.writer import REJECT_MARK, StreamContext

if TYPE_CHECKING:
    from target_pipedrive.target import TargetPipedrive


class BatchFileRefusedError(ValueError):
    """A BATCH message names a file outside the storage the target is configured for."""


class PipedriveSink(CompatSink):
    """Collect records of one stream and write them with the shared worker pool at each drain."""

    #: Writes cost one request per record, so small drains cost nothing, and they keep memory flat: the SDK's
    #: default (10,000) held a whole batch in memory.
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
        self.context: StreamContext = target.stream_context(stream_name, list(key_properties or []), schema)

    @property
    def rank(self) -> int:
        """Drain order (field definitions and referenced resources first)."""
        return self.pipedrive_target.rank_of(self.context.resource)

    @override
    def on_invalid_record(self, record: dict[str, Any], exc: InvalidRecord | ValueError) -> None:
        """A record failing the upstream schema is rejected alone (policy: on_error), not the run."""
        if isinstance(exc, InvalidRecord):
            path = getattr(exc.__cause__, "absolute_path", None)
            where = ".".join(str(p) for p in path) if path else None
            record[REJECT_MARK] = {"reason": exc.error_message, "field": where}
        else:
            record[REJECT_MARK] = {"reason": f"invalid date/time value: {exc}", "field": None}

    @override
    def kept_metadata(self) -> tuple[str, ...]:
        """Keep the delete flag: ``_sdc_deleted_at`` is how deletes arrive."""
        return (self.context.plan.delete_flag,)

    @override
    def preprocess_record(self, record: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        """Upstream key properties may be absent (a new record has no Pipedrive ``id`` yet): default them."""
        for key in self.key_properties or ():
            record.setdefault(key, None)
        return record

    @override
    def process_batch_files(self, encoding: BatchFileEncoding, files: Sequence[str]) -> None:
        """Read BATCH files only from the configured ``batch_config.storage`` root: a BATCH message must not
        make the target read an arbitrary local file (``file:///etc/passwd``)."""
        storage = self.batch_config.storage if self.batch_config else None
        if storage is None:
            msg = (
                f"stream {self.stream_name!r}: BATCH message refused: batch files are read only from the storage "
                "set in batch_config.storage.root, and none is configured"
            )
            raise BatchFileRefusedError(msg)
        root = UPath(storage.root).resolve().as_uri().rstrip("/")
        for url in files:
            head, _tail = split_batch_url(url)
            if UPath(head).resolve().as_uri().rstrip("/") != root:
                msg = (
                    f"stream {self.stream_name!r}: BATCH message refused: {url!r} is outside the configured "
                    f"batch storage {storage.root!r}"
                )
                raise BatchFileRefusedError(msg)
        super().process_batch_files(encoding, files)

    @override
    def process_batch(self, context: dict[str, Any]) -> None:
        """Write the batch (after draining the resources it may refer to)."""
        self.pipedrive_target.drain_dependencies(self)
        records = context.get("records") or []
        if records:
            self.pipedrive_target.runtime.run_batch(self.context, records)
