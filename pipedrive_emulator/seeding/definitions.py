"""Field definitions: the built-in and custom fields of every ``*Fields`` resource."""

from __future__ import annotations

from typing import Any

from ..fields import BUILTINS, custom_specs, field_key, new_field_def
from ..store import fmt
from .base import DAY, SeedContext


def fields(s: SeedContext) -> None:
    """Built-in and custom field definitions of every *Fields resource."""
    store = s.store
    stamp_epoch = s.now - 400 * DAY
    for entity, fields_name in (("deals", "deal_fields"), ("persons", "person_fields"),
                                ("organizations", "organization_fields"), ("products", "product_fields"),
                                ("activities", "activity_fields"), ("notes", "note_fields"),
                                ("leads", "lead_fields")):
        table = store.tables[fields_name]
        stamp = fmt("v1", stamp_epoch) or ""
        builtins = BUILTINS[entity]
        for order, (key, name, ftype) in enumerate(builtins):
            fdef = new_field_def(field_id=table.next_id(), key=key, name=name, field_type=ftype,
                                 order_nr=order, stamp=stamp, custom=False, option_ids=store.next_option_id)
            table.put(fdef["id"], fdef, ut=stamp_epoch)
        customs: list[dict[str, Any]] = []
        if entity in ("deals", "persons", "organizations", "products"):
            for index, (ftype, name) in enumerate(custom_specs(s.n_custom)):
                fdef = new_field_def(
                    field_id=table.next_id(), key=field_key(s.seed, entity, index), name=name,
                    field_type=ftype, order_nr=len(builtins) + index, stamp=stamp, custom=True,
                    option_ids=store.next_option_id)
                table.put(fdef["id"], fdef, ut=stamp_epoch)
                customs.append(fdef)
        elif entity == "leads":  # leads inherit the custom fields of deals
            for fdef in s.custom_defs["deals"]:
                copy_ = dict(fdef, id=table.next_id())
                table.put(copy_["id"], copy_, ut=stamp_epoch)
        s.custom_defs[entity] = customs
