"""Scenario 3 baseline: only download and JSON-parse the pages a full sync reads, sequentially.

``python -m benchmarks.baseline [--out FILE] URL TOKEN stream [stream...]`` fetches every page of each stream with the
same paths, page size and fixed parameters the catalogue gives the tap (v2 cursor or v1 start/limit), parses
each body with :func:`json.loads`, counts the records and prints ``{"records": N, "requests": M}``. No
Singer, no schema work, no output: the floor of what any tap must spend per page.
"""

from __future__ import annotations

import json
import sys
import time

import requests

from pipedrive_core.catalogue import CATALOGUE, Pagination


def download(base_url: str, token: str, streams: list[str]) -> dict[str, float]:
    session = requests.Session()
    session.headers["x-api-token"] = token
    records = requests_made = 0
    start = time.perf_counter()
    for name in streams:
        resource = CATALOGUE[name]
        params: dict[str, object] = dict(resource.read_params)
        params["limit"] = resource.page_limit
        url = base_url.rstrip("/") + resource.read_path
        while True:
            response = session.get(url, params=params, timeout=120)
            requests_made += 1
            response.raise_for_status()
            body = json.loads(response.content)
            data = body.get("data") or []
            records += len(data)
            extra = body.get("additional_data") or {}
            if resource.pagination is Pagination.CURSOR:
                cursor = extra.get("next_cursor")
                if not cursor:
                    break
                params["cursor"] = cursor
            elif resource.pagination is Pagination.OFFSET:
                page = extra.get("pagination") or {}
                if not page.get("more_items_in_collection"):
                    break
                params["start"] = page.get("next_start")
            else:
                break
    return {"records": records, "requests": requests_made, "wall_s": time.perf_counter() - start}


def main() -> None:
    args = sys.argv[1:]
    out = None
    if args[:1] == ["--out"]:
        out, args = args[1], args[2:]
    base_url, token, *streams = args
    text = json.dumps(download(base_url, token, streams))
    if out:
        with open(out, "w") as fh:
            fh.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
