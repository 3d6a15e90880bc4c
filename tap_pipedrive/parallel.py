"""Several top-level streams read at once (setting ``parallel_streams``), with Singer output and state exact.

**One lock, released only while a top-level read waits for Pipedrive.** Each worker thread syncs one top-level
stream with its children, holding the :class:`SyncGate`'s lock the whole time: singer-sdk's record loop,
the bookmark keeper, every message and every STATE run under it, as in a sequential run. The lock is let go
only around the wait for a page of a *top-level* read (:meth:`SyncGate.call`), after that stream has taken a
checkpoint (its batched children read, its bookmark brought to what a resume needs, its STATE written). So
whenever another worker writes a STATE, which holds every stream's bookmarks, each waiting stream's part of
it is exactly its last checkpoint: a bookmark never covers a record not yet written. A child read (run
inside its parent's record loop) keeps the lock while it waits, so a parent is never seen half-processed.

The CPU work stays serial (it is under the GIL anyway); what overlaps is the requests' latency. Every request
still goes through the session's one rate limiter, which paces all threads together (and blocks them all on a
429 or a daily-budget stop), so the number of workers only bounds how many requests can be in flight; memory
stays at one page being processed plus one prefetched page per worker.

**Stopping.** A worker whose stream stops the run (:class:`~tap_pipedrive.errors.RunStopped`) or fails sets
the gate's stop flag; every other worker raises :class:`RunCancelled` the next time it gets the lock back
after a wait, i.e. at its next page, just after a checkpoint, and no new stream starts. The tap's stop
boundary then sees the first real stop, as in a sequential run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from tap_pipedrive.errors import RunStopped

T = TypeVar("T")

#: the most streams read at once: every worker has up to two connections (its page and the prefetched one),
#: and the HTTP connection pool keeps ten per host
MAX_PARALLEL_STREAMS = 5
#: streams read at once unless ``parallel_streams`` says otherwise: while one stream starts (its first page, the
#: questions before its windows) or ends (its last windows), the others keep the requests in flight
DEFAULT_PARALLEL_STREAMS = MAX_PARALLEL_STREAMS


class RunCancelled(RunStopped):
    """This worker's stream was stopped because another worker's stream stopped the run."""


class SyncGate:
    """The lock shared by the workers of a parallel sync, and its stop flag."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self._stopped = threading.Event()

    @contextmanager
    def worker(self) -> Iterator[None]:
        """Hold the lock for the body (one stream's sync in a worker thread)."""
        with self._lock:
            self._local.reads = 0
            self._local.inside = True
            try:
                self.raise_if_stopped()
                yield
            finally:
                self._local.inside = False

    @contextmanager
    def reading(self, top_level: bool) -> Iterator[None]:
        """Mark a page loop as open in this thread (a child's loop opens inside its parent's)."""
        local = self._local
        outer = getattr(local, "top_level", False)
        local.reads = getattr(local, "reads", 0) + 1
        local.top_level = top_level if local.reads == 1 else False
        try:
            yield
        finally:
            local.reads -= 1
            local.top_level = outer if local.reads else False  # the parent's loop is releasable again

    def releasable(self) -> bool:
        """Whether this thread may let the lock go now: a worker, inside one top-level page loop only."""
        local = self._local
        return bool(getattr(local, "inside", False) and getattr(local, "reads", 0) == 1
                    and getattr(local, "top_level", False))

    def call(self, wait: Callable[[], T], checkpoint: Callable[[], None] | None) -> T:
        """``wait()`` (a request or a prefetched page) with the lock let go, ``checkpoint`` taken first, when
        :meth:`releasable`; otherwise just ``wait()``. Raises :class:`RunCancelled` if the run stopped
        meanwhile."""
        if not self.releasable():
            return wait()
        if checkpoint is not None:
            checkpoint()
        return self._released(wait)

    def between_reads(self, wait: Callable[[], T]) -> T:
        """``wait()`` (a request a stream sends before its read begins, such as the start-date question) with the
        lock let go when this thread is a worker with no page loop open: nothing of its stream is half-written
        then, so a STATE another worker writes meanwhile holds this stream as its last checkpoint left it. Raises
        :class:`RunCancelled` if the run stopped meanwhile."""
        local = self._local
        if not (getattr(local, "inside", False) and getattr(local, "reads", 0) == 0):
            return wait()
        return self._released(wait)

    def _released(self, wait: Callable[[], T]) -> T:
        """``wait()`` with this worker's hold on the lock let go, taken back after; :class:`RunCancelled` if the run
        stopped meanwhile."""
        self._lock.release()
        try:
            result = wait()
        finally:
            self._lock.acquire()
        self.raise_if_stopped()
        return result

    def exclusive(self) -> AbstractContextManager[object]:
        """The lock itself, for a thread that is not a worker (the signal handler's STATE)."""
        return self._lock

    def stop(self) -> None:
        """Stop every worker at its next page."""
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        """Whether a worker stopped the run."""
        return self._stopped.is_set()

    def raise_if_stopped(self) -> None:
        """Raise :class:`RunCancelled` once another worker stopped the run."""
        if self._stopped.is_set():
            raise RunCancelled("stopped with the run")


def before_read(stream: Any, answer: Callable[[], T]) -> T:
    """``answer()`` (a request sent before the stream's read begins); in a parallel sync through the stream's gate
    (:meth:`SyncGate.between_reads`: the lock let go while no page loop of this worker is open)."""
    gate = stream.tap.sync_gate
    return answer() if gate is None else gate.between_reads(answer)


def wait_for(stream: Any, answer: Callable[[], T], checkpoint: Callable[[], None] | None = None) -> T:
    """``answer()`` (a page a read waits for); in a parallel sync through the stream's gate (:meth:`SyncGate.call`:
    its lock let go, ``checkpoint`` taken first, when the read is top-level)."""
    gate = stream.tap.sync_gate
    return answer() if gate is None else gate.call(answer, checkpoint)
