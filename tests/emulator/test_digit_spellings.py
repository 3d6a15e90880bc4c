"""Ids and option ids spelled with digits that are not ASCII are refused with a 400, as Pipedrive refuses them,
never a 500 (``str.isdigit`` accepts ``"²"``, which ``int`` refuses; ``int`` reads ``"٣"``, which no id is)."""

from __future__ import annotations

import pytest

from pipedrive_emulator import Emulator
from pipedrive_emulator.reads import V1_EQUALITY_FILTERS, V2_EQUALITY_FILTERS

from .conftest import Client

SPELLINGS = ["²", "¹²", "٣", "１", "-1", "1.0", " 1"]


@pytest.mark.parametrize("text", SPELLINGS)
def test_a_path_id_not_spelled_in_ascii_digits_is_a_400(shared: Client, text: str) -> None:
    for path in ("/api/v2/deals/{}", "/api/v2/persons/{}", "/v1/notes/{}"):
        response = shared.get(path.format(text))
        assert response.status_code == 400, (path, text, response.status_code, response.text[:200])


@pytest.mark.parametrize("text", SPELLINGS)
def test_an_equality_filter_not_spelled_in_ascii_digits_is_a_400(shared: Client, text: str) -> None:
    for key in V2_EQUALITY_FILTERS:
        response = shared.get("/api/v2/deals", params={key: text})
        assert response.status_code == 400, (key, text, response.status_code)
    for resource, keys in V1_EQUALITY_FILTERS.items():
        for key in (k for k in keys if k.endswith("_id")):
            response = shared.get(f"/v1/{resource}", params={key: text})
            assert response.status_code == 400, (resource, key, text, response.status_code)


@pytest.mark.parametrize("text", ["²", "٣", "１"])
def test_a_v1_option_id_not_spelled_in_ascii_digits_is_a_400(lclient: Client, legacy: Emulator, text: str) -> None:
    enum = next(f for f in legacy.store.field_defs("deals", custom_only=True) if f["field_type"] == "enum")
    deal_id = next(d["id"] for d in legacy.store.records("deals"))
    response = lclient.call("PUT", f"/v1/deals/{deal_id}", json={enum["key"]: text})
    assert response.status_code == 400, (text, response.status_code, response.text[:200])
    option = enum["options"][0]["id"]
    written = lclient.ok("PUT", f"/v1/deals/{deal_id}", json={enum["key"]: f" {option} "})["data"]
    assert written[enum["key"]] == str(option)
