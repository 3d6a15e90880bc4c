"""Field history (``/v1/{deals,persons,organizations}/{id}/changelog``) of records changed after creation.

Each changed record gets one or two entries at its ``update_time``; later writes through
:meth:`~pipedrive_emulator.store.Store.update` append real old → new entries (see ``store.py``).
"""

from __future__ import annotations

from typing import Any

from ..store import Row
from .base import SeedContext

#: fields whose history the seeded entries describe, per entity
TRACKED: dict[str, tuple[str, ...]] = {
    "deals": ("value", "stage_id", "owner_id", "title", "expected_close_date"),
    "persons": ("name", "owner_id", "org_id"),
    "organizations": ("name", "owner_id", "address"),
}


def changelogs(s: SeedContext) -> None:
    """Seed entries for every deal, person and organization updated after it was added."""
    for entity, fields in TRACKED.items():
        table_name = f"{entity.rstrip('s')}_changelog"
        for row in list(s.store.tables[entity].rows.values()):
            if row.ut is None or row.data.get("update_time") == row.data.get("add_time"):
                continue
            for field_key in s.extra.sample(fields, s.extra_int(1, 2)):
                s.store.log_change(table_name, row, field_key, old=_older(s, row, field_key),
                                   new=row.data.get(field_key), when=row.ut, seeding=True)


def _older(s: SeedContext, row: Row, field_key: str) -> Any:
    """A plausible previous value of ``field_key``."""
    value = row.data.get(field_key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return type(value)(value * (0.5 + s.extra.random())) if field_key == "value" else max(1, value - 1)
    return f"{value} (old)" if isinstance(value, str) else None


