"""Deterministic, realistic seed data for every active catalogue resource.

Faker (seeded) is called only to fill small pools of names, companies, words and addresses; records are
then assembled from the pools with one ``random.Random(seed)``, so 100,000 deals take seconds and the same
seed always yields the same account. Sizes follow ``scale`` (scale 1: a few hundred deals) unless a
``sizes`` mapping overrides them.

The data carries the quirks connectors meet in real accounts: deals deleted within 30 days
(``is_deleted``), archived deals, records with a null ``update_time``, null timestamps (``won_time`` of open
deals), deal products whose product was hard-deleted (``product_id`` null), colliding custom-field names.
"""

from __future__ import annotations

import gc
import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from faker import Faker

from .fields import BUILTINS, custom_specs, field_key, new_field_def, random_value
from .store import DELETED_RETENTION_S, Store, Table, fmt

#: Record counts at ``scale=1``; entity counts grow linearly with ``scale``, account settings do not.
BASE_SIZES: dict[str, int] = {
    "deals": 300, "persons": 250, "organizations": 100, "activities": 400, "products": 40, "notes": 200,
    "leads": 60, "files": 60, "call_logs": 60, "mail_threads": 40, "projects": 10, "tasks": 40,
}
FIXED_SIZES: dict[str, int] = {
    "users": 8, "pipelines": 3, "activity_types": 8, "lead_labels": 5, "filters": 12, "goals": 6,
    "webhooks": 4, "roles": 4, "teams": 3,
}
DAY = 86400
CURRENCIES = (("EUR", "Euro", "€"), ("USD", "US Dollar", "$"), ("GBP", "Pound Sterling", "£"),
              ("SEK", "Swedish Krona", "kr"), ("JPY", "Japanese Yen", "¥"))
FOLDERS = ("inbox", "drafts", "sent", "archive")


def sizes_for(scale: float, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Record counts for a run: scaled base sizes, fixed settings, then explicit overrides."""
    sizes = {name: max(1, int(count * scale)) for name, count in BASE_SIZES.items()}
    sizes.update(FIXED_SIZES)
    sizes.update(overrides or {})
    return sizes


class Seeder:
    """Fills a :class:`Store`; one instance per emulator run."""

    def __init__(self, store: Store, seed: int, sizes: dict[str, int], custom_fields_per_entity: int) -> None:
        self.store = store
        self.seed = seed
        self.sizes = sizes
        self.n_custom = custom_fields_per_entity
        self.rng = random.Random(seed)
        self.now = store.clock.epoch()
        self.pools = _pools(seed)
        self.ids = {name: sizes.get(name, 0) for name in ("users", "persons", "organizations", "deals")}

    # -- helpers --------------------------------------------------------------------------------
    def _times(self, table: Table, *, null_update: float = 0.0) -> tuple[int, int | None, str | None,
                                                                          str | None]:
        """add epoch, update epoch, and both formatted: ~40 % changed within the last month."""
        rng = self.rng
        add = self.now - self.ri(35 * DAY, 3 * 365 * DAY)
        if rng.random() < null_update:
            return add, None, fmt(table.style, add), None
        upd = self.now - self.ri(60, 29 * DAY) if rng.random() < 0.4 else self.ri(add, self.now - 31 * DAY)
        return add, upd, fmt(table.style, add), fmt(table.style, upd)

    def _put(self, name: str, data: dict[str, Any], ut: int | None, parent: Any = None, key: Any = None) -> None:
        table = self.store.tables[name]
        table.load(data[table.resource.key] if key is None else key, data, ut, parent)

    def _custom(self, entity: str) -> dict[str, Any]:
        """A custom-values object drawn from a pool of 512 per entity (values are never mutated in place:
        writes replace ``custom_fields`` with a new dict), which keeps 100k records cheap."""
        pool = self._custom_pool.get(entity)
        if pool is None:
            defs = self._custom_defs[entity]
            pool = [{f["key"]: random_value(f, self.rng, self.pools, self.ids) for f in defs} for _ in range(512)]
            self._custom_pool[entity] = pool
        return dict(pool[int(self.rng.random() * 512)])

    def ri(self, low: int, high: int) -> int:
        """``randint`` without its overhead (seeding calls it millions of times)."""
        return low + int(self.rng.random() * (high - low + 1))

    def user_id(self) -> int:
        return self.ri(1, self.sizes["users"])

    # -- run ------------------------------------------------------------------------------------
    def run(self) -> None:
        """Generate everything, parents before children."""
        self._custom_defs: dict[str, list[dict[str, Any]]] = {}
        self._custom_pool: dict[str, list[dict[str, Any]]] = {}
        self.fields()
        for step in (self.users, self.currencies, self.roles_teams, self.pipelines, self.organizations,
                     self.persons, self.products, self.deals, self.activity_types, self.activities,
                     self.notes, self.leads, self.files, self.filters, self.call_logs, self.goals,
                     self.webhooks, self.mail, self.projects, self.deal_children,
                     self.org_relationships):
            step()

    def fields(self) -> None:
        """Built-in and custom field definitions of every *Fields resource."""
        store = self.store
        stamp_epoch = self.now - 400 * DAY
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
                for index, (ftype, name) in enumerate(custom_specs(self.n_custom)):
                    fdef = new_field_def(
                        field_id=table.next_id(), key=field_key(self.seed, entity, index), name=name,
                        field_type=ftype, order_nr=len(builtins) + index, stamp=stamp, custom=True,
                        option_ids=store.next_option_id)
                    table.put(fdef["id"], fdef, ut=stamp_epoch)
                    customs.append(fdef)
            elif entity == "leads":  # leads inherit the custom fields of deals
                for fdef in self._custom_defs["deals"]:
                    copy_ = dict(fdef, id=table.next_id())
                    table.put(copy_["id"], copy_, ut=stamp_epoch)
            self._custom_defs[entity] = customs

    def users(self) -> None:
        table = self.store.tables["users"]
        for uid in range(1, self.sizes["users"] + 1):
            first, last = self.rng.choice(self.pools["first"]), self.rng.choice(self.pools["last"])
            add, upd, _, _ = self._times(table)
            data = {
                "id": uid, "name": f"{first} {last}", "default_currency": "EUR", "locale": "en_US",
                "lang": 1, "email": f"{first}.{last}{uid}@example.com".lower(), "phone": None,
                "activated": True, "last_login": fmt("v1", self.now - self.ri(60, 9 * DAY)),
                "created": fmt("v1", add), "modified": fmt("v1", upd), "has_created_company": uid == 1,
                "access": [{"app": "sales", "admin": uid == 1, "permission_set_id": "global"}],
                "active_flag": True, "timezone_name": "Europe/Tallinn", "timezone_offset": "+02:00",
                "role_id": 1 + (uid % 3), "icon_url": None, "is_you": uid == 1, "is_deleted": False,
            }
            self._put("users", data, upd)

    def currencies(self) -> None:
        for cid, (code, name, symbol) in enumerate(CURRENCIES, start=1):
            self._put("currencies", {"id": cid, "code": code, "name": name, "decimal_points": 0 if code == "JPY"
                                     else 2, "symbol": symbol, "active_flag": True, "is_custom_flag": False},
                      None)

    def roles_teams(self) -> None:
        for rid in range(1, self.sizes["roles"] + 1):
            self._put("roles", {"parent_role_id": None if rid == 1 else 1, "name": f"Role {rid}", "id": rid,
                                "active_flag": True, "assignment_count": "2", "sub_role_count": "0",
                                "level": 1 if rid == 1 else 2}, None)
        for tid in range(1, self.sizes["teams"] + 1):
            self._put("teams", {"id": tid, "name": f"Team {self.rng.choice(self.pools['words'])}",
                                "manager_id": tid, "users": [tid, tid + 1], "active_flag": 1,
                                "deleted_flag": 0, "add_time": fmt("v1", self.now - 300 * DAY),
                                "created_by_user_id": 1}, None)

    def pipelines(self) -> None:
        stage_names = ("Qualified", "Contact made", "Demo scheduled", "Proposal made", "Negotiations started")
        stage_id = 1
        self.stage_pipeline: dict[int, int] = {}
        ptable, stable = self.store.tables["pipelines"], self.store.tables["stages"]
        for pid in range(1, self.sizes["pipelines"] + 1):
            _add, upd, add_s, upd_s = self._times(ptable)
            self._put("pipelines", {"id": pid, "name": ("Sales", "Partners", "Renewals", "Enterprise")[pid % 4],
                                    "order_nr": pid, "is_deleted": False, "is_deal_probability_enabled": pid == 1,
                                    "add_time": add_s, "update_time": upd_s}, upd)
            for order, name in enumerate(stage_names, start=1):
                _add, upd, add_s, upd_s = self._times(stable)
                self._put("stages", {"id": stage_id, "order_nr": order, "name": name, "is_deleted": False,
                                     "deal_probability": 20 * order, "pipeline_id": pid,
                                     "is_deal_rot_enabled": order == 2, "days_to_rotten": 30 if order == 2 else None,
                                     "add_time": add_s, "update_time": upd_s}, upd)
                self.stage_pipeline[stage_id] = pid
                stage_id += 1

    def _address(self) -> dict[str, Any]:
        return dict(self.rng.choice(self.pools["addresses"]))

    def organizations(self) -> None:
        table = self.store.tables["organizations"]
        companies = self.pools["companies"]
        for oid in range(1, self.sizes["organizations"] + 1):
            _add, upd, add_s, upd_s = self._times(table, null_update=0.01)
            data = {
                "id": oid, "name": f"{companies[oid % len(companies)]}" + ("" if oid <= len(companies)
                                                                           else f" {oid}"),
                "owner_id": self.user_id(), "add_time": add_s, "update_time": upd_s, "is_deleted": False,
                "visible_to": 3, "address": self._address(), "label_ids": [],
                "website": f"https://www.example{oid}.com", "linkedin": None,
                "industry": None, "annual_revenue": None, "employee_count": self.rng.choice((None, 10, 50, 250)),
                "custom_fields": self._custom("organizations"),
            }
            self._put("organizations", data, upd)

    def persons(self) -> None:
        table, rng = self.store.tables["persons"], self.rng
        n_orgs = self.sizes["organizations"]
        for pid in range(1, self.sizes["persons"] + 1):
            first, last = rng.choice(self.pools["first"]), rng.choice(self.pools["last"])
            _add, upd, add_s, upd_s = self._times(table, null_update=0.01)
            data = {
                "id": pid, "name": f"{first} {last}", "first_name": first, "last_name": last,
                "owner_id": self.user_id(), "org_id": self.ri(1, n_orgs) if rng.random() < 0.8 else None,
                "add_time": add_s, "update_time": upd_s,
                "emails": [{"value": f"{first}.{last}.{pid}@example.org".lower(), "primary": True,
                            "label": "work"}],
                "phones": [{"value": rng.choice(self.pools["phones"]), "primary": True, "label": "mobile"}],
                "is_deleted": False, "visible_to": 3, "label_ids": [], "picture_id": None,
                "custom_fields": self._custom("persons"),
            }
            self._put("persons", data, upd)

    def products(self) -> None:
        table, rng = self.store.tables["products"], self.rng
        for pid in range(1, self.sizes["products"] + 1):
            _add, upd, add_s, upd_s = self._times(table)
            price = round(rng.uniform(5, 5000), 2)
            data = {
                "id": pid, "name": f"{rng.choice(self.pools['words']).capitalize()} {('Pro', 'Lite', 'Plus')[pid % 3]}"
                f" {pid}", "code": f"SKU-{pid:05d}", "unit": rng.choice(("pcs", "hours", "licence")),
                "tax": rng.choice((0, 9, 20, 24)), "is_deleted": False, "is_linkable": True, "visible_to": 3,
                "owner_id": self.user_id(), "add_time": add_s, "update_time": upd_s, "category": None,
                "description": rng.choice(self.pools["sentences"]),
                "custom_fields": self._custom("products"), "billing_frequency": "one-time",
                "billing_frequency_cycles": None,
                "prices": [{"product_id": pid, "price": price, "currency": "EUR", "cost": round(price * 0.4, 2),
                            "direct_cost": None, "notes": ""}],
            }
            self._put("products", data, upd)

    def deals(self) -> None:
        table, rng = self.store.tables["deals"], self.rng
        n_persons, n_orgs, stages = self.sizes["persons"], self.sizes["organizations"], self.stage_pipeline
        stage_ids = list(stages)
        words = self.pools["words"]
        companies = self.pools["companies"]
        for did in range(1, self.sizes["deals"] + 1):
            _add, upd, add_s, upd_s = self._times(table, null_update=0.01)
            status = rng.choices(("open", "won", "lost"), (6, 3, 1))[0]
            stage = rng.choice(stage_ids)
            closed = None if status == "open" or upd is None else fmt("iso", upd)
            data: dict[str, Any] = {
                "id": did, "title": f"{companies[did % len(companies)]} {rng.choice(words)} deal",
                "owner_id": self.user_id(), "person_id": self.ri(1, n_persons) if rng.random() < 0.9 else None,
                "org_id": self.ri(1, n_orgs) if rng.random() < 0.85 else None, "pipeline_id": stages[stage],
                "stage_id": stage, "value": round(rng.uniform(0, 120000), 2) if rng.random() < 0.95 else 0,
                "currency": rng.choice(("EUR", "EUR", "USD", "GBP")), "add_time": add_s, "update_time": upd_s,
                "stage_change_time": add_s if rng.random() < 0.5 else None, "is_deleted": False,
                "is_archived": False, "status": status, "probability": None,
                "lost_reason": "Price" if status == "lost" else None, "visible_to": 3,
                "close_time": closed, "won_time": closed if status == "won" else None,
                "lost_time": closed if status == "lost" else None,
                "expected_close_date": rng.choice(self.pools["dates"]) if rng.random() < 0.7 else None,
                "label_ids": [], "origin": "ManuallyCreated", "origin_id": None, "channel": None,
                "channel_id": None, "source_lead_id": None, "arr": None, "mrr": None, "acv": None,
                "custom_fields": self._custom("deals"),
            }
            row_ut = upd
            roll = rng.random()
            deleted_at = None
            if roll < 0.03:  # deleted within the last 30 days: still served with status=deleted
                deleted_at = self.now - self.ri(DAY, DELETED_RETENTION_S - DAY)
                data.update(is_deleted=True, status="deleted", update_time=fmt("iso", deleted_at))
                row_ut = deleted_at
            elif roll < 0.08:
                data["is_archived"] = True
                data["archive_time"] = upd_s
            self._put("deals", data, row_ut)
            if deleted_at is not None:
                table.rows[did].deleted_at = deleted_at

    def activity_types(self) -> None:
        table = self.store.tables["activity_types"]
        for tid, (name, icon) in enumerate((("Call", "call"), ("Meeting", "meeting"), ("Task", "task"),
                                            ("Deadline", "deadline"), ("Email", "email"), ("Lunch", "lunch"),
                                            ("Demo", "presentation"), ("Site visit", "car")), start=1):
            if tid > self.sizes["activity_types"]:
                break
            _add, upd, add_s, upd_s = self._times(table)
            self._put("activity_types", {"id": tid, "name": name, "icon_key": icon, "color": None,
                                         "order_nr": tid, "key_string": icon, "active_flag": True,
                                         "is_custom_flag": tid > 6, "add_time": add_s, "update_time": upd_s}, upd)

    def activities(self) -> None:
        table, rng = self.store.tables["activities"], self.rng
        sizes = self.sizes
        for aid in range(1, sizes["activities"] + 1):
            _add, upd, add_s, upd_s = self._times(table, null_update=0.01)
            done = rng.random() < 0.5
            person = self.ri(1, sizes["persons"]) if rng.random() < 0.7 else None
            kind = rng.choice(("call", "meeting", "task", "email"))
            data = {
                "id": aid, "subject": f"{kind.capitalize()}: {rng.choice(self.pools['words'])}", "type": kind,
                "owner_id": self.user_id(), "creator_user_id": self.user_id(), "is_deleted": False,
                "add_time": add_s, "update_time": upd_s,
                "deal_id": self.ri(1, sizes["deals"]) if rng.random() < 0.6 else None, "lead_id": None,
                "person_id": person, "org_id": self.ri(1, sizes["organizations"]) if rng.random() < 0.5
                else None, "project_id": None, "due_date": rng.choice(self.pools["dates"]),
                "due_time": f"{self.ri(8, 17):02d}:00", "duration": "00:30", "busy": True, "done": done,
                "marked_as_done_time": upd_s if done else None, "location": None,
                "participants": [] if person is None else [{"person_id": person, "primary": True}],
                "attendees": [], "conference_meeting_client": None, "conference_meeting_url": None,
                "conference_meeting_id": None, "public_description": "", "priority": None,
                "note": rng.choice(self.pools["sentences"]),
            }
            self._put("activities", data, upd)

    def notes(self) -> None:
        table, rng = self.store.tables["notes"], self.rng
        for nid in range(1, self.sizes["notes"] + 1):
            _add, upd, add_s, upd_s = self._times(table, null_update=0.02)
            deal = self.ri(1, self.sizes["deals"]) if rng.random() < 0.6 else None
            person = None if deal else self.ri(1, self.sizes["persons"])
            data = {
                "id": nid, "active_flag": True, "add_time": add_s, "content": rng.choice(self.pools["sentences"]),
                "deal_id": deal, "lead_id": None, "last_update_user_id": self.user_id(), "org_id": None,
                "person_id": person, "project_id": None, "task_id": None, "pinned_to_deal_flag": False,
                "pinned_to_organization_flag": False, "pinned_to_person_flag": False,
                "pinned_to_project_flag": False, "pinned_to_task_flag": False, "update_time": upd_s,
                "user_id": self.user_id(),
            }
            self._put("notes", data, upd)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def leads(self) -> None:
        labels = self.store.tables["lead_labels"]
        colors = ("blue", "green", "red", "yellow", "purple")
        for index in range(self.sizes["lead_labels"]):
            _add, upd, add_s, upd_s = self._times(labels)
            self._put("lead_labels", {"id": self._uuid(), "name": ("Hot", "Warm", "Cold", "VIP", "Partner")[index % 5],
                                      "color": colors[index % 5], "add_time": add_s, "update_time": upd_s}, upd)
        label_ids = [r.key for r in labels]
        for name in ("Manually created", "Web forms", "Prospector", "Import", "API"):
            self._put("lead_sources", {"name": name}, None)
        table, rng = self.store.tables["leads"], self.rng
        for _ in range(self.sizes["leads"]):
            _add, upd, add_s, upd_s = self._times(table)
            person = self.ri(1, self.sizes["persons"]) if rng.random() < 0.6 else None
            data = {
                "id": self._uuid(), "title": f"{rng.choice(self.pools['companies'])} lead",
                "owner_id": self.user_id(), "creator_id": self.user_id(),
                "label_ids": rng.sample(label_ids, self.ri(0, min(2, len(label_ids)))),
                "person_id": person,
                "organization_id": None if person else self.ri(1, self.sizes["organizations"]),
                "source_name": "Manually created", "origin": "ManuallyCreated", "origin_id": None,
                "channel": None, "channel_id": None, "source_deal_id": None, "is_archived": False,
                "was_seen": True, "value": {"amount": self.ri(100, 50000), "currency": "EUR"}
                if rng.random() < 0.6 else None, "expected_close_date": None, "next_activity_id": None,
                "add_time": add_s, "update_time": upd_s, "visible_to": "3", "cc_email": "leads@example.com",
                "custom_fields": self._custom("deals"),
            }
            self._put("leads", data, upd)

    def files(self) -> None:
        table, rng = self.store.tables["files"], self.rng
        for fid in range(1, self.sizes["files"] + 1):
            _add, upd, add_s, upd_s = self._times(table)
            name = f"{rng.choice(self.pools['words'])}-{fid}.pdf"
            deal = self.ri(1, self.sizes["deals"])
            data = {
                "id": fid, "user_id": self.user_id(), "deal_id": deal, "person_id": None, "org_id": None,
                "product_id": None, "activity_id": None, "lead_id": None, "project_id": None,
                "add_time": add_s, "update_time": upd_s, "file_name": name, "file_size": self.ri(1000, 9000000),
                "active_flag": True, "inline_flag": False, "remote_location": "s3", "remote_id": f"r{fid}",
                "cid": "", "mail_message_id": "", "mail_template_id": "", "deal_name": f"Deal {deal}",
                "person_name": "", "org_name": "", "product_name": "", "lead_name": "", "project_name": "",
                "url": f"https://files.example.com/{fid}", "name": name,
            }
            self._put("files", data, upd)

    def filters(self) -> None:
        table = self.store.tables["filters"]
        types = ("deals", "people", "org", "products", "activity", "leads")
        for fid in range(1, self.sizes["filters"] + 1):
            _add, upd, add_s, upd_s = self._times(table)
            self._put("filters", {"id": fid, "name": f"Filter {fid}", "filter_code": None, "is_editable": True,
                                  "active_flag": True, "type": types[fid % len(types)], "temporary_flag": None,
                                  "user_id": self.user_id(), "add_time": add_s, "update_time": upd_s,
                                  "visible_to": "7", "last_used_time": None, "custom_view_id": None}, upd)

    def call_logs(self) -> None:
        rng = self.rng
        for index in range(self.sizes["call_logs"]):
            start = self.now - self.ri(DAY, 200 * DAY)
            self._put("call_logs", {
                "id": f"{rng.getrandbits(64):016x}", "user_id": self.user_id(), "activity_id": None,
                "subject": f"Call {index + 1}", "duration": str(self.ri(10, 1800)),
                "outcome": rng.choice(("connected", "no_answer", "left_message", "busy")),
                "from_phone_number": rng.choice(self.pools["phones"]),
                "to_phone_number": rng.choice(self.pools["phones"]),
                "start_time": fmt("iso", start), "end_time": fmt("iso", start + 300),
                "person_id": self.ri(1, self.sizes["persons"]), "org_id": None, "deal_id": None, "lead_id": None,
                "note": "", "has_recording": False, "company_id": 1}, None)

    def goals(self) -> None:
        for index in range(self.sizes["goals"]):
            self._put("goals", {
                "id": f"{self.rng.getrandbits(128):032x}", "owner_id": 1, "title": f"Goal {index + 1}",
                "type": {"name": "deals_won", "params": {"pipeline_id": [1]}},
                "assignee": {"id": 1, "type": "company"}, "interval": "monthly",
                "duration": {"start": "2026-01-01", "end": "2026-12-31"},
                "expected_outcome": {"target": 10 + index, "tracking_metric": "quantity"},
                "is_active": True, "report_ids": []}, None)

    def webhooks(self) -> None:
        for wid in range(1, self.sizes["webhooks"] + 1):
            self._put("webhooks", {
                "id": wid, "company_id": 1, "owner_id": 1, "user_id": 1, "event_action": "*",
                "event_object": ("deal", "person", "organization", "activity")[wid % 4],
                "subscription_url": f"https://hooks.example.com/{wid}", "version": "2.0", "is_active": 1,
                "add_time": fmt("iso", self.now - 100 * DAY), "remove_time": None, "type": "general",
                "http_auth_user": None, "http_auth_password": None, "remove_reason": None,
                "last_delivery_time": None, "last_http_status": None, "admin_id": 1, "name": f"Hook {wid}"}, None)

    def mail(self) -> None:
        threads, rng = self.store.tables["mail_threads"], self.rng
        msg_id = 1
        for tid in range(1, self.sizes["mail_threads"] + 1):
            folder = FOLDERS[tid % len(FOLDERS)]
            _add, upd, add_s, upd_s = self._times(threads)
            deal = self.ri(1, self.sizes["deals"]) if rng.random() < 0.5 else None
            base = {"account_id": "acc-1", "user_id": 1, "subject": f"Re: {rng.choice(self.pools['words'])}",
                    "snippet": rng.choice(self.pools["sentences"]), "read_flag": 1, "mail_tracking_status": None,
                    "has_attachments_flag": 0, "has_inline_attachments_flag": 0, "has_real_attachments_flag": 0,
                    "deleted_flag": 0, "synced_flag": 1, "smart_bcc_flag": 0, "mail_link_tracking_enabled_flag": 0}
            thread = dict(base, id=tid, parties={"to": [], "from": []}, drafts_parties=[], folders=[folder],
                          version=1, snippet_draft=None, snippet_sent="", message_count=2,
                          has_draft_flag=int(folder == "drafts"), has_sent_flag=int(folder == "sent"),
                          archived_flag=int(folder == "archive"), shared_flag=0, external_deleted_flag=0,
                          first_message_to_me_flag=1, last_message_timestamp=upd_s, first_message_timestamp=add_s,
                          last_message_sent_timestamp=None, last_message_received_timestamp=upd_s,
                          add_time=add_s, update_time=upd_s, deal_id=deal, deal_status=None, lead_id=None,
                          all_messages_sent_flag=0)
            self._put("mail_threads", thread, upd)
            for offset in range(2):
                message = dict(base, id=msg_id, mail_thread_id=tid, to=[], cc=[], bcc=[],
                               body_url=f"https://mail.example.com/{msg_id}", draft=None, has_body_flag=1,
                               sent_flag=int(folder == "sent"), sent_from_pipedrive_flag=0,
                               message_time=add_s if offset == 0 else upd_s, add_time=add_s, update_time=upd_s)
                message["from"] = [{"email_address": "someone@example.com", "name": "Someone"}]
                self._put("mail_thread_messages", message, upd, parent=tid)
                if deal is not None:
                    self._put("deal_mail_messages", {"object": "mailMessage", "timestamp": fmt("v1", _add),
                                                     "data": message, "id": msg_id}, upd, parent=deal)
                msg_id += 1
        for name, parent_size in (("person_mail_messages", "persons"), ("organization_mail_messages",
                                                                        "organizations")):
            for parent in range(1, min(self.sizes[parent_size], 20) + 1):
                self._put(name, {"object": "mailMessage", "timestamp": fmt("v1", self.now - parent * DAY),
                                 "data": {"id": msg_id, "subject": "Hello", "mail_thread_id": 1}, "id": msg_id},
                          None, parent=parent)
                msg_id += 1

    def projects(self) -> None:
        table, rng = self.store.tables["projects"], self.rng
        for pid in range(1, self.sizes["projects"] + 1):
            _add, upd, add_s, upd_s = self._times(table)
            self._put("projects", {
                "id": pid, "title": f"Onboarding {rng.choice(self.pools['companies'])}", "status": "open",
                "board_id": 1, "phase_id": 1 + pid % 3, "owner_id": self.user_id(),
                "start_date": rng.choice(self.pools["dates"]), "end_date": None,
                "deal_ids": [self.ri(1, self.sizes["deals"])], "person_ids": [], "org_ids": [], "label_ids": [],
                "health_status": None, "add_time": add_s, "update_time": upd_s, "status_change_time": add_s,
                "archive_time": None, "custom_fields": {}}, upd)
        tasks = self.store.tables["tasks"]
        for tid in range(1, self.sizes["tasks"] + 1):
            _add, upd, add_s, upd_s = self._times(tasks)
            done = rng.random() < 0.4
            self._put("tasks", {
                "id": tid, "title": f"Task {tid}: {rng.choice(self.pools['words'])}", "creator_id": 1,
                "project_id": self.ri(1, self.sizes["projects"]), "is_done": done, "is_milestone": False,
                "due_date": None, "start_date": None, "parent_task_id": None, "assignee_ids": [self.user_id()],
                "priority": None, "add_time": add_s, "update_time": upd_s,
                "marked_as_done_time": upd_s if done else None}, upd)

    def deal_children(self) -> None:
        """Deal products and participants (flow, followers and permitted users are derived per request)."""
        rng, store = self.rng, self.store
        deals = store.tables["deals"]
        products = store.tables["products"]
        dp_table = store.tables["deal_products"]
        n_products = self.sizes["products"]
        part_id = 1
        for row in list(deals.rows.values()):
            did = row.key
            deal = row.data
            if rng.random() < 0.35:
                for order in range(self.ri(1, 3)):
                    product_id: int | None = self.ri(1, n_products)
                    product = products.rows[product_id].data if product_id in products.rows else None
                    qty = self.ri(1, 10)
                    price = product["prices"][0]["price"] if product else 100.0
                    _add, upd, add_s, upd_s = self._times(dp_table)
                    if rng.random() < 0.03:
                        product_id = None  # the product was hard-deleted later
                    item = {
                        "id": dp_table.next_id(), "sum": round(qty * price, 2), "tax": 0, "deal_id": did,
                        "name": product["name"] if product else "Removed product", "product_id": product_id,
                        "product_variation_id": None, "order_nr": order, "add_time": add_s, "update_time": upd_s,
                        "comments": None, "currency": deal["currency"], "discount": 0, "discount_type": "percentage",
                        "quantity": qty, "item_price": price, "tax_method": "inclusive", "is_enabled": True,
                        "billing_frequency": "one-time", "billing_frequency_cycles": None, "billing_start_date": None,
                    }
                    self._put("deal_products", item, upd, parent=did)
            if deal["person_id"] is not None and rng.random() < 0.5:
                self._put("deal_participants", {
                    "id": part_id, "person_id": deal["person_id"], "add_time": deal["add_time"],
                    "active_flag": True, "related_item_type": "deal", "related_item_id": did,
                    "added_by_user_id": deal["owner_id"]}, None, parent=did)
                part_id += 1

    def org_relationships(self) -> None:
        table, rng = self.store.tables["organization_relationships"], self.rng
        n_orgs = self.sizes["organizations"]
        for _ in range(max(1, n_orgs // 5)):
            owner, linked = self.ri(1, n_orgs), self.ri(1, n_orgs)
            if owner == linked:
                continue
            _add, upd, add_s, upd_s = self._times(table)
            rel: dict[str, Any] = {"id": table.next_id(), "type": rng.choice(("parent", "related")),
                                   "rel_owner_org_id": owner,
                   "rel_linked_org_id": linked, "add_time": add_s, "update_time": upd_s, "active_flag": "true"}
            self._put("organization_relationships", rel, upd, parent=owner)
            table.by_parent.setdefault(linked, {})[rel["id"]] = None


def _pools(seed: int) -> dict[str, list[Any]]:
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


def seed_store(store: Store, seed: int, sizes: dict[str, int], custom_fields_per_entity: int,
               progress: Callable[[str], None] | None = None) -> None:
    """Fill ``store`` deterministically from ``seed``.

    The cyclic garbage collector is paused while millions of small dicts are built (otherwise repeated
    full collections make seeding quadratic-ish) and the result is frozen out of later collections.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        Seeder(store, seed, sizes, custom_fields_per_entity).run()
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()
    if progress is not None:
        progress("seeded")
