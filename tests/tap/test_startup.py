"""Start-up: the custom-field definitions every stream's schema needs are fetched side by side, not one round trip
after another, with the same requests as before."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_emulator.server import Emulator
from tap_pipedrive.errors import RunStopped
from tap_pipedrive.streams import STREAM_CLASSES
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import hold_until_together

from .conftest import base_config, catalog_for


def _path_of(fields_resource: str) -> str:
    return CATALOGUE[fields_resource].read_path.split("?", 1)[0]


def _definition_paths() -> set[str]:
    """The ``*Fields`` list paths the tap's streams need for their schemas."""
    return {_path_of(cls.resource.fields_resource) for cls in STREAM_CLASSES.values()
            if cls.resource.has_custom_fields and cls.resource.fields_resource}


@pytest.mark.parametrize("with_catalog", [False, True], ids=["discovery", "sync-with-catalog"])
def test_field_definitions_are_fetched_side_by_side_once_each(fresh_emulator: Emulator, with_catalog: bool) -> None:
    """Discovery builds every stream's schema; a sync given a catalog plans the catalog's custom columns first."""
    paths = _definition_paths()
    assert len(paths) >= 2
    config = base_config(fresh_emulator)
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), ["deals"]) if with_catalog else None
    seen = hold_until_together(fresh_emulator, lambda path, _query: path if path in paths else None, len(paths))
    tap = TapPipedrive(config=config, catalog=catalog, parse_env_config=False, validate_config=True)
    assert tap.streams
    assert seen.overlapped, "the definitions were asked one after another"
    assert seen.seen == dict.fromkeys(paths, 1)  # once each: no request more than building the streams needs


def test_a_definitions_set_that_fails_stops_the_run_as_before(fresh_emulator: Emulator) -> None:
    """A prefetch that meets an error raises it where the set is first used: one clear stop, no second try."""
    broken = _path_of("deal_fields")
    original = fresh_emulator.handle
    asked: list[str] = []

    def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        path = urlsplit(target).path
        asked.append(path)
        if path == broken:
            return original(method, "/v1/no-such-route", headers, raw)
        return original(method, target, headers, raw)

    fresh_emulator.handle = handle  # type: ignore[method-assign]
    with pytest.raises(RunStopped) as stopped:
        TapPipedrive(config=base_config(fresh_emulator), parse_env_config=False, validate_config=True)
    assert "404" in stopped.value.message
    assert asked.count(broken) == 1
