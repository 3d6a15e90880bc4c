"""The one place target-pipedrive touches singer-sdk's private surface.

singer-sdk keeps a few things the target needs behind underscore names: draining sinks in an order of our
choosing (``Target._drain_all``, ``Target._sinks_active``), the config check (``Target._validate_config``,
``Target._config``), and per-record validation and metadata stripping in sinks (``Sink._validate_and_parse``,
``Sink._validator``, ``Sink._parse_timestamps_in_record``, ``Sink._remove_sdc_metadata_from_record``) and how
BATCH file URLs are split (``helpers._batch.StorageTarget``). Each is
overridden or read here, and only here, and turned into a public hook the rest of the target uses.
:data:`PRIVATE_SURFACE` lists them; ``tests/target/test_sdk_compat.py`` fails as soon as an installed singer-sdk
lacks one, so a version bump fails loudly instead of silently changing behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from singer_sdk import Sink, Target
from singer_sdk.exceptions import ConfigValidationError, InvalidRecord
from singer_sdk.helpers import _batch
from singer_sdk.sinks import BatchSink
from typing_extensions import override

#: the encoding a BATCH message declares (the type of ``Sink.process_batch_files``' first argument)
BatchFileEncoding = _batch.BaseBatchFileEncoding
#: splits a batch file URL into (directory URL, file name), as the SDK does when it reads BATCH files
split_batch_url = _batch.StorageTarget.split_url

#: every private singer-sdk name the target relies on: (owner, attribute)
PRIVATE_SURFACE: tuple[tuple[object, str], ...] = (
    (_batch, "StorageTarget"),
    (_batch, "BaseBatchFileEncoding"),
    (_batch.StorageTarget, "split_url"),
    (Target, "_drain_all"),
    (Target, "_validate_config"),
    (Sink, "_validate_and_parse"),
    (Sink, "_parse_timestamps_in_record"),
    (Sink, "_remove_sdc_metadata_from_record"),
)
#: private attributes set on instances (checked on a constructed target and sink by the test)
PRIVATE_INSTANCE_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("target", "_sinks_active"),
    ("target", "_config"),
    ("sink", "_validator"),
)


class CompatTarget(Target):
    """``Target`` with the private members the target needs turned into public hooks."""

    def raw_config(self) -> Mapping[str, Any]:
        """The config as given (``Target._config``), for checks the JSON schema cannot express."""
        return self._config

    def check_config(self) -> None:
        """Extra config checks after the SDK's JSON-schema check; raise ``ConfigValidationError``."""

    def clean_errors(self, errors: list[str]) -> list[str]:
        """The SDK's JSON-schema errors as shown to the user (they quote values: mask secrets here)."""
        return errors

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = self.clean_errors(super()._validate_config(raise_errors=False))
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        if not errors and raise_errors:
            self.check_config()
        return errors

    def active_sinks(self) -> list[Sink]:
        """The sinks currently collecting records (``Target._sinks_active``)."""
        return list(self._sinks_active.values())

    def drain_in_order(self, sinks: list[Sink]) -> None:
        """Drain ``sinks`` (the SDK drains in parallel, in no particular order); override to choose the order."""
        for sink in sinks:
            self.drain_one(sink)

    @override
    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        self.drain_in_order(list(sink_list))


class CompatSink(BatchSink):
    """``BatchSink`` with record validation and metadata stripping as public hooks."""

    def validate_record(self, record: dict[str, Any]) -> None:
        """Validate against the upstream schema and parse timestamps; raises ``InvalidRecord``/``ValueError``."""
        if self._validator is not None:
            self._validator.validate(record)
        self._parse_timestamps_in_record(record=record, schema=self.schema, treatment=self.datetime_error_treatment)

    def on_invalid_record(self, record: dict[str, Any], exc: InvalidRecord | ValueError) -> None:
        """A record failed :meth:`validate_record`; the default re-raises (the SDK's behaviour)."""
        raise exc

    @override
    def _validate_and_parse(self, record: dict[str, Any]) -> dict[str, Any]:
        try:
            self.validate_record(record)
        except (InvalidRecord, ValueError) as exc:
            self.on_invalid_record(record, exc)
        return record

    def kept_metadata(self) -> tuple[str, ...]:
        """``_sdc_`` columns to keep when the SDK strips Singer metadata from records."""
        return ()

    @override
    def _remove_sdc_metadata_from_record(self, record: dict[str, Any]) -> None:
        kept = {k: record[k] for k in self.kept_metadata() if record.get(k) is not None}
        super()._remove_sdc_metadata_from_record(record)
        record.update(kept)
