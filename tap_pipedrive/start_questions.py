"""The one-row question of a first run from ``start_date``, asked for every list at start-up.

On a first run a list read from ``start_date`` needs a second pass for the records never updated since they were
added (their ``update_time`` is null, so ``updated_since`` never returns them), which reads the whole list again.
When every record was added at or after ``start_date`` (an account younger than the setting: the usual first
run), a read without a start delivers the same records in one pass. One request for the oldest added record
says which (:meth:`tap_pipedrive.client.PipedriveStream.start_predates_every_record`).

Each stream could ask when its read begins, but then every list's first page waits for one more round trip.
The answer depends only on the catalogue resource, the settings, the partition and the state, which are all
known before the streams exist, so the tap asks every question of the run side by side with fetching the
custom-field definitions (:meth:`StartQuestions.prefetch`): one round trip at start-up for both. The stream then
takes its answer (:meth:`StartQuestions.take`). The requests are the same as when each stream asks, and so are
the errors: a failed question is raised where the stream takes it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pipedrive_core.catalogue import Pagination, Replication, Resource
from pipedrive_core.http import PipedriveClient
from tap_pipedrive.incremental import normalize_timestamp
from tap_pipedrive.list_queries import list_query

#: the most questions sent side by side (the HTTP pool keeps ten connections per host; the field definitions
#: are fetched at the same time)
PREFETCH_THREADS = 6


def asks_start_question(resource: Resource) -> bool:
    """Whether a first run of ``resource`` from ``start_date`` asks for its oldest added record."""
    return resource.pagination is not Pagination.NONE and resource.replication in {
        Replication.UPDATED_SINCE, Replication.RECENTS}


def oldest_added_query(resource: Resource, config: Mapping[str, Any],
                       context: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The request (path, parameters) for the oldest added record of one partition's list: one row."""
    path, params = list_query(resource, config, context)
    params.pop("include_fields", None)
    if resource.read_version == 2:
        params.update(sort_by=resource.added_key, sort_direction="asc")
    else:
        params["sort"] = f"{resource.added_key} ASC"
    params["limit"] = 1
    return path, params


def start_predates(body: Any, resource: Resource, start: str) -> bool:
    """From the answer to :func:`oldest_added_query`: whether every record was added at or after ``start``."""
    data = body.get("data") if isinstance(body, Mapping) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], Mapping) else None
    if first is None:
        return not data  # an empty list: nothing to miss
    added = normalize_timestamp(first.get(resource.added_key))
    return added is not None and added >= start


def _key(stream: str, context: Mapping[str, Any] | None) -> tuple[str, str]:
    return stream, json.dumps(dict(context or {}), sort_keys=True, default=str)


class StartQuestions:
    """Answers to the start questions asked at start-up, each taken once by its stream's read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked: dict[tuple[str, str], Future[Any]] = {}

    def prefetch(self, client: PipedriveClient, config: Mapping[str, Any],
                 questions: Iterable[tuple[str, Resource, Mapping[str, Any] | None]],
                 meanwhile: Callable[[], None]) -> None:
        """Send the questions (stream name, resource, partition) side by side, run ``meanwhile()`` (the
        field-definition prefetch) while they are out, and keep the answers (or errors) for :meth:`take`."""
        wanted = list(questions)
        if not wanted:
            meanwhile()
            return
        with ThreadPoolExecutor(max_workers=min(len(wanted), PREFETCH_THREADS),
                                thread_name_prefix="start-questions") as pool:
            for name, resource, context in wanted:
                path, params = oldest_added_query(resource, config, context)
                future = pool.submit(client.request, "GET", path, params=params, resource=resource.name)
                with self._lock:
                    self._asked[_key(name, context)] = future
            meanwhile()

    def take(self, stream: str, context: Mapping[str, Any] | None) -> Callable[[], Any] | None:
        """The prefetched answer of one partition as a call that returns its body (or raises its error), once;
        ``None`` when it was not asked at start-up."""
        with self._lock:
            future = self._asked.pop(_key(stream, context), None)
        return None if future is None else future.result
