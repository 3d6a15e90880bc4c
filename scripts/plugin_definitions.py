"""Write the Meltano plugin definitions of tap-pipedrive and target-pipedrive from the plugins themselves.

The settings Meltano shows (`meltano config`, `meltano add`) must be the ones the tap and the target
accept, with the same types and defaults. Copying them by hand into ``meltano.yml`` drifted (an integer
``request_timeout``, settings the target ignores), so they are generated from each plugin's
``config_jsonschema`` and capabilities, once, into two forms:

* ``plugins/hub/<plugin>.yml``: the Meltano Hub format, for other projects:
  ``meltano add --plugin-type extractor tap-pipedrive --from-ref plugins/hub/tap-pipedrive.yml``;
* ``plugins/<type>/<plugin>--pipedrive-singer.lock``: the lock file this project's ``meltano.yml`` uses (its
  entries name only the variant and ``pip_url: -e .``), exactly as for the Hub plugins, so no Hub is needed.

Usage: ``python scripts/plugin_definitions.py`` writes them; ``--check`` fails when one is stale (a test runs it).
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from singer_sdk.plugin_base import PluginBase  # noqa: E402

from pipedrive_core.catalogue import active  # noqa: E402
from tap_pipedrive.tap import TapPipedrive  # noqa: E402
from target_pipedrive.target import TargetPipedrive  # noqa: E402

VARIANT = "pipedrive-singer"
PIP_URL = "pipedrive-singer"
#: Either an API token or the three OAuth settings.
GROUPS = [["api_token"], ["oauth_client_id", "oauth_client_secret", "oauth_refresh_token"]]
#: Words written the way Meltano Hub labels write them.
WORDS = {"api": "API", "url": "URL", "oauth": "OAuth", "id": "ID", "ids": "IDs", "json": "JSON"}
#: JSON schema types whose Meltano setting kind has another name (a float such as 0.5 is a ``decimal``).
KINDS = {"number": "decimal"}


@dataclass(frozen=True)
class Plugin:
    """One plugin of this repository and what its Meltano definition adds to the class."""

    plugin_type: str
    cls: type[PluginBase]
    label: str
    description: str
    keywords: tuple[str, ...]
    #: settings the SDK declares for every target but this one ignores
    omitted: tuple[str, ...] = ()
    #: Meltano's default ``select`` rules (None: Meltano's own default, everything)
    select: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.cls.name


def default_select() -> tuple[str, ...]:
    """The tap's default selection as Meltano rules.

    Meltano selects every stream (``*.*``) unless ``select`` says otherwise, which overrides the streams the tap
    leaves out by default (``selected-by-default: false``: per-parent children that cost a request per parent).
    So the definition lists the streams selected by default, plus the streams that exist only when a setting
    asks for them (``search_terms``: ``<resource>_search``; ``reconcile_deletes``: ``deleted_records``).
    """
    streams = [r.name for r in active() if r.selected_by_default]
    return (*(f"{name}.*" for name in streams), "*_search.*", "deleted_records.*")


PLUGINS = (
    Plugin("extractors", TapPipedrive, "Pipedrive",
           "Pipedrive CRM: every resource as a stream, full and incremental, custom fields typed",
           ("meltano_sdk", "crm", "api"), select=default_select()),
    Plugin("loaders", TargetPipedrive, "Pipedrive",
           "Pipedrive CRM: reverse ETL (create, update, upsert, delete) with a crash-safe ledger",
           ("meltano_sdk", "crm", "api", "reverse_etl"),
           omitted=("add_record_metadata", "load_method")),
)


def label(name: str, schema: dict[str, Any]) -> str:
    """Hub-style label: the SDK's title for its built-in settings, else the name in words (``OAuth Client ID``)."""
    if "title" in schema:
        return str(schema["title"])
    return " ".join(WORDS.get(word, word.capitalize()) for word in name.split("_"))


def plain(value: Any) -> Any:
    """A JSON/YAML-safe default (the SDK declares some defaults as enum members)."""
    return value.value if isinstance(value, enum.Enum) else value


def setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One Meltano setting from the plugin's JSON schema property."""
    types = [t for t in schema.get("type", ["string"]) if t != "null"] if isinstance(schema.get("type"), list) \
        else [schema.get("type", "string")]
    kind = types[0] if types else "string"
    out: dict[str, Any] = {"name": name, "label": label(name, schema)}
    if "enum" in schema:
        out["kind"] = "options"
        out["options"] = [{"label": str(plain(v)), "value": plain(v)} for v in schema["enum"]]
    elif kind == "string" and schema.get("format") == "date-time":
        out["kind"] = "date_iso8601"
    else:
        out["kind"] = KINDS.get(kind, kind)
    if schema.get("description"):
        out["description"] = " ".join(str(schema["description"]).split())
    if schema.get("secret"):
        out["sensitive"] = True
    if schema.get("default") is not None:
        out["value"] = plain(schema["default"])
    return out


def about_json(cls: type[PluginBase]) -> dict[str, Any]:
    """What ``<plugin> --about --format json`` prints: settings (the SDK's built-ins included) and capabilities."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cls.print_about(output_format="json")
    return dict(json.loads(out.getvalue()))


def definition(plugin: Plugin) -> dict[str, Any]:
    """The plugin's definition in the Meltano Hub format."""
    about = about_json(plugin.cls)
    properties: dict[str, Any] = about["settings"]["properties"]
    return {
        "name": plugin.name,
        "variant": VARIANT,
        "namespace": plugin.name.replace("-", "_"),
        "label": plugin.label,
        "description": plugin.description,
        "pip_url": PIP_URL,
        "executable": plugin.name,
        "domain_url": "https://www.pipedrive.com/",
        "keywords": list(plugin.keywords),
        "maintenance_status": "active",
        "capabilities": about["capabilities"],
        "settings_group_validation": GROUPS,
        "settings": [setting(name, schema) for name, schema in properties.items() if name not in plugin.omitted],
        **({"select": list(plugin.select)} if plugin.select is not None else {}),
    }


def hub_path(plugin: Plugin) -> Path:
    return ROOT / "plugins" / "hub" / f"{plugin.name}.yml"


def lock_path(plugin: Plugin) -> Path:
    return ROOT / "plugins" / plugin.plugin_type / f"{plugin.name}--{VARIANT}.lock"


def render(plugin: Plugin) -> dict[Path, str]:
    """Both files of one plugin, by path."""
    hub = definition(plugin)
    header = (f"# Meltano Hub definition of {plugin.name} (variant {VARIANT}), generated by "
              "scripts/plugin_definitions.py from the plugin's settings.\n"
              f"# Use: meltano add --plugin-type {plugin.plugin_type[:-1]} {plugin.name} --from-ref <this file>\n")
    lock = {"plugin_type": plugin.plugin_type, **hub}
    for key in ("domain_url", "keywords", "maintenance_status"):
        lock.pop(key)
    return {
        hub_path(plugin): header + yaml.safe_dump(hub, sort_keys=False, width=110, allow_unicode=True),
        lock_path(plugin): json.dumps(lock, indent=2, ensure_ascii=False) + "\n",
    }


def main() -> int:
    """Write the files, or with ``--check`` report the stale ones."""
    stale = []
    for plugin in PLUGINS:
        for path, text in render(plugin).items():
            if "--check" in sys.argv[1:]:
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    stale.append(path.relative_to(ROOT))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(map(str, stale))}; run python scripts/plugin_definitions.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
