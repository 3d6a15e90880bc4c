"""The one place tap-pipedrive touches singer-sdk's private surface.

singer-sdk keeps several things the tap needs behind underscore names: the helpers the fast path mirrors
(``helpers._typing``, ``_catalog``, ``_util``), writing one stream's bookmark (``helpers._state``), the
request preparation and sending of ``RESTStream``, the per-stream SCHEMA/STATE/RECORD message methods and the
config check of ``Tap``. Every such name is imported or overridden here, and only here; the rest of the tap
uses the public hooks these classes add. :data:`PRIVATE_SURFACE` lists them all, and
``tests/tap/test_sdk_compat.py`` fails as soon as an installed singer-sdk lacks one, so a version bump fails
loudly instead of silently changing behaviour.
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Mapping
from contextlib import AbstractContextManager, nullcontext
from types import FrameType
from typing import IO, Any, ClassVar

import requests
from singer_sdk import Tap, metrics, plugin_base
from singer_sdk import singerlib as singer
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers import _catalog, _state, _typing, _util
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._state import write_stream_state
from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    _conform_record_data_types,
    _is_exclusive_boolean_type,
    _warn_unmapped_properties,
    is_object_type,
    is_uniform_list,
)
from singer_sdk.helpers._util import load_json, utc_now
from singer_sdk.plugin_base import PluginBase, _ConfigInput
from singer_sdk.streams import RESTStream
from singer_sdk.streams.core import Stream
from typing_extensions import override

from pipedrive_core.settings import mask_secrets

__all__ = [
    "PRIVATE_SURFACE",
    "CompatCounter",
    "CompatStream",
    "CompatTap",
    "_conform_primitive_property",
    "_conform_record_data_types",
    "_is_exclusive_boolean_type",
    "_warn_unmapped_properties",
    "is_object_type",
    "is_uniform_list",
    "load_json",
    "pop_deselected_record_properties",
    "utc_now",
    "write_stream_state",
]

#: every private singer-sdk name the tap relies on: (owner, attribute)
PRIVATE_SURFACE: tuple[tuple[object, str], ...] = (
    (_catalog, "pop_deselected_record_properties"),
    (_state, "write_stream_state"),
    (_typing, "_conform_primitive_property"),
    (_typing, "_conform_record_data_types"),
    (_typing, "_is_exclusive_boolean_type"),
    (_typing, "_warn_unmapped_properties"),
    (_typing, "is_object_type"),
    (_typing, "is_uniform_list"),
    (_util, "utc_now"),
    (_util, "load_json"),
    (PluginBase, "invoke"),
    (plugin_base, "_ConfigInput"),
    (Stream, "_generate_record_messages"),
    (Stream, "_write_schema_message"),
    (Stream, "_write_state_message"),
    (Stream, "_increment_stream_state"),
    (Stream, "_get_state_partition_context"),
    (RESTStream, "_request"),
    (RESTStream, "_LOG_REQUEST_METRICS"),
    (Tap, "_validate_config"),
    (Tap, "_reset_state_progress_markers"),
    (Tap, "_handle_termination"),
    (PluginBase, "_handle_termination"),
    (Tap, "_set_compatible_replication_methods"),
    (metrics.Counter, "_pop"),
)


class CompatStream(RESTStream[Any]):
    """``RESTStream`` with its private methods turned into public hooks for the tap's streams."""

    #: one SCHEMA per run (a child stream is synced once per parent record)
    schema_once: ClassVar[bool] = False
    #: whether this stream writes STATE itself (children leave it to their parent)
    writes_state: ClassVar[bool] = True
    #: log singer-sdk's per-request duration metric
    log_request_metrics: ClassVar[bool] = True
    _schema_written = False

    @override
    @property
    def _LOG_REQUEST_METRICS(self) -> bool:  # type: ignore[override] # a class flag in the SDK
        return self.log_request_metrics

    def write_state_now(self) -> None:
        """Write this stream's STATE message (the tap writes one after every page)."""
        self._write_state_message()

    def send_prepared(self, prepared: requests.PreparedRequest,
                      context: Mapping[str, Any] | None) -> requests.Response:
        """Send one prepared request the SDK's way (its decorator, its response validation)."""
        return self.request_decorator(self._request)(prepared, context)

    def partition_values(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """What singer-sdk adds to each record of a read with ``context`` (its state partition's values), where
        the record lacks them."""
        return dict(self._get_state_partition_context(dict(context) if context is not None else None) or {})

    def bookmark_advanced(self, context: Mapping[str, Any] | None) -> None:
        """singer-sdk has just moved the bookmark to the record it wrote (nothing to adjust here)."""

    @override
    def _increment_stream_state(self, latest_record: dict[str, Any], *,
                                context: Mapping[str, Any] | None = None) -> None:
        key = self.replication_key
        if (self.replication_method == "INCREMENTAL" and key and latest_record
                and key in latest_record and latest_record[key] is None):
            # Pipedrive leaves ``update_time`` null until a record is first changed: such a record moves no
            # bookmark, which is expected, and singer-sdk would log a "New replication value is null" warning for
            # every one of them. Only the stream's state entry, which singer-sdk creates first, is kept.
            self.get_context_state(context)
        else:
            super()._increment_stream_state(latest_record, context=context)
        self.bookmark_advanced(context)

    def record_messages(self, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
        """The RECORD messages of one record; singer-sdk's own by default."""
        return super()._generate_record_messages(record)

    @override
    def _generate_record_messages(self, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
        return self.record_messages(record)

    @override
    def _write_schema_message(self) -> None:
        if self.schema_once:
            if self._schema_written:
                return
            self._schema_written = True
        super()._write_schema_message()

    @override
    def _write_state_message(self) -> None:
        if self.writes_state:
            super()._write_state_message()


class CompatTap(Tap):
    """``Tap`` with its config check turned into a public hook, and its CLI sync running :meth:`run_sync`."""

    def run_sync(self) -> None:
        """Sync every selected stream (the tap adds its stop boundary)."""
        self.sync_all()

    @classmethod
    def run_cli_sync(cls, *, about: bool = False, about_format: str | None = None,
                     config: _ConfigInput | None = None, state: IO[str] | None = None,
                     catalog: IO[str] | None = None) -> None:
        """``Tap.invoke`` (singer-sdk 0.54) with :meth:`run_sync` in place of ``sync_all``."""
        PluginBase.invoke.__func__(cls, about=about, about_format=about_format)  # type: ignore[attr-defined]
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        tap = cls(
            config=config.config,
            state=None if state is None else load_json(state.read()),
            catalog=None if catalog is None else load_json(catalog.read()),
            parse_env_config=config.parse_env,
            validate_config=True,
        )
        tap.run_sync()

    def begin_sync(self) -> None:
        """What ``Tap.sync_all`` does before the first stream: progress markers of earlier runs cleared,
        replication methods aligned with the children's, the input state written."""
        self._reset_state_progress_markers()
        self._set_compatible_replication_methods()
        if self.state:
            self.state_writer.write_state(self.state)

    def termination_guard(self) -> AbstractContextManager[object]:
        """Held while singer-sdk's SIGTERM/SIGINT handler writes its last STATE (nothing by default)."""
        return nullcontext()

    def write_last_state(self) -> None:
        """Write the STATE whatever it holds. singer-sdk's state writer skips a STATE equal to the last one
        written, so records written since would end the output of a stopped run."""
        self.write_message(singer.StateMessage(value=copy.deepcopy(self.state)))

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """singer-sdk's handler writes the last STATE through its state writer (see :meth:`write_last_state`);
        here it is written whatever it holds, then singer-sdk's plugin handler logs and exits."""
        with self.termination_guard():
            try:
                self.write_last_state()
            finally:
                PluginBase._handle_termination(self, signum, frame)

    def validate_settings(self) -> None:
        """Checks beyond the JSON schema; raise ``ConfigValidationError`` for a bad setting."""

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # singer-sdk's JSON-schema errors quote the offending value: a secret of the wrong type would be echoed
        errors = mask_secrets(super()._validate_config(raise_errors=False), self.config)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors, schema=self.config_jsonschema)
        if errors or not raise_errors:
            return errors
        self.validate_settings()
        return errors


class CompatCounter(metrics.Counter):
    """``metrics.Counter`` whose pending count can be logged on demand."""

    def flush(self) -> None:
        """Log the count so far and reset it."""
        self._pop()
