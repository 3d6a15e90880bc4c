"""The one declarative description of every Pipedrive resource this project knows.

The tap generates its streams from it, the target its sinks, and the emulator its routes, so a fact about
Pipedrive (a path, a key type, which API version still answers, how to delete in bulk) is written here once.
Paths are relative to the API host (``https://api.pipedrive.com`` or the OAuth ``api_domain``): v1 paths
start with ``/v1/``, v2 paths with ``/api/v2/``. Nested paths carry the parent id as ``{parent_id}``.

Sources: ``shared/pipedrive-openapi/`` (v1 2026-08, v1 2026-01 full, v2 2026-08) and
``shared/pipedrive-api.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

KeyType = Literal["integer", "string", "uuid"]

#: The date Pipedrive stopped serving the v1 entity endpoints that have v2 replacements.
V1_SUNSET_DATE = "2026-08-01"
#: The date Pipedrive removed the v1 bulk deletes of activities, activityTypes, deals, organizations,
#: persons and stages.
V1_BULK_DELETE_REMOVED = "2026-01-27"


class Replication(str, enum.Enum):
    """How the tap reads a resource incrementally."""

    FULL = "full"  #: always a full read (small, or no change feed)
    RECENTS = "recents"  #: ``GET /v1/recents?items=<recents_item>&since_timestamp=``
    UPDATED_SINCE = "updated_since"  #: v2 ``updated_since`` + ``sort_by=update_time``
    PARENT = "parent"  #: a child read only for parents changed since the bookmark


class Pagination(str, enum.Enum):
    """The list protocol a read path speaks."""

    NONE = "none"  #: one answer holds the whole list
    OFFSET = "offset"  #: v1 ``start``/``limit`` + ``additional_data.pagination``
    CURSOR = "cursor"  #: ``cursor``/``limit`` + ``additional_data.next_cursor``


class UpdateMethod(str, enum.Enum):
    """The HTTP verb an update uses."""

    PUT = "PUT"
    PATCH = "PATCH"


@dataclass(frozen=True)
class Writes:
    """The write verbs Pipedrive offers for a resource.

    ``bulk_delete_path`` is set only where Pipedrive still accepts ``DELETE <path>?ids=1,2,3``
    (filters, the four *Fields of deals/persons/organizations/products, v2 deal products).
    """

    create_path: str | None = None
    update_path: str | None = None
    update_method: UpdateMethod = UpdateMethod.PATCH
    delete_path: str | None = None
    bulk_delete_path: str | None = None
    bulk_delete_max: int = 0
    #: field used to find an existing record before creating (``/search`` endpoint), if any
    search_path: str | None = None
    #: the create is a ``multipart/form-data`` upload (``POST /v1/files``), not a JSON body
    create_multipart: bool = False
    #: the ``fields=`` values the ``search_path`` endpoint accepts (target upserts, tap search streams)
    search_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Resource:
    """One Pipedrive resource: where it is read, how it is keyed, followed and written."""

    name: str  #: stream / sink name, snake_case
    title: str  #: Pipedrive's own name (COZYROC map), e.g. ``activityTypes``
    v1_path: str | None  #: list path in API v1, if v1 has one (even if retired)
    v2_path: str | None = None  #: list path in API v2, if v2 has one
    key: str = "id"
    key_type: KeyType = "integer"
    read_version: Literal[1, 2] = 1  #: the version the tap reads
    pagination: Pagination = Pagination.OFFSET
    page_limit: int = 500
    replication: Replication = Replication.FULL
    replication_key: str | None = None
    #: the column holding when a record was added: where records never updated (``replication_key`` null until
    #: their first change) are found by the time they were added
    added_key: str = "add_time"
    recents_item: str | None = None  #: ``items=`` value of ``/v1/recents`` covering this resource
    fields_resource: str | None = None  #: name of the ``*_fields`` resource describing custom fields
    parent: str | None = None  #: parent resource name for nested reads
    parent_key: str | None = None  #: column added to child records holding the parent's id
    #: extra fixed query parameters of a read (e.g. ``status`` for deals)
    read_params: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: partitions of a read that needs a mandatory selector (mail threads by folder)
    partitions: tuple[MappingProxyType[str, str], ...] = ()
    writes: Writes | None = None
    #: v1 entity endpoints of this resource answer 410 since :data:`V1_SUNSET_DATE`
    v1_sunset: bool = False
    #: the whole resource was removed by Pipedrive: kept for the record, never called
    retired: str | None = None
    #: timestamps come as ``YYYY-MM-DD HH:MM:SS`` (v1 style) instead of RFC 3339
    timestamp_style: Literal["v1", "iso"] = "v1"
    #: records carry custom fields (v1 top-level 40-hex keys, v2 ``custom_fields`` object)
    has_custom_fields: bool = False
    #: this resource describes the custom fields of ``fields_of``
    fields_of: str | None = None
    description: str = ""
    #: every value of the list endpoint's ``include_fields`` enum (extra columns Pipedrive sends only when
    #: asked for: counts, next/last activity, mail times, …); the tap requests them all unless narrowed
    include_fields: tuple[str, ...] = ()
    #: the target's drain order: a resource is written after every resource of lower rank (field definitions
    #: 0, then what other records refer to); a test requires it on every writable resource
    write_rank: int | None = None
    #: columns of other resources' records that hold an id of this resource (``org_id`` → organizations); the
    #: target translates them through its ledger when they carry source keys
    referenced_as: tuple[str, ...] = ()
    #: the field records of this resource are usually told apart by (``name``/``title``), for reconciling a
    #: create of unknown outcome without ``match_on``
    natural_field: str | None = None
    #: warehouse convenience columns → Pipedrive's list-of-objects field (persons: ``email`` → ``emails``)
    list_aliases: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Pipedrive's token cost of one list request of ``read_path`` (``x-token-cost`` in the OpenAPI documents;
    #: a test checks every row against them)
    read_token_cost: int = 20
    #: where the records sit when ``data`` is an object instead of a list (goals: ``{"data": {"goals": [...]}}``)
    records_path: str | None = None
    #: a second list of the same records (deals: ``/api/v2/deals/archived``), read as its own partition unless
    #: the boolean setting ``archived_setting`` is false
    archived_path: str | None = None
    archived_setting: str | None = None
    #: whether ``archived_path`` accepts ``updated_since`` like the main list (``/v1/leads/archived`` does not:
    #: it is read whole and rows older than the bookmark are dropped)
    archived_updated_since: bool = True
    #: the boolean column marking deleted records the list still returns (deals: ``is_deleted``); such a
    #: resource reports its deletions itself and needs no reconciliation pass
    delete_marker: str | None = None
    #: boolean setting that, when false, reads the list with ``live_params`` instead of ``read_params``
    #: (deals: without the deleted ones)
    deleted_setting: str | None = None
    live_params: MappingProxyType[str, str] | None = None
    #: a child whose records are keyed by their own key alone: one record listed under several parents
    #: (an organization relationship under both organizations) is one row
    key_is_global: bool = False
    #: whether a discovered catalog selects the stream; per-parent children cost one request per parent
    #: record and are opt-in
    selected_by_default: bool = True
    #: a list path serving the children of up to ``bulk_max`` parents per request (ids in ``bulk_param``),
    #: e.g. ``/api/v2/deals/products?deal_ids=1,2,3``: one request per 100 parents instead of one per parent
    bulk_path: str | None = None
    bulk_param: str = ""
    bulk_max: int = 0
    #: the lowest Pipedrive plan that serves the resource; lower plans answer 402 (or 403) and the stream is
    #: skipped with a warning
    min_plan: Literal["growth", "premium", "ultimate"] | None = None
    #: query parameters of a child read taken from its parent record (parameter → dotted field path); the tap
    #: adds them to each record as columns (dots → underscores): goal results per goal duration
    parent_params: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: the columns that identify a record when ``key`` alone does not (field history: time and field)
    key_columns: tuple[str, ...] = ()
    #: path of a record's binary content (files: ``/v1/files/{id}/download``), for the opt-in download
    download_path: str | None = None
    #: a v1 "find by term" endpoint (``/v1/users/find``): the tap's ``<name>_search`` stream reads it
    find_path: str | None = None
    #: the list (and ``archived_path``, where it takes ``updated_since``) also takes ``updated_until`` (<): the tap
    #: may then read it as several update-time windows at once (:mod:`tap_pipedrive.windows`); a test checks
    #: every row against the OpenAPI documents
    updated_until: bool = False

    @property
    def read_path(self) -> str:
        """The list path the tap and target use for this resource."""
        path = self.v2_path if self.read_version == 2 else self.v1_path
        if path is None:  # pragma: no cover - guarded by the catalogue test
            msg = f"{self.name} has no path for API v{self.read_version}"
            raise ValueError(msg)
        return path

    @property
    def is_child(self) -> bool:
        """Whether the resource is read per parent record."""
        return self.parent is not None

    @property
    def item_path(self) -> str:
        """The path of one record (``{id}`` placeholder) in the version the tap reads."""
        return f"{self.read_path}/{{id}}"


def _ro(**kwargs: str) -> MappingProxyType[str, str]:
    return MappingProxyType(dict(kwargs))


def _v2_entity(
    name: str,
    title: str,
    *,
    recents_item: str,
    fields: str | None,
    search: bool = True,
    replication: Replication = Replication.UPDATED_SINCE,
    read_params: MappingProxyType[str, str] | None = None,
    description: str = "",
    include_fields: tuple[str, ...] = (),
    write_rank: int | None = None,
    referenced_as: tuple[str, ...] = (),
    natural_field: str | None = None,
    search_fields: frozenset[str] = frozenset(),
    list_aliases: MappingProxyType[str, str] | None = None,
    read_token_cost: int = 10,
    archived_path: str | None = None,
    archived_setting: str | None = None,
    delete_marker: str | None = None,
    deleted_setting: str | None = None,
    live_params: MappingProxyType[str, str] | None = None,
    updated_until: bool = True,
) -> Resource:
    """A core entity whose v1 endpoints are retired: read and written through v2."""
    v2 = f"/api/v2/{title}"
    return Resource(
        name=name,
        title=title,
        v1_path=f"/v1/{title}",
        v2_path=v2,
        read_version=2,
        pagination=Pagination.CURSOR,
        replication=replication,
        replication_key="update_time" if replication is Replication.UPDATED_SINCE else None,
        recents_item=recents_item,
        fields_resource=fields,
        read_params=read_params or _ro(),
        writes=Writes(
            create_path=v2,
            update_path=f"{v2}/{{id}}",
            update_method=UpdateMethod.PATCH,
            delete_path=f"{v2}/{{id}}",
            search_path=f"{v2}/search" if search else None,
            search_fields=search_fields,
        ),
        v1_sunset=True,
        timestamp_style="iso",
        has_custom_fields=fields is not None,
        description=description,
        include_fields=include_fields,
        write_rank=write_rank,
        referenced_as=referenced_as,
        natural_field=natural_field,
        list_aliases=list_aliases or _ro(),
        read_token_cost=read_token_cost,
        archived_path=archived_path,
        archived_setting=archived_setting,
        delete_marker=delete_marker,
        deleted_setting=deleted_setting,
        live_params=live_params,
        updated_until=updated_until and replication is Replication.UPDATED_SINCE,
    )


def _fields(
    name: str, title: str, of: str, *, bulk_delete: bool, v2: bool = False, writable: bool = True
) -> Resource:
    """A ``*Fields`` resource: the custom-field definitions of ``of``."""
    v1 = f"/v1/{title}"
    return Resource(
        name=name,
        title=title,
        v1_path=v1,
        v2_path=f"/api/v2/{title}" if v2 else None,
        fields_of=of,
        writes=Writes(
            create_path=v1,
            update_path=f"{v1}/{{id}}",
            update_method=UpdateMethod.PUT,
            delete_path=f"{v1}/{{id}}",
            bulk_delete_path=v1 if bulk_delete else None,
            bulk_delete_max=1000 if bulk_delete else 0,
        )
        if writable
        else None,
        description=f"Custom-field definitions of {of}, with the key ↔ column mapping.",
        write_rank=0 if writable else None,
    )


def _v1_crud(path: str, *, update: UpdateMethod = UpdateMethod.PUT) -> Writes:
    return Writes(
        create_path=path,
        update_path=f"{path}/{{id}}",
        update_method=update,
        delete_path=f"{path}/{{id}}",
    )


def _child(
    name: str,
    title: str,
    parent: str,
    path: str,
    *,
    version: Literal[1, 2] = 1,
    key: str = "id",
    key_type: KeyType = "integer",
    pagination: Pagination = Pagination.OFFSET,
    page_limit: int = 500,
    writes: Writes | None = None,
    retired: str | None = None,
    timestamp_style: Literal["v1", "iso"] = "v1",
    description: str = "",
    write_rank: int | None = None,
    read_token_cost: int = 20,
    key_is_global: bool = False,
    **extra: Any,
) -> Resource:
    parent_key = f"{parent.rstrip('s')}_id" if parent != "activities" else "activity_id"
    return Resource(
        name=name,
        title=title,
        v1_path=path if version == 1 else None,
        v2_path=path if version == 2 else None,
        key=key,
        key_type=key_type,
        read_version=version,
        pagination=pagination,
        page_limit=page_limit,
        replication=Replication.PARENT,
        parent=parent,
        parent_key=parent_key,
        writes=writes,
        retired=retired,
        timestamp_style=timestamp_style,
        description=description,
        write_rank=write_rank,
        read_token_cost=read_token_cost,
        key_is_global=key_is_global,
        selected_by_default=False,
        **extra,
    )


_DEALS_V2 = "/api/v2/deals"

#: ``include_fields`` enums of the v2 list endpoints (openapi-v2.yaml; a test compares them with the spec)
_ACTIVITY_COUNTS = ("activities_count", "done_activities_count", "undone_activities_count")
_DEAL_COUNTS = ("open_deals_count", "related_open_deals_count", "closed_deals_count", "related_closed_deals_count")
_WON_LOST_COUNTS = ("won_deals_count", "related_won_deals_count", "lost_deals_count", "related_lost_deals_count")
_DEAL_INCLUDE = (
    "next_activity_id", "last_activity_id", "first_won_time", "products_count", "files_count", "notes_count",
    "followers_count", "email_messages_count", *_ACTIVITY_COUNTS, "participants_count",
    "last_incoming_mail_time", "last_outgoing_mail_time", "smart_bcc_email", "source_lead_id",
)
_PERSON_INCLUDE = (
    "next_activity_id", "last_activity_id", *_DEAL_COUNTS, "participant_open_deals_count",
    "participant_closed_deals_count", "email_messages_count", *_ACTIVITY_COUNTS, "files_count", "notes_count",
    "followers_count", *_WON_LOST_COUNTS, "last_incoming_mail_time", "last_outgoing_mail_time",
    "marketing_status", "doi_status", "smart_bcc_email",
)
_ORGANIZATION_INCLUDE = (
    "next_activity_id", "last_activity_id", *_DEAL_COUNTS, "email_messages_count", "people_count",
    *_ACTIVITY_COUNTS, "files_count", "notes_count", "followers_count", *_WON_LOST_COUNTS, "smart_bcc_email",
)

RESOURCES: tuple[Resource, ...] = (
    # --- core entities, v2 since the v1 sunset ----------------------------------------------------
    _v2_entity(
        "deals",
        "deals",
        recents_item="deal",
        fields="deal_fields",
        read_params=_ro(status="open,won,lost,deleted"),
        description="Deals, including deleted ones (last 30 days, is_deleted) and archived ones.",
        archived_path="/api/v2/deals/archived",
        archived_setting="include_archived_deals",
        delete_marker="is_deleted",
        deleted_setting="include_deleted_deals",
        live_params=_ro(status="open,won,lost"),
        include_fields=_DEAL_INCLUDE,
        write_rank=90,
        referenced_as=("deal_id",),
        natural_field="title",
        search_fields=frozenset({"title", "notes", "custom_fields"}),
    ),
    _v2_entity("persons", "persons", recents_item="person", fields="person_fields", include_fields=_PERSON_INCLUDE,
               write_rank=70, referenced_as=("person_id",), natural_field="name",
               search_fields=frozenset({"email", "phone", "name", "notes", "custom_fields"}),
               list_aliases=_ro(email="emails", phone="phones")),
    _v2_entity("organizations", "organizations", recents_item="organization", fields="organization_fields",
               include_fields=_ORGANIZATION_INCLUDE, write_rank=60,
               referenced_as=("org_id", "organization_id", "rel_owner_org_id", "rel_linked_org_id"),
               natural_field="name", search_fields=frozenset({"name", "address", "notes", "custom_fields"})),
    _v2_entity("activities", "activities", recents_item="activity", fields="activity_fields", search=False,
               include_fields=("attendees",), write_rank=130, referenced_as=("activity_id",)),
    _v2_entity("products", "products", recents_item="product", fields="product_fields", write_rank=80,
               referenced_as=("product_id",), natural_field="name", updated_until=False,
               search_fields=frozenset({"name", "code", "custom_fields"})),
    _v2_entity(
        "pipelines", "pipelines", recents_item="pipeline", fields=None, search=False,
        replication=Replication.FULL, write_rank=10, read_token_cost=5, referenced_as=("pipeline_id",),
    ),
    _v2_entity(
        "stages", "stages", recents_item="stage", fields=None, search=False, replication=Replication.FULL,
        read_token_cost=5,
        write_rank=20, referenced_as=("stage_id",),
    ),
    # --- v1 resources ---------------------------------------------------------------------------
    Resource(
        name="notes",
        title="notes",
        v1_path="/v1/notes",
        replication=Replication.RECENTS,
        replication_key="update_time",
        recents_item="note",
        fields_resource="note_fields",
        writes=_v1_crud("/v1/notes"),
        write_rank=140,
    ),
    Resource(
        name="files",
        title="files",
        v1_path="/v1/files",
        page_limit=100,
        replication=Replication.RECENTS,
        replication_key="update_time",
        recents_item="file",
        writes=Writes(create_path="/v1/files", create_multipart=True, update_path="/v1/files/{id}",
                      update_method=UpdateMethod.PUT, delete_path="/v1/files/{id}"),
        write_rank=150,
        download_path="/v1/files/{id}/download",
    ),
    Resource(
        name="filters",
        title="filters",
        v1_path="/v1/filters",
        pagination=Pagination.NONE,
        replication=Replication.RECENTS,
        replication_key="update_time",
        recents_item="filter",
        writes=Writes(
            create_path="/v1/filters",
            update_path="/v1/filters/{id}",
            update_method=UpdateMethod.PUT,
            delete_path="/v1/filters/{id}",
            bulk_delete_path="/v1/filters",
            bulk_delete_max=1000,
        ),
        write_rank=150,
    ),
    Resource(
        name="activity_types",
        title="activityTypes",
        v1_path="/v1/activityTypes",
        pagination=Pagination.NONE,
        replication=Replication.RECENTS,
        replication_key="update_time",
        recents_item="activityType",
        writes=_v1_crud("/v1/activityTypes"),
        write_rank=57,
    ),
    Resource(
        name="call_logs",
        title="callLogs",
        v1_path="/v1/callLogs",
        key_type="string",
        page_limit=50,
        timestamp_style="iso",
        writes=Writes(create_path="/v1/callLogs", delete_path="/v1/callLogs/{id}"),
        write_rank=150,
    ),
    Resource(
        name="currencies", title="currencies", v1_path="/v1/currencies", pagination=Pagination.NONE
    ),
    Resource(
        name="goals",
        title="goals",
        v1_path="/v1/goals/find",
        key_type="string",
        pagination=Pagination.NONE,
        records_path="goals",
        timestamp_style="iso",
        writes=Writes(
            create_path="/v1/goals",
            update_path="/v1/goals/{id}",
            update_method=UpdateMethod.PUT,
            delete_path="/v1/goals/{id}",
        ),
        write_rank=150,
    ),
    Resource(
        name="leads",
        title="leads",
        v1_path="/v1/leads",
        key_type="uuid",
        fields_resource="deal_fields",  # leads carry the custom fields of deals
        timestamp_style="iso",
        has_custom_fields=True,
        writes=Writes(
            create_path="/v1/leads",
            update_path="/v1/leads/{id}",
            update_method=UpdateMethod.PATCH,
            delete_path="/v1/leads/{id}",
            search_path="/api/v2/leads/search",
            search_fields=frozenset({"title", "notes", "custom_fields"}),
        ),
        write_rank=100,
        referenced_as=("lead_id",),
        natural_field="title",
        archived_path="/v1/leads/archived",
        archived_updated_since=False,
        replication=Replication.UPDATED_SINCE,
        replication_key="update_time",
        description="Leads: GET /v1/leads lists the non-archived ones, GET /v1/leads/archived the archived ones.",
    ),
    Resource(
        name="lead_labels",
        title="leadLabels",
        v1_path="/v1/leadLabels",
        key_type="uuid",
        pagination=Pagination.NONE,
        timestamp_style="iso",
        writes=_v1_crud("/v1/leadLabels", update=UpdateMethod.PATCH),
        write_rank=55,
        read_token_cost=10,
    ),
    Resource(
        name="lead_sources",
        title="leadSources",
        v1_path="/v1/leadSources",
        key="name",
        key_type="string",
        pagination=Pagination.NONE,
        read_token_cost=2,
    ),
    Resource(
        name="mail_threads",
        title="mailbox/mailThreads",
        v1_path="/v1/mailbox/mailThreads",
        partitions=tuple(_ro(folder=f) for f in ("inbox", "drafts", "sent", "archive")),
        timestamp_style="iso",
        writes=Writes(
            update_path="/v1/mailbox/mailThreads/{id}",
            update_method=UpdateMethod.PUT,
            delete_path="/v1/mailbox/mailThreads/{id}",
        ),
        write_rank=150,
    ),
    Resource(
        name="permission_sets",
        title="permissionSets",
        v1_path="/v1/permissionSets",
        key_type="string",
        pagination=Pagination.NONE,
        description="Permission sets of the company's apps (sales, projects, …) with their assignment counts.",
    ),
    Resource(
        name="roles", title="roles", v1_path="/v1/roles", writes=_v1_crud("/v1/roles"), write_rank=40,
        referenced_as=("parent_role_id",),
    ),
    Resource(
        name="teams",
        title="legacyTeams",
        v1_path="/v1/legacyTeams",
        pagination=Pagination.NONE,
        writes=Writes(create_path="/v1/legacyTeams", update_path="/v1/legacyTeams/{id}",
                      update_method=UpdateMethod.PUT),
        write_rank=50,
    ),
    Resource(
        name="users",
        title="users",
        v1_path="/v1/users",
        pagination=Pagination.NONE,
        replication=Replication.RECENTS,
        replication_key="modified",
        added_key="created",
        recents_item="user",
        writes=Writes(create_path="/v1/users", update_path="/v1/users/{id}", update_method=UpdateMethod.PUT),
        write_rank=30,
        find_path="/v1/users/find",
    ),
    Resource(
        name="webhooks",
        title="webhooks",
        v1_path="/v1/webhooks",
        pagination=Pagination.NONE,
        writes=Writes(create_path="/v1/webhooks", delete_path="/v1/webhooks/{id}"),
        write_rank=150,
        read_token_cost=10,
    ),
    Resource(
        name="projects",
        title="projects",
        v1_path="/v1/projects",
        v2_path="/api/v2/projects",
        read_version=2,
        pagination=Pagination.CURSOR,
        timestamp_style="iso",
        writes=Writes(
            create_path="/api/v2/projects",
            update_path="/api/v2/projects/{id}",
            update_method=UpdateMethod.PATCH,
            delete_path="/api/v2/projects/{id}",
        ),
        write_rank=110,
        referenced_as=("project_id",),
        read_token_cost=10,
    ),
    Resource(
        name="tasks",
        title="tasks",
        v1_path="/v1/tasks",
        v2_path="/api/v2/tasks",
        read_version=2,
        pagination=Pagination.CURSOR,
        timestamp_style="iso",
        writes=Writes(
            create_path="/api/v2/tasks",
            update_path="/api/v2/tasks/{id}",
            update_method=UpdateMethod.PATCH,
            delete_path="/api/v2/tasks/{id}",
        ),
        write_rank=120,
        referenced_as=("task_id", "parent_task_id"),
        read_token_cost=10,
    ),
    Resource(
        name="subscriptions",
        title="subscriptions",
        v1_path="/v1/subscriptions",
        retired="Pipedrive removed the Subscriptions API (recurring/installment subscriptions) in 2025; "
        "deal installments in API v2 replace installment subscriptions.",
    ),
    # --- custom-field definitions ---------------------------------------------------------------
    _fields("deal_fields", "dealFields", "deals", bulk_delete=True, v2=True),
    _fields("person_fields", "personFields", "persons", bulk_delete=True, v2=True),
    _fields("organization_fields", "organizationFields", "organizations", bulk_delete=True, v2=True),
    _fields("product_fields", "productFields", "products", bulk_delete=True, v2=True),
    _fields("activity_fields", "activityFields", "activities", bulk_delete=False, v2=True, writable=False),
    _fields("note_fields", "noteFields", "notes", bulk_delete=False, writable=False),
    _fields("lead_fields", "leadFields", "leads", bulk_delete=False, writable=False),
    # --- nested reads -----------------------------------------------------------------------------
    _child(
        "deal_products",
        "deals/{id}/products",
        "deals",
        f"{_DEALS_V2}/{{parent_id}}/products",
        version=2,
        pagination=Pagination.CURSOR,
        timestamp_style="iso",
        writes=Writes(
            create_path=f"{_DEALS_V2}/{{parent_id}}/products",
            update_path=f"{_DEALS_V2}/{{parent_id}}/products/{{id}}",
            update_method=UpdateMethod.PATCH,
            delete_path=f"{_DEALS_V2}/{{parent_id}}/products/{{id}}",
            bulk_delete_path=f"{_DEALS_V2}/{{parent_id}}/products",
            bulk_delete_max=100,
        ),
        write_rank=200,
        bulk_path=f"{_DEALS_V2}/products",
        bulk_param="deal_ids",
        bulk_max=100,
        read_token_cost=10,
    ),
    _child("deal_participants", "deals/{id}/participants", "deals", "/v1/deals/{parent_id}/participants",
           read_token_cost=10),
    _child("deal_flow", "deals/{id}/flow", "deals", "/v1/deals/{parent_id}/flow", key="id",
           key_type="string", description="Updates (flow) of a deal; key is '<object>:<id>'.", read_token_cost=40),
    _child("person_flow", "persons/{id}/flow", "persons", "/v1/persons/{parent_id}/flow", key_type="string",
           read_token_cost=40),
    _child("organization_flow", "organizations/{id}/flow", "organizations",
           "/v1/organizations/{parent_id}/flow", key_type="string", read_token_cost=40),
    _child("deal_followers", "deals/{id}/followers", "deals", f"{_DEALS_V2}/{{parent_id}}/followers",
           version=2, key="user_id", pagination=Pagination.CURSOR, timestamp_style="iso",
           read_token_cost=10),
    _child("person_followers", "persons/{id}/followers", "persons", "/api/v2/persons/{parent_id}/followers",
           version=2, key="user_id", pagination=Pagination.CURSOR, timestamp_style="iso",
           read_token_cost=10),
    _child("organization_followers", "organizations/{id}/followers", "organizations",
           "/api/v2/organizations/{parent_id}/followers", version=2, key="user_id",
           pagination=Pagination.CURSOR, timestamp_style="iso", read_token_cost=10),
    _child("product_followers", "products/{id}/followers", "products",
           "/api/v2/products/{parent_id}/followers", version=2, key="user_id",
           pagination=Pagination.CURSOR, timestamp_style="iso", read_token_cost=10),
    _child("user_followers", "users/{id}/followers", "users", "/api/v2/users/{parent_id}/followers",
           version=2, key="user_id", pagination=Pagination.CURSOR, timestamp_style="iso",
           read_token_cost=10),
    _child("deal_permitted_users", "deals/{id}/permittedUsers", "deals", "/v1/deals/{parent_id}/permittedUsers",
           key="user_id", pagination=Pagination.NONE, read_token_cost=10),
    _child("deal_mail_messages", "deals/{id}/mailMessages", "deals", "/v1/deals/{parent_id}/mailMessages"),
    _child("person_mail_messages", "persons/{id}/mailMessages", "persons",
           "/v1/persons/{parent_id}/mailMessages"),
    _child("organization_mail_messages", "organizations/{id}/mailMessages", "organizations",
           "/v1/organizations/{parent_id}/mailMessages"),
    _child("mail_thread_messages", "mailbox/mailThreads/{id}/mailMessages", "mail_threads",
           "/v1/mailbox/mailThreads/{parent_id}/mailMessages", pagination=Pagination.NONE,
           timestamp_style="iso"),
    _child("organization_relationships", "organizationRelationships", "organizations",
           "/v1/organizationRelationships?org_id={parent_id}", pagination=Pagination.NONE,
           writes=_v1_crud("/v1/organizationRelationships"), write_rank=200, key_is_global=True),
    _child("deal_installments", "deals/installments", "deals", f"{_DEALS_V2}/installments?deal_ids={{parent_id}}",
           version=2, pagination=Pagination.CURSOR, timestamp_style="iso", read_token_cost=10,
           bulk_path=f"{_DEALS_V2}/installments", bulk_param="deal_ids", bulk_max=100, min_plan="growth",
           description="Installments of deals (Growth plan and above; skipped with a warning on lower plans)."),
    _child("product_variations", "products/{id}/variations", "products",
           "/api/v2/products/{parent_id}/variations", version=2, pagination=Pagination.CURSOR,
           timestamp_style="iso", read_token_cost=10, description="Variations of products, with their prices."),
    _child("permission_set_assignments", "permissionSets/{id}/assignments", "permission_sets",
           "/v1/permissionSets/{parent_id}/assignments", key="user_id",
           description="Users assigned to each permission set."),
    _child("goal_results", "goals/{id}/results", "goals", "/v1/goals/{parent_id}/results",
           key="period_start", key_type="string", pagination=Pagination.NONE, timestamp_style="iso",
           parent_params=MappingProxyType({"period.start": "duration.start", "period.end": "duration.end"}),
           description="Progress of each goal over its whole duration (period_start to period_end)."),
    *(
        _child(f"{entity}_changelog", f"{title}/{{id}}/changelog", title, f"/v1/{title}/{{parent_id}}/changelog",
               key="time", key_type="string", pagination=Pagination.CURSOR, key_columns=("time", "field_key"),
               description=f"Field history of {title} (old and new value of each change), read for the {title} "
               "changed since the bookmark.")
        for entity, title in (("deal", "deals"), ("person", "persons"), ("organization", "organizations"))
    ),
    _child("deal_persons", "deals/{id}/persons", "deals", "/v1/deals/{parent_id}/persons",
           retired="GET /v1/deals/{id}/persons left the v1 API in 2026 (absent from the 2026-08 spec); "
           "read deal_participants (person_id) instead."),
)

CATALOGUE: MappingProxyType[str, Resource] = MappingProxyType({r.name: r for r in RESOURCES})

#: the v1 change feed the tap reads ``Replication.RECENTS`` resources from
RECENTS_PATH = "/v1/recents"
#: the search across item types (deals, persons, organizations, products, leads, files, …)
ITEM_SEARCH_PATH = "/api/v2/itemSearch"
#: ``x-token-cost`` of read paths that are not a resource's ``read_path`` (checked against the documents)
EXTRA_READ_TOKEN_COSTS: MappingProxyType[str, int] = MappingProxyType({
    RECENTS_PATH: 20,
    "/api/v2/deals/archived": 20,
    ITEM_SEARCH_PATH: 20,
    "/api/v2/deals/search": 20,
    "/api/v2/persons/search": 20,
    "/api/v2/organizations/search": 20,
    "/api/v2/products/search": 20,
    "/api/v2/leads/search": 20,
    "/v1/leads/archived": 40,
    "/api/v2/deals/products": 10,
    "/api/v2/deals/installments": 10,
    "/v1/users/find": 40,
})


def read_token_cost(path: str) -> int:
    """Pipedrive's token cost of one GET of ``path`` (a read path, ``{parent_id}`` placeholders kept)."""
    if path in EXTRA_READ_TOKEN_COSTS:
        return EXTRA_READ_TOKEN_COSTS[path]
    for res in RESOURCES:
        if res.retired is None and (res.v2_path if res.read_version == 2 else res.v1_path) == path:
            return res.read_token_cost
    return 0


def get(name: str) -> Resource:
    """Return the resource called ``name`` or raise a ``KeyError`` naming the known ones."""
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        msg = f"unknown Pipedrive resource {name!r}; known resources: {known}"
        raise KeyError(msg) from None


def active() -> tuple[Resource, ...]:
    """Resources Pipedrive still serves (retired ones stay in the catalogue, never called)."""
    return tuple(r for r in RESOURCES if r.retired is None)


def children_of(parent: str) -> tuple[Resource, ...]:
    """Active nested resources read per record of ``parent``."""
    return tuple(r for r in active() if r.parent == parent)
