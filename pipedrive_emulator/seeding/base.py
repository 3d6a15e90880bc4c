"""What every seeding step shares: the store, one random stream, the value pools and small helpers.

Faker (seeded) is called only to fill small pools of names, companies, words and addresses; records are
then assembled from the pools with one ``random.Random(seed)``, so 100,000 deals take seconds and the same
seed always yields the same account. The steps run in a fixed order (``pipedrive_emulator.seed.STEPS``) and
draw from the one stream in that order: moving a step changes every record after it.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from faker import Faker

from ..fields import random_value
from ..store import Store, Table, fmt

DAY = 86400


class SeedContext:
    """The state of one seeding run, handed to every step."""

    def __init__(self, store: Store, seed: int, sizes: dict[str, int], custom_fields_per_entity: int) -> None:
        self.store = store
        self.seed = seed
        self.sizes = sizes
        self.n_custom = custom_fields_per_entity
        self.rng = random.Random(seed)
        #: a second stream for the resources added later (permission sets, variations, installments, field
        #: history, archived leads, file contents), so adding them left every earlier record unchanged
        self.extra = random.Random(f"{seed}:extra")
        self.now = store.clock.epoch()
        self.pools = make_pools(seed)
        self.ids = {name: sizes.get(name, 0) for name in ("users", "persons", "organizations", "deals")}
        #: custom-field definitions per entity, filled by the fields step
        self.custom_defs: dict[str, list[dict[str, Any]]] = {}
        self.custom_pool: dict[str, list[dict[str, Any]]] = {}
        #: stage id → pipeline id, filled by the pipelines step
        self.stage_pipeline: dict[int, int] = {}

    def times(self, table: Table, *, null_update: float = 0.0) -> tuple[int, int | None, str | None, str | None]:
        """add epoch, update epoch, and both formatted: ~40 % changed within the last month."""
        rng = self.rng
        add = self.now - self.ri(35 * DAY, 3 * 365 * DAY)
        if rng.random() < null_update:
            return add, None, fmt(table.style, add), None
        upd = self.now - self.ri(60, 29 * DAY) if rng.random() < 0.4 else self.ri(add, self.now - 31 * DAY)
        return add, upd, fmt(table.style, add), fmt(table.style, upd)

    def put(self, name: str, data: dict[str, Any], ut: int | None, parent: Any = None, key: Any = None) -> None:
        """Append a record to table ``name`` (seeding fast path, no locking)."""
        table = self.store.tables[name]
        table.load(data[table.resource.key] if key is None else key, data, ut, parent)

    def custom(self, entity: str) -> dict[str, Any]:
        """A custom-values object drawn from a pool of 512 per entity (values are never mutated in place:
        writes replace ``custom_fields`` with a new dict), which keeps 100k records cheap."""
        pool = self.custom_pool.get(entity)
        if pool is None:
            defs = self.custom_defs[entity]
            pool = [{f["key"]: random_value(f, self.rng, self.pools, self.ids) for f in defs} for _ in range(512)]
            self.custom_pool[entity] = pool
        return dict(pool[int(self.rng.random() * 512)])

    def extra_int(self, low: int, high: int) -> int:
        """``randint`` on the second stream."""
        return low + int(self.extra.random() * (high - low + 1))

    def ri(self, low: int, high: int) -> int:
        """``randint`` without its overhead (seeding calls it millions of times)."""
        return low + int(self.rng.random() * (high - low + 1))

    def user_id(self) -> int:
        """A random existing user."""
        return self.ri(1, self.sizes["users"])

    def address(self) -> dict[str, Any]:
        """A copy of a pooled postal address."""
        return dict(self.rng.choice(self.pools["addresses"]))

    def uuid(self) -> str:
        """A reproducible UUID4 (lead and lead-label ids)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def make_pools(seed: int) -> dict[str, list[Any]]:
    """Small pools of realistic values; the only place Faker runs."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    addresses = []
    for _ in range(150):
        number, street = fake.building_number(), fake.street_name()
        city, state, postcode = fake.city(), fake.state(), fake.postcode()
        formatted = f"{number} {street}, {city}, {state} {postcode}, United States"
        addresses.append({"value": formatted, "subpremise": None, "street_number": number, "route": street,
                          "sublocality": None, "locality": city, "admin_area_level_1": state,
                          "admin_area_level_2": None, "country": "United States", "postal_code": postcode,
                          "formatted_address": formatted})
    return {
        "first": [fake.first_name() for _ in range(300)],
        "last": [fake.last_name() for _ in range(300)],
        "companies": list(dict.fromkeys(fake.company() for _ in range(400))),
        "words": list(dict.fromkeys(fake.word() for _ in range(400))),
        "sentences": [fake.sentence(nb_words=10) for _ in range(150)],
        "phones": [fake.numerify("+1-###-###-####") for _ in range(200)],
        "dates": [fake.date_between(start_date="-2y", end_date="+1y").isoformat() for _ in range(365)],
        "addresses": addresses,
    }
