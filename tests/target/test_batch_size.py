"""Drains are small: a batch is held in memory until it drains, and writes gain nothing from big batches."""

from __future__ import annotations

from target_pipedrive.sinks import PipedriveSink
from target_pipedrive.target import TargetPipedrive


def test_default_batch_is_1000_records_not_the_sdk_10000(config):
    assert PipedriveSink.MAX_SIZE_DEFAULT == 1000
    target = TargetPipedrive(
        config={**config, "dry_run": True},
        parse_env_config=False,
        validate_config=True,
    )
    sink = target.get_sink("persons", schema={"properties": {"name": {"type": "string"}}}, key_properties=[])
    assert sink.max_size == 1000


def test_batch_size_rows_still_overrides(config):
    target = TargetPipedrive(
        config={**config, "dry_run": True, "batch_size_rows": 50},
        parse_env_config=False,
        validate_config=True,
    )
    sink = target.get_sink("persons", schema={"properties": {"name": {"type": "string"}}}, key_properties=[])
    assert sink.max_size == 50
