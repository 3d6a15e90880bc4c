"""What a top-level list read asks Pipedrive for, from the catalogue resource, the settings and the partition alone.

The streams build their requests from these, and so does the tap before any stream exists: the one-row question
of a first run (:mod:`tap_pipedrive.start_questions`) is sent while the custom-field definitions are fetched,
before the streams can be built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipedrive_core.catalogue import Resource
from tap_pipedrive import parent_params


def include_fields_for(resource: Resource, config: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``include_fields`` values a list request asks for: all of the catalogue's, unless the
    ``include_fields`` setting names the stream (``[]``: none)."""
    chosen = (config.get("include_fields") or {}).get(resource.name)
    if chosen is None:
        return resource.include_fields
    return tuple(v for v in resource.include_fields if v in set(chosen))


def top_level_partitions(resource: Resource, config: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The catalogue's partitions (mail threads by folder); with an ``archived_path`` (deals), the archived list
    first (unless its setting is off) and the live one. The archived list goes first because it is short and
    mostly read one page at a time: read last, it would run alone at the end of a parallel sync."""
    if resource.partitions:
        return [dict(p) for p in resource.partitions]
    if resource.archived_path:
        parts = [{"is_archived": False}]
        if resource.archived_setting is None or config.get(resource.archived_setting, True):
            parts.insert(0, {"is_archived": True})
        return parts
    return None


def list_query(resource: Resource, config: Mapping[str, Any],
               context: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The list path of one partition, split into path and fixed query parameters."""
    archived = bool(context and context.get("is_archived")) and resource.archived_path
    path = resource.archived_path if archived and resource.archived_path else resource.read_path
    wanted = resource.read_params
    if resource.deleted_setting and resource.live_params is not None and not config.get(resource.deleted_setting, True):
        wanted = resource.live_params
    params: dict[str, Any] = dict(wanted)
    if "?" in path:
        path, query = path.split("?", 1)
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            params[name] = value
    wanted_extra = include_fields_for(resource, config)
    if wanted_extra:
        params["include_fields"] = ",".join(wanted_extra)
    if context:
        for name, value in context.items():
            token = "{" + name + "}"
            path = path.replace(token, str(value))
            params = {k: (str(value) if v == token else v) for k, v in params.items()}
        params.update({k: v for k, v in context.items() if k in resource.read_params or k == "folder"})
        params.update(parent_params.query_params(resource, context))
    return path, params
