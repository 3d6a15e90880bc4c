"""SIGTERM/SIGINT: singer-sdk's handler runs in the thread it interrupts, between two statements, and the output
must still end with a whole STATE line."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from singer_sdk import singerlib as singer

from pipedrive_emulator.server import Emulator
from tap_pipedrive.fastpath import EncodedRecordMessage, FastSingerWriter, extracted_tail
from tap_pipedrive.tap import TapPipedrive


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_the_last_state_is_written_on_sigterm_even_when_equal_to_the_one_before(
        emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """A windowed read keeps its bookmark at the watermark, so the STATE at a stop often equals the last one
    written; records written since must not end the output (singer-sdk's state writer skips an equal STATE)."""
    tap = TapPipedrive(config={"api_token": "emulator-token", "api_url": emulator.url}, parse_env_config=False)
    tap.state_writer.write_state(tap.state)
    tap.write_message(singer.RecordMessage(stream="deals", record={"id": 1}))
    with pytest.raises(SystemExit):
        tap._handle_termination(signal.SIGTERM, None)
    flush = getattr(tap.message_writer, "flush", None)
    if callable(flush):
        flush()  # what leaving the interpreter does
    messages = _lines(capsys.readouterr().out)
    assert [m["type"] for m in messages[-2:]] == ["RECORD", "STATE"]
    assert messages[-1]["value"] == tap.state


class _CountingBytes(bytearray):
    appends = 0

    def __iadd__(self, other: Any) -> _CountingBytes:  # type: ignore[override,misc]
        type(self).appends += 1
        return super().__iadd__(other)  # type: ignore[return-value]


def test_a_record_line_is_queued_in_one_append() -> None:
    """The handler writes its STATE through the same writer, possibly while the interrupted thread was queueing a
    RECORD: a line queued in one step is either all there or not at all, never half of it before the STATE."""
    writer = FastSingerWriter()
    writer._pending = _CountingBytes()
    message = EncodedRecordMessage(stream="deals", record={}, encoded=b'{"id":1}', tail=extracted_tail())
    writer.write_message(message)
    assert _CountingBytes.appends == 1
    assert json.loads(bytes(writer._pending))["record"] == {"id": 1}
