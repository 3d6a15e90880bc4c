"""Entry point for the peer (singer-io tap-pipedrive 2.1.0), run with the peer's own virtualenv Python.

Two things are changed before the peer's own ``main()`` runs, nothing else (see ``benchmarks/PEER_NOTES.md``):

1. **Host.** tap-pipedrive 2.1.0 hard-codes ``BASE_URL = "https://api.pipedrive.com"`` (``tap_pipedrive/config.py``,
   imported by name into ``tap_pipedrive/tap.py``) and has no setting for it, so that one module global is pointed
   at the emulator.
2. **Stale schema entries.** The peer checks every record with ``singer.Transformer`` against its own schema and
   exits on the first mismatch. For the built-in fields in :data:`WIDENED_TYPES` that schema lacks the type
   Pipedrive's v2 OpenAPI document gives the field, so the peer would stop on correct data. Those entries are
   widened (the documented type is added, every type the peer had is kept) the first time the stream builds its
   schema; requests, pagination and the per-record work are the peer's own.

Usage: ``<peer-venv>/bin/python benchmarks/peer_entry.py http://127.0.0.1:PORT --config c.json --catalog k.json``
Only the standard library and the peer are imported here (this file runs outside the project venv).
"""

import importlib
import sys
from collections.abc import Callable
from typing import Any

#: stream → built-in property → JSON-schema types the peer's schema of that property must also accept.
#: organizations.annual_revenue: ``type: integer, nullable: true`` in /work/shared/pipedrive-openapi/openapi-v2.yaml
#: (GET /api/v2/organizations). The peer types it from ``field_type: monetary`` in ``GET /v1/organizationFields``
#: as ``{"type": ["null", "object"], "properties": {"currency", "value"}}``, the shape of a v2 *custom* monetary field.
WIDENED_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "organizations": {"annual_revenue": ("integer",)},
}


def widen_schema(schema: dict[str, Any], widened: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Add the ``widened`` types to the matching top-level properties of ``schema``, in place, and return it.

    Types already there are kept in their order, so values the peer accepted before come out unchanged. A property
    the schema does not declare, or declares without a ``type`` (which accepts anything), is left as it is.
    """
    properties = schema.get("properties", {})
    for name, extra in widened.items():
        prop = properties.get(name)
        if prop is None or "type" not in prop:
            continue
        types = [prop["type"]] if isinstance(prop["type"], str) else list(prop["type"])
        prop["type"] = types + [t for t in extra if t not in types]
    return schema


def widening_get_schema(original: Callable[[Any], dict[str, Any]],
                        widened: dict[str, tuple[str, ...]]) -> Callable[[Any], dict[str, Any]]:
    """A ``get_schema`` that widens the schema ``original`` builds, once, before it is cached.

    The peer calls ``stream.get_schema()`` for every record; like the peer's own method this returns the cached
    schema after one attribute test, so the per-record cost is the same.
    """

    def get_schema(self: Any) -> dict[str, Any]:
        if not self.schema_cache:
            self.schema_cache = widen_schema(original(self), widened)
        return self.schema_cache

    return get_schema


def patch_stale_schemas(streams: list[Any], widened_types: dict[str, dict[str, tuple[str, ...]]]) -> None:
    """Give the class of each stream named in ``widened_types`` a widening ``get_schema``.

    Raises if a named stream is missing, so a different peer version fails loudly instead of running unpatched.
    """
    by_name = {stream.schema: stream for stream in streams}
    for name, widened in widened_types.items():
        if name not in by_name:
            raise RuntimeError(f"peer_entry: the peer has no stream {name!r} to patch")
        cls = type(by_name[name])
        cls.get_schema = widening_get_schema(cls.get_schema, widened)
        fields = ", ".join(f"{name}.{field} +{'/'.join(types)}" for field, types in widened.items())
        print(f"peer_entry: stale schema entries widened: {fields}", file=sys.stderr)


def main() -> None:
    base_url = sys.argv[1].rstrip("/")
    sys.argv = ["tap-pipedrive", *sys.argv[2:]]
    # the peer's package, after argv is set; typed Any because in this project's venv the name is our own tap
    peer_tap: Any = importlib.import_module("tap_pipedrive.tap")

    peer_tap.BASE_URL = base_url
    patch_stale_schemas(peer_tap.PipedriveTap.streams, WIDENED_TYPES)
    from tap_pipedrive.cli import main as peer_main  # noqa: PLC0415

    peer_main()


if __name__ == "__main__":
    main()
