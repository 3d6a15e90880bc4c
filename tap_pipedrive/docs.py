"""Generate the streams and settings tables of ``docs/tap.md`` from the catalogue and the settings schema.

``python -m tap_pipedrive.docs`` rewrites the generated blocks in place (between ``<!-- name:start -->`` and
``<!-- name:end -->``); ``--check`` fails when they are stale (the tests run it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from singer_sdk import typing as th

from pipedrive_core.catalogue import RESOURCES, Replication, Resource, active, read_token_cost
from pipedrive_core.settings import CONNECTION_SETTINGS
from tap_pipedrive.metering import request_cost
from tap_pipedrive.search import SEARCH_STREAMS
from tap_pipedrive.streams import primary_keys_for
from tap_pipedrive.tap import TAP_SETTINGS
from tap_pipedrive.user_search import FIND_STREAMS

DOC = Path(__file__).resolve().parent.parent / "docs" / "tap.md"


def _replication(res: Resource) -> str:
    if res.replication is Replication.UPDATED_SINCE and res.read_version == 1:
        text = f"incremental: `updated_since` + `sort={res.replication_key} ASC` (`{res.replication_key}`)"
        if res.archived_path and not res.archived_updated_since:
            text += "; the archived list has no `updated_since`: read whole, older rows dropped"
        return text
    if res.replication is Replication.UPDATED_SINCE:
        return "incremental: `updated_since` + `sort_by=update_time` (`update_time`)"
    if res.replication is Replication.RECENTS:
        return (f"incremental: `/v1/recents?items={res.recents_item}` (`{res.replication_key}`); full read when "
                "the bookmark is older than 28 days (the shortest month)")
    if res.replication is Replication.PARENT:
        return f"per parent `{res.parent}` record emitted in the run"
    if res.partitions:
        keys = ", ".join(sorted({k for p in res.partitions for k in p}))
        return f"full table (one partition per {keys})"
    return "full table"


def streams_table() -> str:
    """Markdown table: stream, endpoint, API version, replication, key, selected by default, request cost."""
    rows = ["| stream | endpoint | API | replication | key | selected by default | cost per run |",
            "|---|---|---|---|---|---|---|"]
    for res in active():
        endpoint = f"`GET {res.read_path.replace('{parent_id}', '{id}')}`"
        if res.archived_path:
            endpoint += f", `GET {res.archived_path}`"
        key = ", ".join(primary_keys_for(res))
        selected = "yes" if res.selected_by_default else "no (opt-in)"
        rows.append(f"| `{res.name}` | {endpoint} | v{res.read_version} | {_replication(res)} | {key} | "
                    f"{selected} | {request_cost(res)} |")
    for name, spec in SEARCH_STREAMS.items():
        rows.append(f"| `{name}` (with `search_terms.{spec.config_key}`) | `GET {spec.path}?term=` | v2 | "
                    f"full table, one partition per term | term, type, id | with its setting | 1 request per "
                    f"100 results and term; {read_token_cost(spec.path)} tokens each |")
    for name, spec in FIND_STREAMS.items():
        rows.append(f"| `{name}` (with `search_terms.{spec.config_key}`) | `GET {spec.path}?term=` | v1 | "
                    f"full table, one partition per term | term, type, id | with its setting | 1 request per term; "
                    f"{read_token_cost(spec.path)} tokens each |")
    rows.append("| `deleted_records` (with `reconcile_deletes`) | the named streams' lists, ids only | v1/v2 | "
                "ids gone since the previous pass, one partition per stream | stream, id | with its setting | the "
                "named streams' full lists, plus 1 request per candidate deletion (confirmed gone) |")
    return "\n".join(rows)


def retired_table() -> str:
    """Resources the catalogue keeps but the tap never calls."""
    rows = ["| resource | why |", "|---|---|"]
    rows += [f"| `{r.name}` (`{r.v1_path}`) | {r.retired} |" for r in RESOURCES if r.retired]
    return "\n".join(rows)


def settings_table() -> str:
    """Markdown table of the tap's own settings."""
    props: dict[str, Any] = th.PropertiesList(*CONNECTION_SETTINGS, *TAP_SETTINGS).to_dict()["properties"]
    rows = ["| setting | type | default | description |", "|---|---|---|---|"]
    for name, prop in props.items():
        kinds = prop.get("type", "object")
        kind = "/".join(k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null")
        if prop.get("enum"):
            kind = " \\| ".join(f"`{v}`" for v in prop["enum"])
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        secret = " **Secret.**" if prop.get("secret") else ""
        description = str(prop.get("description", "")).replace("|", "\\|")
        rows.append(f"| `{name}` | {kind} | {default} | {description}{secret} |")
    return "\n".join(rows)


BLOCKS = {"streams": streams_table, "retired": retired_table, "settings": settings_table}


def render(text: str) -> str:
    """``text`` with every generated block refreshed."""
    for name, build in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        block = build()

        def replace(match: re.Match[str], block: str = block) -> str:
            return match.group(1) + block + "\n" + match.group(2)

        text = pattern.sub(replace, text)
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite or ``--check`` docs/tap.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("docs/tap.md is stale: run python -m tap_pipedrive.docs", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
