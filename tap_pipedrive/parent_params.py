"""Child reads whose query takes values from the parent record (catalogue ``parent_params``).

``GET /v1/goals/{id}/results`` requires ``period.start`` and ``period.end``; the tap asks for the goal's whole
duration (``duration.start`` .. ``duration.end`` of the goal record). The parent puts those values into the
child context next to ``parent_id``, the child sends them as query parameters and adds them to each record
as columns (``period.start`` → ``period_start``), so a result says which period it measures.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pipedrive_core.catalogue import Resource, children_of


def column(param: str) -> str:
    """The record column of a parent parameter (``period.start`` → ``period_start``)."""
    return param.replace(".", "_")


def _dotted(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@functools.cache
def _wanted(parent: str) -> tuple[tuple[str, str], ...]:
    """(parameter, dotted parent field) the children of ``parent`` take (this runs once per parent record,
    so the catalogue is scanned once per parent resource)."""
    return tuple(item for child in children_of(parent) for item in child.parent_params.items())


def context_values(parent: Resource, record: Mapping[str, Any]) -> dict[str, Any]:
    """What the children of ``parent`` need from ``record`` beside its id (empty for most parents)."""
    return {param: _dotted(record, path) for param, path in _wanted(parent.name)}


def query_params(resource: Resource, context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parent parameters of ``resource``'s read in ``context`` (missing values are left out)."""
    if not context or not resource.parent_params:
        return {}
    return {p: context[p] for p in resource.parent_params if context.get(p) is not None}


def record_columns(resource: Resource, context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The columns a record of ``resource`` gets from its read's parent parameters."""
    if not resource.parent_params:
        return {}
    return {column(p): (context or {}).get(p) for p in resource.parent_params}
