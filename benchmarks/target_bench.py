"""Scenario 4 (target writes) and the target half of scenario 5 (target memory).

Input files are generated Singer streams fed to ``target-pipedrive`` on stdin:

* creates: ``persons`` records keyed by a source key (``source_id``) that the ledger maps to new Pipedrive
  ids — one ``POST /api/v2/persons`` each;
* updates: the same source keys with a changed name — one ``PATCH /api/v2/persons/{id}`` each (the ledger
  knows the ids and sees the payload hash change);
* bulk delete: ``deal_fields`` records with Pipedrive ids and ``_sdc_deleted_at`` set, for custom fields the
  harness created first — ``DELETE /v1/dealFields?ids=…`` takes many ids per request.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.procs import RunResult, run_measured

if TYPE_CHECKING:
    from benchmarks.emulator import EmulatorProcess
    from benchmarks.run import Bench

ROOT = Path(__file__).resolve().parent.parent
TARGET = [sys.executable, "-m", "benchmarks.entry", "target"]

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "source_id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": ["string", "null"]},
    },
}
FIELD_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


def write_person_input(path: Path, n: int, *, tag: str, version: int) -> Path:
    with open(path, "w") as fh:
        fh.write(_line({"type": "SCHEMA", "stream": "persons", "schema": PERSON_SCHEMA,
                        "key_properties": ["source_id"]}))
        for i in range(n):
            fh.write(_line({"type": "RECORD", "stream": "persons", "record": {
                "source_id": f"{tag}-{i}",
                "name": f"Bench {tag} person {i} v{version}",
                "email": f"bench.{tag}.{i}@example.com",
            }}))
    return path


def write_delete_input(path: Path, ids: list[int]) -> Path:
    with open(path, "w") as fh:
        fh.write(_line({"type": "SCHEMA", "stream": "deal_fields", "schema": FIELD_SCHEMA, "key_properties": ["id"]}))
        for pid in ids:
            fh.write(_line({"type": "RECORD", "stream": "deal_fields",
                            "record": {"id": pid, "_sdc_deleted_at": "2026-11-20T12:00:00Z"}}))
    return path


def target_config(bench: Bench, emu: EmulatorProcess, tag: str, *, burst: int | None = None,
                  **extra: Any) -> Path:
    path = bench.raw / f"target-config-{tag}.json"
    path.write_text(json.dumps({
        **extra,
        "api_token": emu.token,
        "api_url": emu.url,
        "burst_limit": burst or bench.p.burst,
        "ledger_url": f"sqlite:///{bench.raw / f'ledger-{tag}.sqlite'}",
        "unknown_fields": "drop",
        "bulk_delete_batch_size": 1000,
        "dead_letter_path": str(bench.raw / f"dead-letter-{tag}.jsonl"),
    }))
    return path


def run_target(bench: Bench, emu: EmulatorProcess, tag: str, config: Path, stdin: Path, *,
               settle: bool = True) -> tuple[RunResult, int]:
    if settle:
        time.sleep(2.1)  # start every measured phase with an empty 2 s window (no requests of the previous one)
    before = emu.requests()
    cmd = [*TARGET, "--config", str(config)]
    result = run_measured(cmd, stdin_path=stdin, stderr_path=bench.raw / f"target-{tag}.stderr",
                          count_stdout=False, cwd=str(ROOT)).check()
    used = emu.requests() - before
    return result, used


def _phase(label: str, records: int, r: RunResult, used: int, bound: float) -> dict[str, Any]:
    rate = used / r.wall_s if r.wall_s else 0.0
    return {"label": label, "records": records, "requests": used, "wall_s": r.wall_s, "requests_per_s": rate,
            "of_bound": rate / bound, "cpu_s": r.cpu_s, "max_rss_mb": r.max_rss_mb}


def create_deal_fields(emu: EmulatorProcess, n: int, burst: int) -> list[int]:
    """Set-up for the bulk delete (not measured): create ``n`` custom deal fields through the API."""
    from pipedrive_core.http import ClientConfig, PipedriveClient  # noqa: PLC0415

    client = PipedriveClient(ClientConfig(api_url=emu.url, api_token=emu.token, burst_limit=burst))

    def create(i: int) -> int:
        body = client.request("POST", "/v1/dealFields", json_body={"name": f"bench field {i}", "field_type": "varchar"})
        return int(body["data"]["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(create, range(n)))


def run_writes(bench: Bench, emu: EmulatorProcess) -> dict[str, Any]:
    p = bench.p
    n = p.target_records
    config = target_config(bench, emu, "s4")
    creates = write_person_input(bench.raw / "target-creates.jsonl", n, tag="s4", version=1)
    updates = write_person_input(bench.raw / "target-updates.jsonl", n, tag="s4", version=2)
    phases = []
    r, used = run_target(bench, emu, "s4-create", config, creates)
    phases.append(_phase("create", n, r, used, p.write_bound))
    r, used = run_target(bench, emu, "s4-update", config, updates)
    phases.append(_phase("update", n, r, used, p.write_bound))
    ids = create_deal_fields(emu, p.bulk_delete_ids, p.burst)
    deletes = write_delete_input(bench.raw / "target-deletes.jsonl", ids)
    r, used = run_target(bench, emu, "s4-bulk-delete", config, deletes)
    bulk = {"resource": "deal_fields (DELETE /v1/dealFields?ids=…)", "ids": len(ids), "requests": used,
            "ids_per_request": len(ids) / used if used else None, "wall_s": r.wall_s}
    for ph in phases:
        print(f"[bench] target {ph['label']}: {ph['requests']} requests in {ph['wall_s']:.1f} s = "
              f"{ph['requests_per_s']:.1f} req/s ({ph['of_bound']:.2f} of bound)", file=sys.stderr)
    return {
        "phases": phases,
        "bulk_delete": bulk,
        "target_bound_met": all(ph["of_bound"] >= 0.9 for ph in phases),
    }


def memory_rows(bench: Bench) -> list[dict[str, Any]]:
    """Peak RSS of the target creating N and 10 × N persons (zero latency, no limit: memory only), with the
    SDK's default batch of up to 10,000 records and with ``batch_size_rows: 1000``."""
    small_n, large_n = bench.p.target_memory_records
    rows = []
    sizes = {k: min(v, 50) for k, v in bench.p.sizes.items()}
    with bench.emulator("s5-target", sizes=sizes, latency_ms=0, burst=100_000) as emu:
        for label, extra in (("target, default settings", {}),
                             ("target, batch_size_rows 1000", {"batch_size_rows": 1000})):
            out: dict[int, RunResult] = {}
            for n in (small_n, large_n):
                tag = f"s5-{n}-{'b1000' if extra else 'default'}"
                config = target_config(bench, emu, tag, burst=100_000, **extra)
                data = write_person_input(bench.raw / f"target-mem-{tag}.jsonl", n, tag=tag, version=1)
                r, _ = run_target(bench, emu, tag, config, data, settle=False)
                out[n] = r
            rows.append({"label": label, "small_n": small_n, "small_mb": out[small_n].max_rss_mb,
                         "large_n": large_n, "large_mb": out[large_n].max_rss_mb})
    return rows
