"""Pipedrive's JSON envelopes and the exception that carries an error answer out of a handler.

Success: ``{"success": true, "data": ..., "additional_data": ...}``; error: ``{"success": false, "error":
..., "error_info": ..., "data": null, "additional_data": null}``. Handlers raise :class:`ApiError` so the
server writes one error shape everywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


class ApiError(Exception):
    """An error answer: HTTP status, Pipedrive's ``error`` text and optional ``error_info``."""

    def __init__(self, status: int, error: str, error_info: str = ERROR_INFO, code: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.error_info = error_info
        self.code = code

    def as_answer(self, headers: dict[str, str] | None = None) -> Answer:
        """This error as an answer, with optional extra headers (rate-limit headers)."""
        return Answer(self.status, self.body(), dict(headers or {}))

    def body(self) -> bytes:
        """The serialized error envelope."""
        payload: dict[str, Any] = {
            "success": False,
            "error": self.error,
            "error_info": self.error_info,
            "data": None,
            "additional_data": None,
        }
        if self.code is not None:
            payload["code"] = self.code
        return dumps(payload)


def bad_request(error: str) -> ApiError:
    """400 with a useful text, as Pipedrive's validation answers."""
    return ApiError(400, error, "Please check the request parameters.")


def not_found(what: str) -> ApiError:
    """404 for an unknown id or path."""
    return ApiError(404, what)


@dataclass
class Answer:
    """What a handler returns: status, body bytes, extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def dumps(payload: Any) -> bytes:
    """Compact JSON as bytes (Pipedrive sends no whitespace)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def ok(data: Any, additional_data: Any = None, status: int = 200, **extra: Any) -> Answer:
    """A success envelope around already-plain data."""
    payload: dict[str, Any] = {"success": True, "data": data}
    if additional_data is not None:
        payload["additional_data"] = additional_data
    payload.update(extra)
    return Answer(status, dumps(payload))


def ok_raw(data_json: bytes, additional_data: Any = None, **extra: Any) -> Answer:
    """A success envelope around ``data`` that is already serialized (cached record bytes)."""
    parts = [b'{"success":true,"data":', data_json]
    if additional_data is not None:
        parts += [b',"additional_data":', dumps(additional_data)]
    for key, value in extra.items():
        parts += [b',"', key.encode(), b'":', dumps(value)]
    parts.append(b"}")
    return Answer(200, b"".join(parts))
