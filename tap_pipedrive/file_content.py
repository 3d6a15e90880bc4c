"""The bytes of files (opt-in): ``download_file_content`` writes each file the ``files`` stream emits.

With the setting on, every ``files`` record gets ``content_path`` (where the bytes were written, below
``file_content_dir``) and ``content_sha256``. Only new and changed files are downloaded: incremental runs emit
only files changed since the bookmark, and a manifest in the directory (file id → update time, path, digest)
lets a full read reuse what an earlier run already wrote for an unchanged file. A file Pipedrive no longer
serves (404/410) gets null columns and a warning; any other error stops the run like a failed page.

Downloads go through the tap's one session (same credentials header, rate limiter and retries as every
request; ``GET /v1/files/{id}/download`` costs 20 tokens).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from pipedrive_core.catalogue import Resource
from pipedrive_core.http.errors import GoneError, NotFoundError

#: columns every record of a resource with a ``download_path`` carries (null unless downloaded)
CONTENT_PROPERTIES: dict[str, dict[str, Any]] = {
    "content_path": {"type": ["string", "null"],
                     "description": "Where the tap wrote the file's bytes (download_file_content)."},
    "content_sha256": {"type": ["string", "null"], "description": "SHA-256 of the file's bytes (hex)."},
}
MANIFEST = ".manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(file_id: Any, name: Any) -> str:
    """``<id>-<name>`` with anything outside ``[A-Za-z0-9._-]`` replaced: no path tricks from file names."""
    cleaned = _UNSAFE.sub("_", str(name or "")).strip("._") or "file"
    return f"{file_id}-{cleaned[:120]}"


class FileContent:
    """Downloads file bytes into one directory and remembers what it wrote."""

    def __init__(self, session: requests.Session, base_url: str, directory: Path, logger: logging.Logger) -> None:
        self.session = session
        self.base_url = base_url
        self.directory = directory
        self.logger = logger
        self.downloaded = 0
        self.reused = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._manifest_path = directory / MANIFEST
        self._manifest: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        _atomic_write(self._manifest_path, json.dumps(self._manifest, sort_keys=True).encode())

    def attach(self, resource: Resource, record: dict[str, Any]) -> None:
        """Set ``content_path`` and ``content_sha256`` of ``record``, downloading its bytes if needed."""
        file_id = record.get(resource.key)
        if file_id is None or resource.download_path is None:
            return
        stamp = record.get(resource.replication_key or "update_time")
        target = self.directory / safe_name(file_id, record.get("file_name") or record.get("name"))
        known = self._manifest.get(str(file_id))
        if known and known.get("update_time") == stamp and Path(known["path"]).is_file():
            record.update(content_path=known["path"], content_sha256=known["sha256"])
            self.reused += 1
            return
        try:
            body = self._fetch(resource.download_path.replace("{id}", str(file_id)))
        except (NotFoundError, GoneError) as exc:
            self.logger.warning("files: file %s has no content to download (HTTP %s); content columns left null",
                                file_id, exc.status)
            record.update(content_path=None, content_sha256=None)
            return
        _atomic_write(target, body)
        digest = hashlib.sha256(body).hexdigest()
        self._manifest[str(file_id)] = {"update_time": stamp, "path": str(target), "sha256": digest}
        self._save()
        record.update(content_path=str(target), content_sha256=digest)
        self.downloaded += 1

    def _fetch(self, path: str) -> bytes:
        request = requests.Request("GET", self.base_url + path).prepare()
        return self.session.send(request).content


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, so a crash never leaves half a file at ``path``."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def content_for(config: Mapping[str, Any], session: Any, logger: logging.Logger) -> FileContent | None:
    """The run's downloader, or ``None`` when ``download_file_content`` is off."""
    if not config.get("download_file_content"):
        return None
    directory = Path(str(config.get("file_content_dir") or "file_content")).expanduser()
    return FileContent(session, session.base_url, directory, logger)
