"""Fault injection: each kind, rule selection and the CLI spec syntax."""

from __future__ import annotations

import pytest
import requests

from pipedrive_emulator import Emulator
from pipedrive_emulator.faults import FaultRule, parse_spec

from .conftest import Client


@pytest.fixture
def small():
    with Emulator(seed=1, scale=0.05) as emu:
        yield emu


@pytest.mark.parametrize("kind", ["500", "502", "503", "524"])
def test_status_faults(small: Emulator, kind: str):
    small.faults.add(kind, count=1, path="^/api/v2/deals$")
    client = Client(small)
    failed = client.get("/api/v2/deals")
    assert failed.status_code == int(kind)
    assert failed.json()["success"] is False
    assert client.get("/api/v2/deals").status_code == 200


def test_429_with_and_without_headers(small: Emulator):
    small.faults.add("429", count=1)
    small.faults.add("429", count=1, headers=False, after=1)
    client = Client(small)
    with_headers = client.get("/api/v2/deals")
    assert with_headers.status_code == 429
    assert with_headers.headers["x-ratelimit-remaining"] == "0"
    without = client.get("/api/v2/deals")
    assert without.status_code == 429
    assert "x-ratelimit-limit" not in without.headers


def test_body_faults(small: Emulator):
    client = Client(small)
    small.faults.add("malformed", count=1)
    bad = client.get("/api/v2/deals")
    assert bad.status_code == 200
    with pytest.raises(ValueError):
        bad.json()
    small.faults.add("nullbody", count=1, path="/flow$")
    assert client.get("/v1/deals/1/flow").text == "null"
    small.faults.add("html403", count=1)
    blocked = client.get("/api/v2/deals")
    assert blocked.status_code == 403
    assert blocked.headers["content-type"].startswith("text/html")
    assert "Cloudflare" in blocked.text
    small.faults.add("oauth_expire", count=1)
    expired = client.get("/api/v2/deals")
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]


def test_drop_closes_mid_body(small: Emulator):
    small.faults.add("drop", count=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{small.url}/api/v2/deals", headers=small.auth_headers(), timeout=5)
    assert Client(small).get("/api/v2/deals").status_code == 200


def test_timeout_then_answer_or_drop(small: Emulator):
    small.faults.add("timeout", count=1, delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{small.url}/api/v2/pipelines", headers=small.auth_headers(), timeout=0.3)
    small.faults.add("timeout", count=1, delay=0.2, then="answer")
    slow = requests.get(f"{small.url}/api/v2/pipelines", headers=small.auth_headers(), timeout=5)
    assert slow.status_code == 200
    small.faults.add("timeout", count=1, delay=0.2, then="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{small.url}/api/v2/pipelines", headers=small.auth_headers(), timeout=5)


def test_commit_then_timeout_performs_the_write(small: Emulator):
    small.faults.add("commit_then_timeout", count=1, method="POST", delay=1.0)
    before = len(small.store.records("persons"))
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{small.url}/api/v2/persons", json={"name": "Dup Licate"}, headers=small.auth_headers(),
                      timeout=0.3)
    assert len(small.store.records("persons")) == before + 1


def test_selection_every_after_method_and_probability(small: Emulator):
    client = Client(small)
    small.faults.add("503", every=3, method="GET", path="^/api/v2/stages$")
    codes = [client.get("/api/v2/stages").status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]
    assert client.call("POST", "/api/v2/stages", json={"name": "s", "pipeline_id": 1}).status_code == 200
    small.faults.clear()
    small.faults.add("500", after=2, count=1)
    assert [client.get("/api/v2/stages").status_code for _ in range(4)] == [200, 200, 500, 200]
    small.faults.clear()
    small.faults.add("502", p=0.5)
    codes = [client.get("/api/v2/stages").status_code for _ in range(60)]
    assert 10 < codes.count(502) < 50
    assert small.faults.fired("502") == codes.count(502)


def test_probability_is_seeded():
    def run() -> list[int]:
        with Emulator(seed=7, scale=0.05, faults="500:p=0.3") as emu:
            return [Client(emu).get("/api/v2/pipelines").status_code for _ in range(20)]

    assert run() == run()


def test_spec_syntax():
    rules = parse_spec("500:count=3:path=/api/v2/deals,malformed:p=0.01,timeout:every=50:delay=5:then=drop,"
                       "429:headers=false:method=get:after=2")
    assert [r.kind for r in rules] == ["500", "malformed", "timeout", "429"]
    assert rules[0].count == 3
    assert rules[0].path == "/api/v2/deals"
    assert rules[1].p == 0.01
    assert (rules[2].every, rules[2].delay, rules[2].then) == (50, 5.0, "drop")
    assert rules[3].headers is False
    assert rules[3].method == "GET"
    assert rules[3].after == 2
    for bad in ("teapot", "500:count", "500:colour=red"):
        with pytest.raises(ValueError):
            parse_spec(bad)
    with pytest.raises(ValueError):
        FaultRule("timeout", then="explode")


def test_faults_from_constructor_string():
    with Emulator(seed=1, scale=0.05, faults="503:count=2:path=^/v1/users$") as emu:
        client = Client(emu)
        assert [client.get("/v1/users").status_code for _ in range(3)] == [503, 503, 200]
        assert emu.requests.count(path="/v1/users", status=503) == 2
