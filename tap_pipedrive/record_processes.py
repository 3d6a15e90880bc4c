"""The per-record work of list pages in worker processes (setting ``record_processes``).

Typing custom fields and timestamps, conforming and encoding a record holds the GIL, so threads cannot share it;
on a machine with cores to spare it is what keeps the tap below Pipedrive's rate limit. With ``record_processes``
> 0 that many processes are forked when the sync starts (after discovery, so each has every stream's schema and
custom-field plan, and before any read's threads exist), each with its own pipe. Then, for a page of a stream
that qualifies (:func:`qualifies`):

* the thread that received the page sends its raw bytes to a free worker instead of decoding them;
* the worker decodes them, gives each record its final shape (replication key, custom fields, dates and times,
  the read's partition values, deselected and unknown properties) and encodes it exactly as
  :func:`tap_pipedrive.fastpath.fast_record_messages` does; it sends back the page's body with each row cut down
  to what the tap's process reads of it (key, update time, add time: windows, offset guards, the bookmark keeper)
  and its encoded record under :data:`~tap_pipedrive.fastpath.ENCODED`, a key no JSON text can spell;
* the stream's ``post_process`` keeps only its bookkeeping for such a row, and its RECORD message takes the
  encoded bytes as they are.

Everything else stays in the tap's process: which records are emitted, in which order, and every STATE. A row the
worker could not encode exactly comes back whole and takes the in-process path; a page whose worker failed, hung
(:data:`ANSWER_TIMEOUT_S`) or died is decoded and processed in the tap's process (logged once; a dead worker is
not replaced). The output is the same byte for byte either way (``tests/tap/test_record_processes.py``).

Values a worker nulls as impossible travel with their row (:data:`~tap_pipedrive.fastpath.NULLED`) and are counted
when the row is emitted, so the run's one warning per column carries the exact count. A worker ends with the tap:
the workers are killed when the sync ends (SIGTERM and SIGINT included, through the sync's ``finally``), and a
worker whose tap is gone (SIGKILL) exits within a second.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import resource
import signal
import sys
import threading
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Final, cast

from tap_pipedrive import fastpath
from tap_pipedrive.fastpath import BOOKMARK_VALUE, ENCODED, NULLED

if TYPE_CHECKING:
    from tap_pipedrive.client import PipedriveStream
    from tap_pipedrive.tap import TapPipedrive

logger = logging.getLogger("tap-pipedrive")


#: how long a receiving thread waits for a worker's answer before taking the in-process path for the page
ANSWER_TIMEOUT_S: Final = 60.0
#: the most processes the setting takes (each holds a copy of the tap)
MAX_RECORD_PROCESSES: Final = 8
#: workers when the setting is unset and at least two CPUs are usable (measured in docs/benchmarks.md)
DEFAULT_RECORD_PROCESSES: Final = 2

#: the tap of a worker process (inherited through ``fork``)
_TAP: TapPipedrive | None = None
#: the stdout a worker inherited, kept referenced so that it is never flushed or closed there
_INHERITED_STDOUT: Any = None


def available() -> bool:
    """Whether worker processes can be forked here (Linux: ``fork`` is safe with the tap's state)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def qualifies(stream: PipedriveStream) -> bool:
    """Whether the stream's pages can be encoded by workers: a top-level catalogue list written through the
    fast path (a stream map or flattening works on whole records), nothing downloaded per record (that happens
    in this process), and no child stream selected (its contexts are built from more of the row than the
    workers send back)."""
    from tap_pipedrive.client import ChildStream  # noqa: PLC0415

    return (not isinstance(stream, ChildStream) and stream.parent_stream_type is None
            and not stream.resource.download_path and not stream.has_selected_descendents
            and stream.fast_path_writes)


# -- in the worker --------------------------------------------------------------------------------------------


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def _start_worker(parent: int) -> None:
    """A worker writes nothing to the tap's stdout (what the parent had buffered at the fork stays there),
    leaves SIGINT to the parent, and exits when the parent is gone."""
    global _INHERITED_STDOUT  # noqa: PLW0603
    _INHERITED_STDOUT = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 # the worker's lifetime
    fastpath.forget_pending_records()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for each in list(logging.root.manager.loggerDict.values()):
        if isinstance(each, logging.Logger):
            each.handlers.clear()
            each.propagate = True
    logging.root.handlers[:] = [_RELAY]
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


#: a log line a worker sends to the tap's process: (logger name, level, text)
LogLine = tuple[str, int, str]


class _Relay(logging.Handler):
    """In a worker: keeps what it logs while encoding a page, for the tap's process to log (its stderr and its
    handlers, which a test or Meltano may have set up)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[LogLine] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.levelno, record.getMessage()))

    def take(self) -> list[LogLine]:
        lines, self.lines = self.lines, []
        return lines


_RELAY = _Relay()


def encode_page(stream_name: str, raw: bytes, partition: dict[str, Any]) -> Any:
    """The page's body with each row replaced by what the tap's process reads of it (:meth:`PipedriveStream.
    kept_fields`) and its encoded record under :data:`ENCODED`; a row that could not be encoded exactly stays
    whole (the tap's process gives it its shape). A row with values nulled as impossible carries their counts
    under :data:`NULLED`."""
    assert _TAP is not None
    stream: PipedriveStream = _TAP.streams[stream_name]  # type: ignore[assignment]
    body = fastpath.fast_json_loads(raw)
    rows = stream.extract_records(body.get("data") if isinstance(body, dict) else None)
    kept = stream.kept_fields
    rk = stream.replication_key
    whole: list[int] = []
    for at, row in enumerate(rows):
        if type(row) is not dict:
            continue
        slim = {name: row[name] for name in kept if name in row}
        encoded = stream.encode_row(row, partition)
        if encoded is None:
            whole.append(at)
            continue
        nulled = fastpath.take_rejected(stream)
        bookmark_value = row.get(rk) if rk else None
        row.clear()
        row.update(slim)
        marked = cast("dict[Any, Any]", row)
        marked[ENCODED] = encoded
        if nulled:
            marked[NULLED] = nulled  # counted by the tap's process if it emits the row
        if rk and bookmark_value != slim.get(rk):
            marked[BOOKMARK_VALUE] = bookmark_value
    if whole:  # the rows as received, from a second decoding (encoding changed the first in place)
        again = stream.extract_records(fastpath.fast_json_loads(raw).get("data"))
        for at in whole:
            rows[at].clear()
            rows[at].update(again[at])
    return body


def _serve(conn: Connection, parent: int) -> None:
    """A worker's loop: a page's (stream, partition values), its raw bytes, then its answer back on the same pipe:
    ``(True, body, log lines)``, ``(False, "json", log lines)`` for text that is not JSON, or ``(False, the error,
    log lines)``."""
    _start_worker(parent)
    while True:
        try:
            name, partition = conn.recv()
            raw = conn.recv_bytes()
        except (EOFError, OSError):  # the tap closed the pipe: done
            os._exit(0)
        try:
            answer: tuple[bool, Any, list[LogLine]] = (True, encode_page(name, raw, partition), _RELAY.take())
        except ValueError:
            answer = (False, "json", _RELAY.take())
        except Exception as exc:  # sent back: the tap processes the page itself
            answer = (False, f"{type(exc).__name__}: {exc}", _RELAY.take())
        try:
            conn.send(answer)
        except (OSError, ValueError):
            os._exit(0)


# -- in the tap's process -------------------------------------------------------------------------------------


class _Worker:
    """One forked worker and the tap's end of its pipe (one page at a time)."""

    def __init__(self, parent: int, number: int) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, theirs = context.Pipe(duplex=True)
        self.process = context.Process(target=_serve, args=(theirs, parent), daemon=True,
                                       name=f"record-process-{number}")
        self.process.start()
        theirs.close()

    def ask(self, name: str, partition: dict[str, Any], raw: bytes) -> tuple[bool, Any, list[LogLine]]:
        self.conn.send((name, partition))
        self.conn.send_bytes(raw)
        if not self.conn.poll(ANSWER_TIMEOUT_S):
            raise TimeoutError(f"no answer in {ANSWER_TIMEOUT_S:g} s")
        answer: tuple[bool, Any, list[LogLine]] = self.conn.recv()
        return answer

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class RecordProcesses:
    """The workers, and the receiving threads' way to them (:meth:`loads`, the session's JSON decoder)."""

    def __init__(self, tap: TapPipedrive, processes: int, streams: Iterable[str]) -> None:
        global _TAP  # noqa: PLW0603
        #: the streams whose pages the workers encode
        self.streams = frozenset(streams)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._warned = False
        flush = getattr(tap.message_writer, "flush", None)
        if callable(flush):
            flush()  # nothing the workers could inherit half-written
        sys.stdout.flush()
        _TAP = tap
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._children_cpu = used.ru_utime + used.ru_stime
        self._workers = [_Worker(os.getpid(), n) for n in range(processes)]
        #: workers free for a page; ``None`` once none is left alive (a dead worker is not replaced: forking
        #: again while the reads' threads run is not safe)
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for worker in self._workers:
            self._idle.put(worker)
        self._alive = processes
        self._closing = False
        #: (logger, text) of every line a worker sent → the first worker that sent it
        self._logged: dict[tuple[str, str], _Worker] = {}
        self.processes = processes
        #: pages sent to the workers, and those of them processed here after all
        self.pages = self.pages_here = 0

    def close(self) -> None:
        """Stop the workers (their work is either taken or no longer wanted) and log what they did."""
        self._closing = True
        workers, self._workers = self._workers, []
        if not workers:
            return
        for worker in workers:
            worker.stop()
        self._idle.put(None)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        logger.info("Record processes: %d pages encoded by %d workers, %d of them processed here instead; "
                    "the workers used %.1f s of CPU, the largest peaked at %.0f MB", self.pages, self.processes,
                    self.pages_here, used.ru_utime + used.ru_stime - self._children_cpu, used.ru_maxrss / 1024)

    def page_of(self, stream: PipedriveStream, partition: dict[str, Any]) -> _PageScope:
        """A context in which the pages this thread receives are encoded for ``stream``'s read whose state
        partition values are ``partition``."""
        return _PageScope(self._local, (stream, partition))

    def loads(self, raw: bytes | str) -> Any:
        """The session's decoder: ``fast_json_loads``, or for a page of a stream in :meth:`page_of` the body a
        worker sends back (:func:`encode_page`); the page is decoded here when no worker can answer."""
        scope = getattr(self._local, "read", None)
        if scope is None or self._closing or not isinstance(raw, bytes):
            return fastpath.fast_json_loads(raw)
        stream, partition = scope
        worker = self._idle.get()
        if worker is None:  # none left
            self._idle.put(None)
            return fastpath.fast_json_loads(raw)
        with self._lock:
            self.pages += 1
        try:
            ok, answer, lines = worker.ask(stream.name, partition, raw)
        except (OSError, EOFError, TimeoutError, ValueError) as exc:  # died, hung, or closed by close()
            self._lost(worker)
            if not self._closing:  # a page read while the sync ends (read ahead, then discarded)
                self._fallback(stream, f"{type(exc).__name__}: {exc}")
            return fastpath.fast_json_loads(raw)
        self._idle.put(worker)
        self._log(worker, lines)
        if ok:
            return answer
        if answer != "json":  # not JSON: decoded here, for the session to judge the answer as it always does
            self._fallback(stream, answer)
        return fastpath.fast_json_loads(raw)

    def _log(self, worker: _Worker, lines: list[LogLine]) -> None:
        """Log a worker's lines here; a line another worker already sent is not repeated (each worker warns once
        where the tap's process, alone, would have warned once)."""
        for name, level, text in lines:
            with self._lock:
                first = self._logged.setdefault((name, text), worker)
            if first is worker:
                logging.getLogger(name).log(level, "%s", text)

    def _lost(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._alive -= 1
            last = self._alive == 0
        if last:
            self._idle.put(None)

    def _fallback(self, stream: PipedriveStream, reason: str) -> None:
        with self._lock:
            self.pages_here += 1
            warn, self._warned = not self._warned, True
        if warn:
            logger.warning("%s: a record process did not encode a page (%s); such pages are processed here",
                           stream.name, reason)


class _PageScope:
    """Sets the receiving thread's current read (stream, partition values) for the requests sent within."""

    __slots__ = ("_local", "_previous", "_read")

    def __init__(self, local: threading.local, read: tuple[PipedriveStream, dict[str, Any]]) -> None:
        self._local, self._read = local, read

    def __enter__(self) -> None:
        self._previous = getattr(self._local, "read", None)
        self._local.read = self._read

    def __exit__(self, *_: object) -> None:
        self._local.read = self._previous


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_processes() -> int:
    """``record_processes`` when unset: :data:`DEFAULT_RECORD_PROCESSES` where forking is available and at least
    two CPUs are usable, else 0 (on one CPU the workers only add the cost of the pipe)."""
    return DEFAULT_RECORD_PROCESSES if available() and usable_cpus() >= 2 else 0


def start(tap: TapPipedrive, streams: Iterable[PipedriveStream], setting: Any) -> RecordProcesses | None:
    """The workers for a sync of ``streams`` (``None``: no worker, or no stream that qualifies)."""
    processes = default_processes() if setting is None else int(setting)
    if processes <= 0:
        return None
    if not available():
        logger.warning("record_processes: worker processes need Linux (fork); records are processed in the "
                       "tap's own process")
        return None
    chosen = sorted(s.name for s in streams if qualifies(s))
    if not chosen:
        return None
    logger.info("Encoding records of %s in %d worker process%s (record_processes)", ", ".join(chosen),
                processes, "" if processes == 1 else "es")
    return RecordProcesses(tap, processes, chosen)


def check_setting(value: Any) -> str | None:
    """An error message for a bad ``record_processes``, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RECORD_PROCESSES:
        return f"record_processes must be a whole number from 0 to {MAX_RECORD_PROCESSES}, got {value!r}"
    return None

