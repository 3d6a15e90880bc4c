"""The parsed request a handler sees, and the shared state handlers work on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import Store


@dataclass
class Request:
    """Method, path, query (first value of each parameter), JSON/form body and path parameters."""

    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """What every handler may use: the store and the run's switches."""

    store: Store
    v1_sunset: bool = True
    base_url: str = ""
    #: the account's Pipedrive plan (lite, growth, premium, ultimate): Growth+ features answer 402 below it
    plan: str = "growth"
