"""Deterministic, realistic seed data for every active catalogue resource.

The steps live in :mod:`pipedrive_emulator.seeding`, one module per entity family (account settings,
contacts, sales, work records, field history); this module sizes a run and runs the steps in order,
parents before children. Sizes follow ``scale`` (scale 1: a few hundred deals) unless a ``sizes`` mapping
overrides them.

The data carries the quirks connectors meet in real accounts: deals deleted within 30 days
(``is_deleted``), archived deals and leads, records with a null ``update_time``, null timestamps
(``won_time`` of open deals), deal products whose product was hard-deleted (``product_id`` null), colliding
custom-field names.

The emulator's tables are the catalogue's (one per active resource), but what goes in them (field names,
shapes, which fields are null) is written here by hand from the OpenAPI documents, not derived from the tap's
schemas: the emulator is a cross-check of the tap, so it must not share the tap's reading of the specs.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping

from .seeding import account, contacts, coverage, definitions, history, sales, work
from .seeding.base import SeedContext
from .store import Store

#: Record counts at ``scale=1``; entity counts grow linearly with ``scale``, account settings do not.
BASE_SIZES: dict[str, int] = {
    "deals": 300, "persons": 250, "organizations": 100, "activities": 400, "products": 40, "notes": 200,
    "leads": 60, "files": 60, "call_logs": 60, "mail_threads": 40, "projects": 10, "tasks": 40,
}
FIXED_SIZES: dict[str, int] = {
    "users": 8, "pipelines": 3, "activity_types": 8, "lead_labels": 5, "filters": 12, "goals": 6,
    "webhooks": 4, "roles": 4, "teams": 3,
}

Step = Callable[[SeedContext], None]

#: The seeding steps in order. The first block draws from the main random stream, so its order fixes every
#: record; the second block (resources added later) draws from a stream of its own.
STEPS: tuple[Step, ...] = (
    definitions.fields, account.users, account.currencies, account.roles_teams, account.pipelines,
    contacts.organizations, contacts.persons, sales.products, sales.deals, account.activity_types,
    work.activities, work.notes, sales.leads, work.files, account.filters, work.call_logs, account.goals,
    account.webhooks, work.mail, work.projects, sales.deal_children, contacts.org_relationships,
    # -- second stream --
    account.permission_sets, sales.product_variations, sales.deal_installments, sales.archived_leads,
    history.changelogs, work.file_contents, coverage.optional_fields,
)


def sizes_for(scale: float, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Record counts for a run: scaled base sizes, fixed settings, then explicit overrides."""
    sizes = {name: max(1, int(count * scale)) for name, count in BASE_SIZES.items()}
    sizes.update(FIXED_SIZES)
    sizes.update(overrides or {})
    return sizes


def seed_store(store: Store, seed: int, sizes: dict[str, int], custom_fields_per_entity: int,
               progress: Callable[[str], None] | None = None) -> None:
    """Fill ``store`` deterministically from ``seed``.

    The cyclic garbage collector is paused while millions of small dicts are built (otherwise repeated
    full collections make seeding quadratic-ish) and the result is frozen out of later collections.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        context = SeedContext(store, seed, sizes, custom_fields_per_entity)
        for step in STEPS:
            step(context)
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()
    if progress is not None:
        progress("seeded")
