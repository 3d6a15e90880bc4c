"""The emulator process of a benchmark: ``pipedrive_emulator.server.Emulator`` plus a control channel.

The harness starts this module as its own process (so the emulator's CPU never shares a GIL with the
measured tap or target) and talks to it over stdin/stdout, one JSON object per line:

* ``{"cmd": "stats"}`` → ``{"requests": N}``: requests served so far (the emulator's request log);
* ``{"cmd": "mutate", ...}`` → change a fraction of the records of some resources in the store, the way a
  user would (``Store.update`` bumps ``update_time`` from the emulator's clock and feeds ``/v1/recents``),
  and add child records to some of the changed deals;
* ``{"cmd": "log"}`` → ``{"log": [[method, path, query, status], ...]}``: every request served so far, in order
  (what a diagnosis of a run's requests counts);
* ``{"cmd": "warm", "streams": [...]}`` → sort the lists and pre-render the records' JSON (the emulator's own
  caches), v2 records also with every ``include_fields`` value, as the tap asks for them by default;
* ``{"cmd": "quit"}``.

The first line written is ``{"url": ..., "token": ...}`` once the server listens.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import random
import sys
from typing import Any

from pipedrive_emulator.server import Emulator

#: the text field each mutated resource gets a suffix on
MUTATE_FIELD = {
    "deals": "title",
    "persons": "name",
    "organizations": "name",
    "activities": "subject",
    "notes": "content",
    "products": "name",
}


def build(settings: dict[str, Any]) -> Emulator:
    accepted = set(inspect.signature(Emulator).parameters)
    kwargs = {k: v for k, v in settings.items() if k in accepted and v is not None}
    ignored = sorted(set(settings) - accepted)
    if ignored:
        print(f"emulator_main: Emulator() does not take {ignored}", file=sys.stderr)
    return Emulator(**kwargs)


def request_count(emu: Emulator) -> int:
    log = getattr(emu, "requests", None)
    return len(log) if log is not None else -1


def mutate(emu: Emulator, cmd: dict[str, Any]) -> dict[str, Any]:
    store = emu.store
    rng = random.Random(cmd.get("seed", 1))
    fraction = float(cmd.get("fraction", 0.01))
    changed: dict[str, int] = {}
    changed_deals: list[Any] = []
    store.clock.advance(120)  # changes happen after the full sync's last record
    for name in cmd.get("streams", []):
        table = store.tables[name]
        keys = [r.key for r in table if r.deleted_at is None]
        count = max(1, round(len(keys) * fraction))
        field = MUTATE_FIELD.get(name, "name")
        for key in rng.sample(keys, min(count, len(keys))):
            current = table.rows[key].data.get(field) or ""
            store.update(name, key, {field: f"{current} (changed)"})
        changed[name] = min(count, len(keys))
        if name == "deals":
            changed_deals = [k for k in keys if "(changed)" in str(table.rows[k].data.get(field))]
    children_added = 0
    child = cmd.get("child_resource")
    child_fraction = float(cmd.get("child_fraction", 0.0))
    if child and changed_deals and child_fraction > 0:
        table = store.tables[child]
        template = next((r for r in table.rows.values()), None)
        if template is not None:
            parent_field = table.resource.parent_key or "deal_id"
            for deal_id in rng.sample(changed_deals, max(1, int(len(changed_deals) * child_fraction))):
                data = copy.deepcopy(template.data)
                data[table.resource.key] = None
                data[parent_field] = deal_id
                store.insert(child, data, parent=deal_id)
                children_added += 1
    return {"changed": changed, "children_added": children_added}


def warm(emu: Emulator, cmd: dict[str, Any]) -> dict[str, Any]:
    """Fill the emulator's per-row serialization cache and its list orders (by id, update time, add time) for
    ``streams`` (what a first read would do), so a measured read sees the steady-state server time rather than
    the first rendering of every record and the first sort of every list (which made the first run of an
    emulator start up to half a second later than the next)."""
    from pipedrive_emulator import include  # noqa: PLC0415
    from pipedrive_emulator.reads import render  # noqa: PLC0415

    rendered = 0
    for name in cmd.get("streams", []):
        table = emu.store.tables[name]
        for order in ("id", "update_time", "add_time"):
            table.ordered(order)
            table.sort_values(order)  # v1 ``sort=``
        resource = table.resource
        variant = "v2" if resource.read_version == 2 else "v1"
        with_extras = include.page_renderer(emu.store, resource, resource.include_fields,
                                            lambda row, t=table, v=variant: render(emu.store, t, row, v))
        for row in list(table.rows.values()):
            render(emu.store, table, row, variant)
            if variant == "v2" and resource.include_fields:
                with_extras(row)  # the answer to the tap's default include_fields (every value)
            rendered += 1
    return {"rendered": rendered}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", required=True, help="JSON object of Emulator keyword arguments")
    args = parser.parse_args()
    settings = json.loads(args.settings)
    emu = build(settings)
    emu.start()
    print(json.dumps({"url": emu.url, "token": settings.get("api_token") or getattr(emu, "api_token", None)}),
          flush=True)
    for raw in sys.stdin:
        text = raw.strip()
        if not text:
            continue
        cmd = json.loads(text)
        try:
            if cmd["cmd"] == "stats":
                answer: dict[str, Any] = {"requests": request_count(emu)}
            elif cmd["cmd"] == "log":
                answer = {"log": [list(r) for r in emu.requests.snapshot()]}
            elif cmd["cmd"] == "warm":
                answer = warm(emu, cmd)
            elif cmd["cmd"] == "mutate":
                answer = mutate(emu, cmd)
            elif cmd["cmd"] == "quit":
                break
            else:
                answer = {"error": f"unknown command {cmd['cmd']!r}"}
        except Exception as exc:  # report to the harness instead of dying silently
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    emu.stop()


if __name__ == "__main__":
    main()
