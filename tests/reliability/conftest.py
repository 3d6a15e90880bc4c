"""Shared pieces of the reliability suite: small emulators, fast retry settings and exact record accounting.

Accounting compares what the tap emitted with what the emulator stores, as sets of ``(key, update time)``:
records are de-duplicated by primary key keeping the latest emission, exactly as a downstream upsert would.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_emulator.server import Emulator
from tap_pipedrive.incremental import epoch_seconds, normalize_timestamp
from tap_pipedrive.tap import TapPipedrive
from tests.tap.conftest import SyncResult, catalog_for, run_tap

REPO = Path(__file__).resolve().parents[2]
TOKEN = "emulator-token"

#: a few hundred records in all: many pages at page_size 20, a run takes about a second
SMALL_SIZES: dict[str, int] = {
    "deals": 90, "persons": 70, "organizations": 25, "activities": 40, "products": 10, "notes": 60,
    "leads": 12, "files": 8, "call_logs": 8, "mail_threads": 4, "projects": 3, "tasks": 6,
}
#: retries fast enough for a test, enough of them to ride out every burst the matrix injects
FAST: dict[str, Any] = {
    "page_size": 20,
    "max_retries": 5,
    "backoff_base_seconds": 0.01,
    "backoff_max_seconds": 0.05,
    "request_timeout": 1.0,
}
#: target settings for tests: quick retries, a short timeout (faults stall 0.8 s), a few workers
TARGET_FAST: dict[str, Any] = {
    "max_retries": 3,
    "backoff_base_seconds": 0.01,
    "backoff_max_seconds": 0.05,
    "request_timeout": 0.5,
    "max_workers": 4,
}
#: streams the tap matrix accounts for exactly: v2 cursor lists (deals with its archived partition and
#: deleted deals, persons), a v1 offset list read through /recents incrementally (notes) and a child (deal
#: products)
MATRIX_STREAMS = ("deals", "persons", "notes", "deal_products")
#: the matrix streams with a state of their own (deal products are read with their deals)
TOP_LEVEL_MATRIX = ("deals", "persons", "notes")


def small_emulator(seed: int = 7, **kwargs: Any) -> Emulator:
    """An emulator with :data:`SMALL_SIZES` records, to use as a context manager (``with … as emu``)."""
    kwargs.setdefault("sizes", SMALL_SIZES)
    kwargs.setdefault("custom_fields_per_entity", 6)
    return Emulator(seed=seed, **kwargs)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A :func:`small_emulator` per test; modules that need another account define their own ``emu``."""
    with small_emulator() as emulator:
        yield emulator


def target_files(tmp_path: Path) -> dict[str, str]:
    """Ledger and dead-letter file of a target run, inside ``tmp_path``."""
    return {"ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}", "dead_letter_path": str(tmp_path / "dead.jsonl")}


def tap_config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    """Tap config for ``emu`` with :data:`FAST` retries."""
    return {"api_url": emu.url, "api_token": TOKEN, **FAST, **extra}


# -- accounting -------------------------------------------------------------------------------------------

Version = tuple[Any, str | None]


def _version(row_key: Any, data: Mapping[str, Any], update_field: str | None) -> Version:
    return row_key, normalize_timestamp(data.get(update_field)) if update_field else None


def truth(emu: Emulator, stream: str, *, include_deleted_deals: bool = True,
          include_archived_deals: bool = True) -> set[Version]:
    """What a complete read of ``stream`` must deliver, by the tap's own inclusion rules.

    Deals: live, archived and deleted-within-30-days deals (per the two settings); other top-level v2/v1
    entities: records not deleted; ``deal_products``: the products of every deal that is read and not deleted
    (children are not read for deleted parents).
    """
    store = emu.store
    if stream == "deal_products":
        deals = store.tables["deals"]
        wanted = {
            key for key, row in deals.rows.items()
            if row.deleted_at is None and (include_archived_deals or not row.data.get("is_archived"))
        }
        table = store.tables[stream]
        return {(row.key, None) for row in table.rows.values() if row.parent in wanted}
    table = store.tables[stream]
    rk = "update_time" if stream != "users" else "modified"
    out: set[Version] = set()
    for row in table.rows.values():
        if stream == "deals":
            if row.deleted_at is not None and not include_deleted_deals:
                continue
            if row.data.get("is_archived") and not include_archived_deals:
                continue
        elif row.deleted_at is not None:
            continue
        out.add(_version(row.key, row.data, rk))
    return out


def record_messages(messages: Iterable[Mapping[str, Any]], stream: str) -> list[dict[str, Any]]:
    """The records of ``stream``, in emission order."""
    return [m["record"] for m in messages if m.get("type") == "RECORD" and m.get("stream") == stream]


def latest(messages: Iterable[Mapping[str, Any]], stream: str) -> set[Version]:
    """Emitted records de-duplicated by primary key, the latest emission winning."""
    key = "id"
    rk = {"deal_products": None, "users": "modified"}.get(stream, "update_time")
    seen: dict[Any, Version] = {}
    for rec in record_messages(messages, stream):
        seen[rec[key]] = (rec[key], rec.get(rk) if rk else None)
    return set(seen.values())


def duplicates(messages: Iterable[Mapping[str, Any]], stream: str) -> dict[Any, int]:
    """Primary keys emitted more than once in one run."""
    counts = Counter(r["id"] for r in record_messages(messages, stream))
    return {k: n for k, n in counts.items() if n > 1}


def assert_exact(messages: Iterable[Mapping[str, Any]], emu: Emulator, streams: Iterable[str] = MATRIX_STREAMS,
                 **rules: bool) -> None:
    """Every stream's de-duplicated output equals the emulator's data set: nothing missing, nothing extra,
    every record in its latest version."""
    msgs = list(messages)
    for stream in streams:
        got, want = latest(msgs, stream), truth(emu, stream, **rules)
        missing, extra = want - got, got - want
        assert not missing and not extra, (
            f"{stream}: {len(missing)} missing {sorted(missing, key=str)[:5]}, "
            f"{len(extra)} extra {sorted(extra, key=str)[:5]}"
        )


# -- processes --------------------------------------------------------------------------------------------

def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a tap/target process run from the repository (no stray plugin settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_PIPEDRIVE_", "TARGET_PIPEDRIVE_"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON to ``path`` and return the path."""
    path.write_text(json.dumps(value))
    return path


def signalled_tap(config: dict[str, Any], streams: list[str], tmp_path: Path, sig: signal.Signals,
                  after: int, before_signal: Callable[[int], object] | None = None) -> tuple[int | None, list[str]]:
    """The tap as a process reading ``streams``, sent ``sig`` once ``after`` RECORD lines arrived: its exit code
    and every line it wrote (up to the kill for SIGKILL). ``before_signal`` gets the tap's pid just before."""
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), streams)
    config_path = write_json(tmp_path / "config.json", config)
    catalog_path = write_json(tmp_path / "catalog.json", catalog)
    lines: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "tap_pipedrive", "--config", str(config_path), "--catalog",
                           str(catalog_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          cwd=REPO, env=cli_env()) as proc:
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:
            lines.append(line)
            seen += line.startswith('{"type":"RECORD"')
            if seen == after:
                break
        if before_signal is not None:
            before_signal(proc.pid)
        proc.send_signal(sig)
        if sig != signal.SIGKILL:
            lines += proc.stdout.readlines()
        return proc.wait(timeout=60), lines


def signalled_messages(sig: signal.Signals, returncode: int | None, lines: list[str]) -> list[dict[str, Any]]:
    """The messages of a :func:`signalled_tap` run, checked for how it ended. SIGTERM: singer-sdk's handler wrote a
    last STATE and exited 0, every line whole JSON. SIGKILL: killed, the last line possibly cut."""
    if sig == signal.SIGTERM:
        assert returncode == 0
        messages = [json.loads(line) for line in lines]
        assert messages[-1]["type"] == "STATE"
        return messages
    assert returncode == -signal.SIGKILL, "the tap finished before it could be killed"
    return parse_lines("".join(lines))


def run_module(module: str, args: list[str], *, input_text: str = "", timeout: float = 120,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> <args>`` from the repository and capture everything it prints."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=input_text,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(env) if env is not None else cli_env(),
        timeout=timeout,
        check=False,
    )


def parse_lines(stdout: str) -> list[dict[str, Any]]:
    """Singer messages of a process's stdout (a partial last line, from a killed process, is ignored)."""
    out = []
    for line in stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def on_request(emu: Emulator, path_pattern: str, nth: int, action: Callable[[], None]) -> None:
    """Run ``action`` just before the emulator handles the ``nth`` request whose path matches."""
    original = emu.handle
    pattern = re.compile(path_pattern)
    lock = threading.Lock()
    seen = 0

    def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        nonlocal seen
        if pattern.search(urlsplit(target).path):
            with lock:
                seen += 1
                fire = seen == nth
            if fire:
                action()
        return original(method, target, headers, raw)

    emu.handle = handle  # type: ignore[method-assign]


@dataclasses.dataclass
class Together:
    """What :func:`hold_until_together` saw: the requests of each kind, and whether the first ones overlapped."""

    seen: Counter[str] = dataclasses.field(default_factory=Counter)
    overlapped: bool = True


def hold_until_together(emu: Emulator, kind: Callable[[str, dict[str, str]], str | None], kinds: int,
                        patience: float = 10.0) -> Together:
    """Make the first request of each kind (``kind(path, query)``, ``None`` for other requests) wait until the
    first one of all ``kinds`` kinds has arrived, up to ``patience`` seconds: a client that sends them one after
    another makes the first one wait in vain, and ``overlapped`` turns false."""
    together = threading.Barrier(kinds)
    result = Together()
    lock = threading.Lock()
    original = emu.handle

    def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        split = urlsplit(target)
        which = kind(split.path, dict(parse_qsl(split.query)))
        if which is not None:
            with lock:
                result.seen[which] += 1
                first = result.seen[which] == 1
            if first:
                try:
                    together.wait(patience)
                except threading.BrokenBarrierError:
                    result.overlapped = False
        return original(method, target, headers, raw)

    emu.handle = handle  # type: ignore[method-assign]
    return result


def log_tail(log: str, lines: int = 15) -> str:
    """The last lines of a run's log without singer-sdk's METRIC lines (for assertion messages)."""
    kept = [line for line in log.splitlines() if "METRIC:" not in line]
    return "\n".join(kept[-lines:])


def sync(config: dict[str, Any], *, streams: Iterable[str] | None = None, state: dict[str, Any] | None = None,
         catalog: dict[str, Any] | None = None) -> SyncResult:
    """An in-process tap run (``tests.tap.conftest.run_tap``) on a copy of ``state``: singer-sdk updates the
    state it is given in place, which would rewrite the previous run's recorded output."""
    return run_tap(config, streams=streams, state=copy.deepcopy(state) if state else None, catalog=catalog)


@contextlib.contextmanager
def competing_client(emu: Emulator, burst: int = 10, pause: float = 1.0) -> Iterator[None]:
    """Another integration on the same Pipedrive user: it spends ``burst`` requests at once every ``pause``
    seconds, so the code under test meets real 429s (with rate-limit headers) from the burst limit."""
    stop = threading.Event()

    def spend() -> None:
        with requests.Session() as other:
            while not stop.is_set():
                for _ in range(burst):
                    other.get(f"{emu.url}/api/v2/pipelines", headers=emu.auth_headers(), timeout=5)
                stop.wait(pause)

    thread = threading.Thread(target=spend, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def rewrite_answers(emu: Emulator, path_pattern: str,
                    rewrite: Callable[[dict[str, str], dict[str, Any]], dict[str, Any] | None]) -> None:
    """Pass the JSON body of successful answers to matching paths through ``rewrite(query, body)``: the data
    quirks of real accounts that the emulator does not produce by itself."""
    original = emu.handle
    pattern = re.compile(path_pattern)

    def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        answer, rule, req = original(method, target, headers, raw)
        if answer.status == 200 and pattern.search(req.path) and answer.content_type == "application/json":
            body = json.loads(answer.body)
            changed = rewrite(dict(req.query), body)
            if changed is not None:
                answer = dataclasses.replace(answer, body=json.dumps(changed).encode())
        return answer, rule, req

    emu.handle = handle  # type: ignore[method-assign]


@contextlib.contextmanager
def read_ahead_logged() -> Iterator[None]:
    """The tap's per-stream summary lines (INFO) in the logs of in-process runs, for :func:`read_ahead`."""
    logger = logging.getLogger("tap-pipedrive")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)


def read_ahead(log: str, stream: str) -> int:
    """Offset pages ``stream`` read ahead, from its summary line (0 when it read none)."""
    found = re.search(rf"Summary {re.escape(stream)}: .*?(\d+) pages read ahead", log)
    return int(found.group(1)) if found else 0


def daily_runs(emu: Emulator, config: dict[str, Any], streams: Iterable[str], budget: int, *,
               state: dict[str, Any] | None = None,
               each_day: Callable[[list[dict[str, Any]]], object] = lambda messages: None,
               max_days: int = 12) -> list[SyncResult]:
    """Runs of the tap, one a day under ``budget`` tokens, each resuming from the last STATE (the first from
    ``state``), until one completes; every run the budget stopped says so in one clear line. ``each_day`` is given
    the messages of every day so far after each run."""
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), streams)
    emu.limiter.daily_budget = budget
    state = state or {}
    runs: list[SyncResult] = []
    for _ in range(max_days):
        emu.restore_budget()  # a new day
        run = sync(config, catalog=catalog, state=state)
        runs.append(run)
        each_day([m for r in runs for m in r.messages])
        if run.exit_code == 0:
            return runs
        assert run.exit_code == 3, log_tail(run.log)
        assert "daily API token budget" in run.log and "rerun after" in run.log
        assert "Traceback" not in run.log
        state = run.state or state
    pytest.fail(f"not done after {max_days} days")


def _covered(record: Mapping[str, Any], part: Mapping[str, Any]) -> bool:
    """Whether a resumed read skips ``record`` by this partition state: older than the bookmark, one of the ids
    at its boundary second, or inside an update-time window a stopped windowed read handed out whole
    (``windows_done``, ``[lo, hi)`` as ``updated_since``/``updated_until``)."""
    at = epoch_seconds(record.get(part.get("replication_key") or "update_time"))
    if at is None:
        return False
    bookmark = epoch_seconds(part.get("replication_key_value"))
    if bookmark is not None and at < bookmark:
        return True
    boundary = part.get("boundary") or {}
    if at == epoch_seconds(boundary.get("second")) and record.get("id") in (boundary.get("ids") or ()):
        return True
    return any(epoch_seconds(lo) <= at < epoch_seconds(hi)  # type: ignore[operator]
               for lo, hi in part.get("windows_done") or ())


def _partition_state(state: Mapping[str, Any], stream: str, record: Mapping[str, Any]) -> Mapping[str, Any]:
    entry = (state.get("bookmarks") or {}).get(stream) or {}
    for part in entry.get("partitions") or ():
        if all(record.get(key) == value for key, value in (part.get("context") or {}).items()):
            return cast("Mapping[str, Any]", part)
    return cast("Mapping[str, Any]", entry)


def held_records(emu: Emulator, stream: str, versions: Iterable[Version]) -> list[dict[str, Any]]:
    """The records behind ``versions`` (of :func:`truth`) as the emulator holds them: their key, update time and
    partition fields, for :func:`assert_states_cover_only_written`."""
    rows = emu.store.tables[stream].rows
    return [{**rows[key].data, "id": key} for key, _ in versions if key in rows]


def held_now(emu: Emulator, streams: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every record the emulator holds now of the ``streams`` that keep a state of their own (children do not)."""
    return {stream: held_records(emu, stream, truth(emu, stream)) for stream in streams
            if stream in CATALOGUE and CATALOGUE[stream].parent is None}


def assert_states_cover_only_written(messages: Iterable[Mapping[str, Any]],
                                     held: Mapping[str, Iterable[Mapping[str, Any]]],
                                     before: Iterable[Mapping[str, Any]] = ()) -> int:
    """Walk the output in order: at every STATE, each record of ``held`` (per stream; records that did not change
    during the run) that the STATE covers (:func:`_covered`: older than its partition's bookmark, at the boundary
    second with a listed id, or inside a ``windows_done`` window) was written before that STATE, in this run or in
    ``before`` (earlier runs' output); and no bookmark is newer than every record written for its partition (it
    would skip records changed later). Returns the STATEs that hold a bookmark for one of the streams."""
    held = {stream: list(records) for stream, records in held.items()}
    #: per stream, every version written so far → the record as written
    written: dict[str, dict[Version, Mapping[str, Any]]] = {stream: {} for stream in held}
    last_checked: dict[str, Any] = {}

    def note(msg: Mapping[str, Any]) -> None:
        if msg.get("type") == "RECORD" and msg.get("stream") in held:
            record = msg["record"]
            written[msg["stream"]][(record.get("id"), normalize_timestamp(record.get("update_time")))] = record

    for msg in before:
        note(msg)
    checked = 0
    for number, msg in enumerate(messages):
        note(msg)
        if msg.get("type") != "STATE":
            continue
        state = msg["value"]
        bookmarked = False
        for stream, records in held.items():
            entry = (state.get("bookmarks") or {}).get(stream)
            if not entry:
                continue
            parts = [entry, *(entry.get("partitions") or ())]
            bookmarked = bookmarked or any(p.get("replication_key_value") for p in parts)
            if last_checked.get(stream) == entry:
                continue  # what was written only grows: what held at the last STATE holds now
            last_checked[stream] = copy.deepcopy(entry)
            versions = ((record, (record.get("id"), normalize_timestamp(record.get("update_time"))))
                        for record in records)
            uncovered = sorted(version for record, version in versions if version not in written[stream]
                               and _covered(record, _partition_state(state, stream, record)))
            assert not uncovered, f"message {number}: the STATE of {stream} covers unwritten {uncovered[:3]}"
            for part in parts:
                bookmark = normalize_timestamp(part.get("replication_key_value"))
                if not bookmark:
                    continue
                context = part.get("context") or {}
                times = [t for (_, t), record in written[stream].items()
                         if t and all(record.get(k) == v for k, v in context.items())]
                assert times and bookmark <= max(times), (
                    f"message {number}: {stream} {context} bookmark {bookmark} is newer than every record written")
        checked += bookmarked
    return checked


def assert_resumed_from_state(runs: list[SyncResult], streams: Iterable[str]) -> None:
    """Each day resumed from the state the day before ended with, never from further back: a record a day reads
    again was written before and not covered by that STATE (a windowed read re-reads the pages its unfinished
    windows had handed out, a page with batched children the page whose children it stopped in), and no record
    that STATE covers is read again. Records do not change between the days."""
    for stream in streams:
        written: dict[Any, dict[str, Any]] = {}
        for day, (before, after) in enumerate(pairwise(runs), start=2):
            for record in before.records[stream]:
                written[record["id"]] = record
            parts = {key: _partition_state(before.state, stream, record) for key, record in written.items()}
            again = {record["id"] for record in after.records[stream]} & written.keys()
            covered = {key for key in again if _covered(written[key], parts[key])}
            assert not covered, f"day {day} read {stream} {sorted(covered)} again, which the state covered"
            bookmarked = [key for key, part in parts.items() if part.get("replication_key_value")]
            if bookmarked:  # a state that holds a bookmark (not only the read's start) covers what it marks
                assert any(_covered(written[key], parts[key]) for key in bookmarked), (
                    f"day {day} restarted {stream}: its state covers nothing")
