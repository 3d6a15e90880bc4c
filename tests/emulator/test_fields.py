"""*Fields endpoints: built-in and custom fields of every type, subfields, collisions, renames."""

from __future__ import annotations

import re

from pipedrive_emulator import Emulator
from pipedrive_emulator.fields import ADDRESS_PARTS, CUSTOM_TYPES

from .conftest import Client

HEX40 = re.compile(r"^[0-9a-f]{40}$")


def _v1_fields(client: Client, title: str) -> list[dict]:
    return client.ok("GET", f"/v1/{title}", params={"limit": 500})["data"]


def test_every_custom_type_with_hex_keys(shared: Client):
    fields = _v1_fields(shared, "dealFields")
    custom = [f for f in fields if f["edit_flag"]]
    assert {t for t, _ in CUSTOM_TYPES} <= {f["field_type"] for f in custom}
    assert all(HEX40.match(f["key"]) for f in custom)
    builtin = [f for f in fields if not f["edit_flag"]]
    assert all(not HEX40.match(f["key"]) for f in builtin)
    assert {"visible_to", "status", "stage", "user", "org", "people"} <= {f["field_type"] for f in builtin}
    for f in custom:
        if f["field_type"] in ("enum", "set"):
            assert f["options"]
            assert all(isinstance(o["id"], int) and o["label"] for o in f["options"])


def test_name_collisions(shared: Client):
    fields = _v1_fields(shared, "dealFields")
    names = [f["name"] for f in fields]
    assert names.count("Region") == 2
    assert names.count("Value") == 2  # the built-in deal value and a custom field
    regions = [f for f in fields if f["name"] == "Region"]
    assert regions[0]["key"] != regions[1]["key"]


def test_all_fields_resources_answer(shared: Client):
    for title in ("dealFields", "personFields", "organizationFields", "productFields", "activityFields",
                  "noteFields", "leadFields"):
        assert _v1_fields(shared, title), title
    for title in ("dealFields", "personFields", "organizationFields", "productFields", "activityFields"):
        data = shared.v2_all(f"/api/v2/{title}", limit=10)
        assert data, title
        assert all("field_code" in f and "field_name" in f for f in data), title


def test_v2_fields_subfields(shared: Client):
    fields = {f["field_code"]: f for f in shared.v2_all("/api/v2/dealFields")}
    by_type = {f["field_type"]: f for f in fields.values() if f["is_custom_field"]}
    monetary = by_type["monetary"]
    assert [s["field_code"] for s in monetary["subfields"]] == [monetary["field_code"] + "_currency"]
    address = by_type["address"]
    assert {s["field_code"] for s in address["subfields"]} == {f"{address['field_code']}_{p}" for p in ADDRESS_PARTS}
    for kind in ("daterange", "timerange"):
        assert by_type[kind]["subfields"][0]["field_code"] == by_type[kind]["field_code"] + "_until"
    one = shared.ok("GET", f"/api/v2/dealFields/{monetary['field_code']}")["data"]
    assert one["field_name"] == monetary["field_name"]


def test_v1_and_v2_record_shapes_agree(lclient: Client, legacy: Emulator):
    defs = {f["field_type"]: f for f in legacy.store.field_defs("deals", custom_only=True)}
    deal_id = next(d["id"] for d in legacy.store.records("deals")
                   if all(d["custom_fields"].get(defs[t]["key"]) is not None
                          for t in ("monetary", "address", "daterange", "set", "enum")))
    v2 = lclient.ok("GET", f"/api/v2/deals/{deal_id}")["data"]["custom_fields"]
    v1 = lclient.ok("GET", f"/v1/deals/{deal_id}")["data"]
    money = defs["monetary"]["key"]
    assert v2[money] == {"value": v1[money], "currency": v1[f"{money}_currency"]}
    rng = defs["daterange"]["key"]
    assert v2[rng] == {"value": v1[rng], "until": v1[f"{rng}_until"]}
    addr = defs["address"]["key"]
    assert v2[addr]["value"] == v1[addr]
    assert v2[addr]["locality"] == v1[f"{addr}_locality"]
    assert isinstance(v2[defs["enum"]["key"]], int)
    assert v1[defs["enum"]["key"]] == str(v2[defs["enum"]["key"]])
    assert v1[defs["set"]["key"]] == ",".join(str(i) for i in v2[defs["set"]["key"]])


def test_rename_field_and_add_option(emu: Emulator, client: Client):
    enum = next(f for f in emu.store.field_defs("deals", custom_only=True) if f["field_type"] == "enum")
    emu.clock.advance(10)
    emu.store.rename_field("deals", enum["key"], "Sales region")
    option = emu.store.add_option("deals", enum["key"], "Antarctica")
    fields = {f["key"]: f for f in _v1_fields(client, "dealFields")}
    assert fields[enum["key"]]["name"] == "Sales region"
    assert {"id": option, "label": "Antarctica"} in fields[enum["key"]]["options"]
    assert fields[enum["key"]]["update_time"] == "2026-11-20 12:00:10"
    # the new option is immediately valid for writes
    client.ok("PATCH", "/api/v2/deals/1", json={"custom_fields": {enum["key"]: option}})


def test_configurable_custom_field_count():
    with Emulator(seed=2, scale=0.05, custom_fields_per_entity=30) as emu:
        assert len(emu.store.field_defs("persons", custom_only=True)) == 30
        names = [f["name"] for f in emu.store.field_defs("persons", custom_only=True)]
        assert names.count("Region") == 2
        assert names.count("Region 2") == 2
        others = [n for n in names if not n.startswith("Region")]
        assert len(others) == len(set(others))


def test_fields_writes_and_bulk_delete(client: Client, emu: Emulator):
    created = client.ok("POST", "/v1/dealFields", json={"name": "Churn risk", "field_type": "enum",
                                                         "options": [{"label": "Low"}, {"label": "High"}]})
    key = created["data"]["key"]
    assert HEX40.match(key)
    assert len(created["data"]["options"]) == 2
    assert client.get("/v1/dealFields", params={"limit": 500}).json()["data"][-1]["key"] == key
    assert client.call("POST", "/v1/dealFields", json={"name": "x"}).status_code == 400
    assert client.call("POST", "/v1/dealFields", json={"name": "x", "field_type": "set"}).status_code == 400
    client.ok("PUT", f"/v1/dealFields/{created['data']['id']}", json={"name": "Churn"})
    other = client.ok("POST", "/v1/dealFields", json={"name": "Temp", "field_type": "varchar"})["data"]["id"]
    gone = client.ok("DELETE", "/v1/dealFields", params={"ids": f"{created['data']['id']},{other}"})
    assert sorted(gone["data"]["id"]) == sorted([created["data"]["id"], other])
    assert key not in {f["key"] for f in _v1_fields(client, "dealFields")}
