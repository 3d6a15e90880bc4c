"""Performing planned operations: the HTTP calls and the ledger rows that record them.

Creates are the dangerous verb: a POST whose answer is lost may or may not have created the record. They go
through a session that never blindly retries ambiguous failures (timeouts, 5xx, broken bodies); instead the
executor looks the record up (:meth:`Finder.reconcile`) and only posts again when Pipedrive does not have it.
The ledger journals the intent before the POST, so a crash is reconciled on the next run the same way.

Nothing here decides *whether* to write: that is :mod:`target_pipedrive.planner`'s job.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipedrive_core.catalogue import Resource
from pipedrive_core.http import PipedriveClient, PipedriveSession, RetryPolicy
from pipedrive_core.http.errors import (
    GoneError,
    InvalidResponseError,
    NotFoundError,
    OAuthError,
    PipedriveError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from pipedrive_core.http.session import body_of
from target_pipedrive.ledger import Ledger
from target_pipedrive.ledger import Mapping as LedgerMapping
from target_pipedrive.lookup import FieldCache, Finder
from target_pipedrive.planner import FILE_CONTENT_COLUMNS, FILE_PATH_COLUMNS, BatchView, Operation
from target_pipedrive.translate import RecordError

logger = logging.getLogger("target_pipedrive")

#: HTTP statuses that condemn one record, not the run
RECORD_STATUSES = frozenset({400, 404, 409, 422})
#: ambiguous outcomes of a POST: the record may exist although we got no answer
AMBIGUOUS = (TransportError, ServerError, InvalidResponseError)


class CreatePolicy(RetryPolicy):
    """Retry a POST only when Pipedrive certainly did not act on it (429 rate limiting)."""

    def should_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, RateLimitedError)


def is_record_error(exc: BaseException) -> bool:
    """Whether ``exc`` condemns one record (a 4xx about it), not the run."""
    # OAuthError: the token endpoint's 400 (invalid_grant) condemns the credentials, not the record.
    return isinstance(exc, RecordError) or (
        isinstance(exc, PipedriveError)
        and exc.status in RECORD_STATUSES
        and not isinstance(exc, GoneError | OAuthError)
    )


def create_client(client: PipedriveClient) -> PipedriveClient:
    """A client sharing ``client``'s limiter and credentials whose POSTs are never retried blindly."""
    session = client.session
    create_session = PipedriveSession(
        client.config,
        limiter=session.limiter,
        policy=CreatePolicy(
            max_attempts=session.policy.max_attempts,
            base_delay=session.policy.base_delay,
            max_delay=session.policy.max_delay,
            sleep=session.policy.sleep,
        ),
    )
    # One credential holder for both sessions: with OAuth, Pipedrive may rotate the refresh token on each
    # refresh and revoke the old one, so a second holder of the original token would be refused.
    create_session.auth_handler = session.auth_handler
    return PipedriveClient(client.config, session=create_session)


class Executor:
    """Performs the operations of one stream (create, update, delete, upload) and records them."""

    def __init__(  # noqa: PLR0917 - the collaborators of one run
        self,
        resource: Resource,
        client: PipedriveClient,
        creator: PipedriveClient,
        ledger: Ledger,
        finder: Finder,
        fields: FieldCache,
        *,
        now: Callable[[], dt.datetime],
        create_attempts: int = 4,
    ) -> None:
        self.resource = resource
        self.client = client
        self.creator = creator
        self.ledger = ledger
        self.finder = finder
        self.fields = fields
        self.now = now
        self.create_attempts = max(1, create_attempts)

    def settle_intent(self, op: Operation) -> None:
        """Record an earlier run's create that planning found in Pipedrive."""
        if op.resolved_intent is not None:
            key, pid, digest = op.resolved_intent
            self.ledger.record(self.resource.name, key, pid, digest)

    def write(self, op: Operation, view: BatchView, id_field: str | None) -> None:
        """Create or update one record and record the result in the ledger and the batch view."""
        self.settle_intent(op)
        if op.pipedrive_id is not None:
            self._update(op, id_field)
            pid = op.pipedrive_id
        else:
            pid = self._create_new(op)
        if op.ledger_key is not None:
            self.ledger.record(self.resource.name, op.ledger_key, pid, op.payload_hash, op.parent_id)
        view.settle(op.ledger_key, LedgerMapping(pid, op.payload_hash, op.parent_id))
        self._after_write()

    def _update(self, op: Operation, id_field: str | None) -> None:
        res, pid = self.resource, op.pipedrive_id
        writes = res.writes
        if writes is None or writes.update_path is None:
            raise RecordError(f"Pipedrive's API cannot update {res.name} records")
        path = writes.update_path.format(id=pid, parent_id=op.parent_id)
        try:
            self.client.request(writes.update_method.value, path, json_body=self._fields_body(op.body, pid),
                                resource=res.name)
        except NotFoundError:
            self.ledger.forget_id(res.name, str(pid))
            raise RecordError(
                f"Pipedrive has no {res.name} record with id {pid} (deleted in Pipedrive?); "
                "its ledger mapping was dropped, so a rerun of a source-keyed record creates it again",
                field=id_field if id_field and pid == str(op.record.get(id_field)) else None,
            ) from None

    def _create_new(self, op: Operation) -> str:
        """Journal the intent, POST, return the new id; a definite refusal withdraws the intent."""
        res = self.resource
        since = self.now()
        key = op.ledger_key
        marker = self.ledger.begin_create(res.name, key, op.body, op.payload_hash or "", created_at=since) if key \
            else None
        try:
            new_id, data = self._create(op, since)
        except Exception as exc:
            # Only a definite refusal proves nothing was created; an ambiguous failure keeps the intent so
            # the next run reconciles it.
            if marker is not None and key is not None and is_record_error(exc):
                self.ledger.abandon_create(res.name, key, marker)
            raise
        if data:
            self.finder.remember(data)
        return new_id

    def _create(self, op: Operation, since: dt.datetime) -> tuple[str, dict[str, Any] | None]:
        """POST, and on an ambiguous failure look the record up before posting again."""
        res = self.resource
        if res.writes is None or res.writes.create_path is None:
            raise RecordError(f"Pipedrive's API cannot create {res.name} records")
        path = res.writes.create_path.format(parent_id=op.parent_id)
        policy = self.client.session.policy
        for attempt in range(1, self.create_attempts + 1):
            try:
                if res.writes.create_multipart:
                    envelope = self._upload(path, op)
                else:
                    envelope = self.creator.request("POST", path, json_body=self._fields_body(op.body, None),
                                                    resource=res.name)
            except AMBIGUOUS as exc:
                logger.warning("%s: create outcome unknown (%s); checking Pipedrive before retrying", res.name, exc)
                found = self.finder.reconcile(op.body, since, op.terms)
                if found is not None:
                    logger.info("%s: the create had succeeded as id %s", res.name, found)
                    return found, None
                if attempt == self.create_attempts:
                    raise
                policy.sleep(policy.delay(attempt, exc))
                continue
            data = envelope.get("data") if isinstance(envelope, dict) else None
            if not isinstance(data, dict) or data.get("id") is None:
                raise PipedriveError("create answered without an id", method="POST", resource=res.name)
            return str(data["id"]), data
        raise AssertionError("unreachable")  # pragma: no cover

    def _upload(self, path: str, op: Operation) -> Any:
        """``POST /v1/files`` as multipart: the file part plus the link fields (deal_id, person_id, …)."""
        name, content = file_content(op.record)
        form = {k: str(v) for k, v in op.body.items() if v is not None and not isinstance(v, (dict, list))}
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            response = self.creator.session.request(
                "POST", self.creator.url(path), data=form, files={"file": (name, content, ctype)}
            )
        except PipedriveError as exc:
            exc.with_resource(self.resource.name)
            raise
        return body_of(response)

    def _fields_body(self, body: dict[str, Any], pid: str | None) -> dict[str, Any]:
        """Field definitions: option ids of another account mean nothing here; match options by label."""
        if not self.resource.fields_of or not isinstance(body.get("options"), list):
            return body
        labels = [str(o.get("label")) if isinstance(o, Mapping) else str(o) for o in body["options"]]
        existing: dict[str, int] = {}
        if pid is not None:
            current = self.finder.get(pid) or {}
            existing = {
                str(o.get("label")): int(o["id"]) for o in current.get("options") or [] if isinstance(o, Mapping)
            }
        options = [{"id": existing[lbl], "label": lbl} if lbl in existing else {"label": lbl} for lbl in labels]
        return {**body, "options": options}

    def _after_write(self) -> None:
        if self.resource.fields_of:
            self.fields.invalidate(self.resource.name)

    # --- deletes -------------------------------------------------------------------------------------

    def bulk_delete(self, ops: list[Operation], view: BatchView) -> tuple[int, int, list[Operation]]:
        """``DELETE <path>?ids=1,2,3``; returns (deleted, already gone, refused ops to retry one by one)."""
        res = self.resource
        assert res.writes is not None
        assert res.writes.bulk_delete_path is not None
        for op in ops:
            self.settle_intent(op)
        path = res.writes.bulk_delete_path.format(parent_id=ops[0].parent_id)
        ids = ",".join(str(op.pipedrive_id) for op in ops)
        try:
            envelope = self.client.request("DELETE", path, params={"ids": ids}, resource=res.name)
        except NotFoundError:
            gone = len(ops)  # "none of the given ids exist"
            deleted: set[str] = set()
        except PipedriveError as exc:
            if not is_record_error(exc):
                raise
            logger.warning("%s: bulk delete refused (%s); deleting one by one", res.name, exc)
            return 0, 0, ops
        else:
            data = envelope.get("data") if isinstance(envelope, dict) else None
            listed = data.get("id") if isinstance(data, dict) else None
            deleted = {str(i) for i in listed} if isinstance(listed, list) else {str(op.pipedrive_id) for op in ops}
            gone = sum(1 for op in ops if str(op.pipedrive_id) not in deleted)
        for op in ops:
            self._forget(op, view)
        self._after_write()
        return len(ops) - gone, gone, []

    def delete_one(self, op: Operation, view: BatchView) -> str:
        """``DELETE <path>/{id}``; returns ``deleted`` or ``already_gone`` (Pipedrive answered 404)."""
        res = self.resource
        assert res.writes is not None
        assert res.writes.delete_path is not None
        self.settle_intent(op)
        outcome = "deleted"
        try:
            self.client.request("DELETE", res.writes.delete_path.format(id=op.pipedrive_id, parent_id=op.parent_id),
                                resource=res.name)
        except NotFoundError:
            logger.info("%s %s: id %s was already gone", res.name, op.identity.label, op.pipedrive_id)
            outcome = "already_gone"
        self._forget(op, view)
        self._after_write()
        return outcome

    def _forget(self, op: Operation, view: BatchView) -> None:
        if op.ledger_key is not None:
            self.ledger.forget(self.resource.name, op.ledger_key)
        self.ledger.forget_id(self.resource.name, str(op.pipedrive_id))
        view.settle(op.ledger_key, None)


def file_content(record: Mapping[str, Any]) -> tuple[str, bytes]:
    """The file name and bytes of a ``files`` record: ``file_path`` (a local file) or ``content_base64``."""
    name = record.get("file_name") or record.get("name")
    for column in FILE_PATH_COLUMNS:
        value = record.get(column)
        if value:
            path = Path(str(value)).expanduser()
            try:
                return str(name or path.name), path.read_bytes()
            except OSError as exc:
                raise RecordError(f"cannot read the file {str(path)!r}: {exc.strerror}", field=column) from None
    for column in FILE_CONTENT_COLUMNS:
        value = record.get(column)
        if value:
            try:
                content = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                raise RecordError("the content is not valid base64", field=column) from None
            if not name:
                raise RecordError("a file given as base64 content needs a file_name column", field="file_name")
            return str(name), content
    raise RecordError(
        f"a files record needs its content: a local path in {' or '.join(FILE_PATH_COLUMNS)}, or base64 in "
        f"{' or '.join(FILE_CONTENT_COLUMNS)}",
        field=FILE_PATH_COLUMNS[0],
    )
