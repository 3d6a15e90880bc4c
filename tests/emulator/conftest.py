"""Fixtures: emulators on loopback and a tiny authenticated client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pipedrive_emulator import Emulator


class Client:
    """requests.Session bound to one emulator, authenticated with its API token."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.session.headers["x-api-token"] = emu.api_token

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.emu.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.call(method, path, **kwargs)
        assert response.status_code in (200, 201), (response.status_code, response.text[:500])
        body = response.json()
        assert body["success"] is True
        return body

    def v2_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a v2 list, following cursors."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = dict(params, **({"cursor": cursor} if cursor else {}))
            body = self.ok("GET", path, params=query)
            out += body["data"]
            cursor = body["additional_data"]["next_cursor"]
            if not cursor:
                return out


@pytest.fixture(scope="module")
def shared_emu() -> Iterator[Emulator]:
    """A read-only emulator shared by a module (tests must not write through it)."""
    with Emulator(seed=1) as emu:
        yield emu


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A fresh emulator per test (for writes, clock moves, limits)."""
    with Emulator(seed=1, scale=0.3) as emulator:
        yield emulator


@pytest.fixture
def legacy() -> Iterator[Emulator]:
    """A fresh emulator in legacy mode (v1 entity endpoints still served)."""
    with Emulator(seed=1, scale=0.3, v1_sunset=False) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Client:
    return Client(emu)


@pytest.fixture
def shared(shared_emu: Emulator) -> Client:
    return Client(shared_emu)


@pytest.fixture
def lclient(legacy: Emulator) -> Client:
    return Client(legacy)
