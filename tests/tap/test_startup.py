"""Start-up: the custom-field definitions every stream's schema needs are fetched side by side, not one round trip
after another, with the same requests as before."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipedrive_core.catalogue import CATALOGUE, Resource
from pipedrive_core.http.session import CURRENT_USER_PATH
from pipedrive_emulator.server import Emulator
from tap_pipedrive.errors import RunStopped
from tap_pipedrive.streams import STREAM_CLASSES
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import hold_until_together

from .conftest import base_config, catalog_for, change_records, requested_paths, run_tap


def _path_of(fields_resource: str) -> str:
    return CATALOGUE[fields_resource].read_path.split("?", 1)[0]


def _read_by(name: str) -> set[str]:
    """The stream and every stream above it (a parent is read to reach its children)."""
    names: set[str] = set()
    resource: Resource | None = CATALOGUE[name]
    while resource is not None:
        names.add(resource.name)
        resource = CATALOGUE[resource.parent] if resource.parent else None
    return names


def _definition_paths(selected: Iterable[str] | None = None) -> set[str]:
    """The ``*Fields`` list paths the tap's streams need for their schemas (those read for ``selected``)."""
    read = None if selected is None else set().union(*(_read_by(name) for name in selected))
    return {_path_of(cls.resource.fields_resource) for cls in STREAM_CLASSES.values()
            if cls.resource.has_custom_fields and cls.resource.fields_resource
            and (read is None or cls.resource.name in read)}


@pytest.mark.parametrize("stream", sorted(STREAM_CLASSES))
def test_a_sync_asks_only_the_definitions_of_the_streams_it_reads(emulator: Emulator, stream: str) -> None:
    """Each set costs 10-20 API tokens: a sync of one stream asks for its own set and those of the streams above it,
    once each, and for no other (generated over every stream of the catalogue)."""
    config = base_config(emulator)
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), [stream])
    every = _definition_paths()
    before = len(emulator.requests.snapshot())
    tap = TapPipedrive(config=config, catalog=catalog, parse_env_config=False, validate_config=True)
    assert tap.streams[stream].selected
    asked = Counter(r.path for r in emulator.requests.snapshot()[before:] if r.path in every)
    assert asked == dict.fromkeys(_definition_paths([stream]), 1)


def test_a_run_that_asks_no_definitions_reads_from_pipedrives_clock(fresh_emulator: Emulator) -> None:
    """A read takes its start from Pipedrive's clock, learnt from the answers' ``Date``. With no definitions asked
    first, the local clock (ahead of the emulator's) would put the bookmark in Pipedrive's future, past changes
    made until then: one ``GET /v1/users/me`` (2 tokens) tells the time first, once, and the next run reads a note
    changed in between."""
    assert "notes" in STREAM_CLASSES and not _definition_paths(["notes"]), "notes ask definitions now: pick another"
    assert fresh_emulator.clock.now() < dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    config = base_config(fresh_emulator)
    first = run_tap(config, streams=["notes"])
    assert first.exit_code == 0, first.log[-2000:]
    assert requested_paths(fresh_emulator).count(CURRENT_USER_PATH) == 1
    changed = change_records(fresh_emulator)["notes"]
    second = run_tap(config, streams=["notes"], state=first.state)
    assert second.exit_code == 0, second.log[-2000:]
    assert changed in {r["id"] for r in second.records["notes"]}


#: streams with custom fields of three different definition sets, selected by the sync case below
SELECTED = ("deals", "persons", "activities")


@pytest.mark.parametrize("with_catalog", [False, True], ids=["discovery", "sync-with-catalog"])
def test_field_definitions_are_fetched_side_by_side_once_each(fresh_emulator: Emulator, with_catalog: bool) -> None:
    """Discovery builds every stream's schema; a sync given a catalog plans the selected streams' custom columns
    first (and asks nothing for the streams it does not read)."""
    config = base_config(fresh_emulator)
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), SELECTED) if with_catalog else None
    paths = _definition_paths(SELECTED if with_catalog else None)
    assert len(paths) >= 2
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
