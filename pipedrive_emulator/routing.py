"""The route table, generated from ``pipedrive_core.catalogue.RESOURCES``.

Every active resource gets its list path (v1 and/or v2), ``/{id}`` get-one, nested ``{parent_id}`` paths
and the writes its :class:`~pipedrive_core.catalogue.Writes` declares (plus bulk deletes). v1 paths of
``v1_sunset`` resources answer 410 unless the emulator runs in legacy mode; retired resources answer 410
(subscriptions) or 404 with the reason. Literal routes (``/deals/search``, ``/deals/archived``) are
matched before ``/{id}``.

Each route carries its token cost (``x-token-cost`` of the spec, by method and version) for the daily
budget: v1 get one 2, list 20, create/update 10, delete 6, bulk delete 10, search/flow 40; v2 get one 1,
list 10 (pipelines/stages 5, archived deals 20), create/update 5, delete 3, bulk delete 15, search 20.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pipedrive_core.catalogue import RESOURCES, Pagination, Resource, Writes

from . import reads, recents, search, special, writes
from .envelope import Answer, ApiError
from .request import Context, Request

Handler = Callable[[Context, Request], Answer]

#: token cost per (version, kind) of route, from the documents' ``x-token-cost`` and kept apart from the catalogue's
#: ``read_token_cost`` on purpose (the emulator is the cross-check; tests compare both with the documents)
COSTS: dict[tuple[int, str], int] = {
    (1, "get"): 2, (1, "list"): 20, (1, "create"): 10, (1, "update"): 10, (1, "delete"): 6,
    (1, "bulk_delete"): 10, (1, "search"): 40, (1, "flow"): 40,
    (2, "get"): 1, (2, "list"): 10, (2, "create"): 5, (2, "update"): 5, (2, "delete"): 3,
    (2, "bulk_delete"): 15, (2, "search"): 20,
}
SUNSET_TEXT = ("This endpoint is no longer supported: API v1 {what} endpoints were removed on 2026-08-01. "
               "Use API v2 (/api/v2/{title}) instead.")


@dataclass(frozen=True)
class Route:
    """One method + path pattern and what answers it."""

    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    version: int
    kind: str
    cost: int
    resource: str | None = None
    #: answered 410 while the emulator runs with ``v1_sunset``
    sunset: bool = False

    @property
    def is_search(self) -> bool:
        """Search endpoints have their own, lower burst limit."""
        return self.kind == "search"


def _compile(template: str) -> re.Pattern[str]:
    path = template.split("?", 1)[0]
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


class Router:
    """Routes in match order; :meth:`match` returns the route and path parameters."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, method: str, template: str, handler: Handler, *, version: int, kind: str,
            resource: str | None = None, sunset: bool = False, cost: int | None = None) -> None:
        """Register a route once (the first registration of a method + path wins)."""
        path = template.split("?", 1)[0]
        if (method, path) in self._seen:
            return
        self._seen.add((method, path))
        price = cost if cost is not None else COSTS.get((version, kind), 0)
        self.routes.append(Route(method, path, _compile(path), handler, version, kind, price, resource, sunset))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for ``method path``, its parameters, and whether the path exists for another method."""
        path_exists = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), True
            path_exists = True
        return None, {}, path_exists


def _gone(resource: Resource) -> Handler:
    def handler(ctx: Context, req: Request) -> Answer:
        raise ApiError(410, f"Gone: {resource.retired}")

    return handler


def _missing(resource: Resource) -> Handler:
    def handler(ctx: Context, req: Request) -> Answer:
        raise ApiError(404, f"Unknown method: {resource.retired}")

    return handler


def build_router() -> Router:
    """Every route of the emulator, derived from the catalogue."""
    router = Router()
    _fixed_routes(router)
    for resource in RESOURCES:
        if resource.retired is not None:
            handler = _gone(resource) if resource.parent is None else _missing(resource)
            path = resource.v1_path or resource.v2_path or ""
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                router.add(method, path, handler, version=1, kind="gone", resource=resource.name)
                router.add(method, f"{path}/{{id}}", handler, version=1, kind="gone", resource=resource.name)
            continue
        _resource_routes(router, resource)
    return router


def _fixed_routes(router: Router) -> None:
    router.add("GET", "/v1/recents", recents.recents, version=1, kind="list")
    router.add("GET", "/api/v2/itemSearch/field", search.field_search, version=2, kind="search")
    router.add("GET", "/api/v2/itemSearch", search.item_search, version=2, kind="search")
    for entity in search.DEFAULT_FIELDS:
        router.add("GET", f"/api/v2/{entity}/search", _search(entity), version=2, kind="search",
                   resource=entity)
    router.add("GET", "/api/v2/deals/archived", _list_v2(_res("deals"), archived=True),
               version=2, kind="list", resource="deals", cost=20)
    router.add("GET", "/v1/users/me", writes.users_me, version=1, kind="get", resource="users")
    for resource in RESOURCES:  # literal paths before the /{id} routes they would otherwise match
        if resource.retired is not None:
            continue
        if resource.find_path is not None:
            router.add("GET", resource.find_path, _special(special.find_records, resource),
                       version=1, kind="search", resource=resource.name, cost=40)
        if resource.bulk_path is not None:
            router.add("GET", resource.bulk_path, _special(special.list_bulk, resource),
                       version=_version_of(resource.bulk_path), kind="list", resource=resource.name)
        if resource.archived_path is not None and resource.v1_path is not None:
            router.add("GET", resource.archived_path, _list_v1(resource, archived=True),
                       version=1, kind="list", resource=resource.name, cost=40)


def _res(name: str) -> Resource:
    return next(r for r in RESOURCES if r.name == name)


def _list_v1(resource: Resource, *, archived: bool = False) -> Handler:
    def handler(ctx: Context, req: Request) -> Answer:
        return reads.list_v1(ctx, resource, req, archived=archived)

    return handler


def _special(fn: Callable[[Context, Resource, Request], Answer], resource: Resource) -> Handler:
    """A route handler calling ``fn`` for ``resource``, behind the resource's plan gate."""

    def handler(ctx: Context, req: Request) -> Answer:
        special.check_plan(ctx, resource)
        return fn(ctx, resource, req)

    return handler


def _list_v2(resource: Resource, *, archived: bool = False) -> Handler:
    def handler(ctx: Context, req: Request) -> Answer:
        return reads.list_v2(ctx, resource, req, archived=archived)

    return handler


def _get_one(resource: Resource, variant: str) -> Handler:
    def handler(ctx: Context, req: Request) -> Answer:
        return reads.get_one(ctx, resource, req, variant)

    return handler


def _search(entity: str) -> Handler:
    def handler(ctx: Context, req: Request) -> Answer:
        return search.entity_search(ctx, entity, req)

    return handler


def _resource_routes(router: Router, resource: Resource) -> None:
    is_child = resource.parent is not None
    if resource.v2_path is not None:
        cost = 5 if resource.name in ("pipelines", "stages") else None
        router.add("GET", resource.v2_path, _list_v2(resource),
                   version=2, kind="list", resource=resource.name, cost=cost)
        if not is_child:
            router.add("GET", f"{resource.v2_path}/{{id}}",
                       _get_one(resource, "v2"),
                       version=2, kind="get", resource=resource.name)
    if resource.v1_path is not None:
        sunset = resource.v1_sunset
        kind = "flow" if resource.name.endswith("_flow") else "list"
        router.add("GET", resource.v1_path, _v1_list_handler(resource),
                   version=1, kind=kind, resource=resource.name, sunset=sunset)
        if not is_child and resource.pagination is not None:
            item_path = resource.v1_path.removesuffix("/find")
            router.add("GET", f"{item_path}/{{id}}",
                       _get_one(resource, "v1"),
                       version=1, kind="get", resource=resource.name, sunset=sunset)
    if resource.writes is not None:
        _write_routes(router, resource, resource.writes)
    if resource.v1_sunset and resource.v1_path is not None:  # legacy v1 writes of v2 entities
        legacy = Writes(create_path=resource.v1_path, update_path=f"{resource.v1_path}/{{id}}",
                        update_method=resource.writes.update_method if resource.writes else Writes().update_method,
                        delete_path=f"{resource.v1_path}/{{id}}")
        _write_routes(router, resource, legacy, force_method="PUT", sunset=True)
    if resource.name == "deal_products":
        router.add("GET", "/v1/deals/{parent_id}/products",
                   _list_v1(resource),
                   version=1, kind="list", resource=resource.name, sunset=True)
    if resource.fields_of is not None and resource.v2_path is not None:
        router.add("GET", f"{resource.v2_path}/{{id}}",
                   _get_one(resource, "v2"),
                   version=2, kind="get", resource=resource.name)
    if resource.download_path is not None:
        router.add("GET", resource.download_path, special.download_file, version=1, kind="list",
                   resource=resource.name)


def _v1_list_handler(resource: Resource) -> Handler:
    """v1 lists: offset pages; cursor pages newest first (field history); goal results per period."""
    if resource.parent_params:
        return _special(special.goal_results, resource)
    if resource.read_version == 1 and resource.pagination is Pagination.CURSOR:
        return _special(special.list_newest_first, resource)
    return _list_v1(resource)


def _version_of(path: str) -> int:
    return 2 if path.startswith("/api/v2/") else 1


WriteFn = Callable[[Context, Resource, Request, int], Answer]


def _bind(fn: WriteFn, resource: Resource, version: int) -> Handler:
    """A route handler calling ``fn`` for ``resource`` in API ``version``."""

    def handler(ctx: Context, req: Request) -> Answer:
        return fn(ctx, resource, req, version)

    return handler


def _write_routes(router: Router, resource: Resource, w: Writes, *, force_method: str | None = None,
                  sunset: bool = False) -> None:
    verbs: list[tuple[str, str | None, WriteFn, str]] = [
        ("DELETE", w.bulk_delete_path, writes.bulk_delete, "bulk_delete"),
        ("POST", w.create_path, writes.create, "create"),
        (force_method or w.update_method.value, w.update_path, writes.update, "update"),
        ("DELETE", w.delete_path, writes.delete, "delete"),
    ]
    for method, path, fn, kind in verbs:
        if path:
            version = _version_of(path)
            router.add(method, path, _bind(fn, resource, version), version=version, kind=kind,
                       resource=resource.name, sunset=sunset)


def sunset_error(route: Route) -> ApiError:
    """The 410 a retired v1 entity endpoint answers."""
    title = (route.resource or "").replace("deal_products", "deals/{id}/products")
    return ApiError(410, SUNSET_TEXT.format(what=title, title=title))
