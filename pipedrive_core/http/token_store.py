"""Keep a rotated OAuth refresh token for the next run.

Pipedrive may rotate the refresh token on every refresh and revoke the old one. A new process (the next
scheduled run, or Meltano's sync after its discovery) that starts from the token in its config would then be
refused. With the ``oauth_token_store`` setting the newest token is written to a file only the user can read
(mode 0600, replaced atomically) and preferred over the configured one, as long as the configured one is the
token the file was started from: a user who re-authorises the app and puts a new token in the config wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RefreshTokenStore:
    """One JSON file: the client id, the configured token's fingerprint and the newest refresh token."""

    def __init__(self, path: str | os.PathLike[str], *, client_id: str, configured_token: str) -> None:
        self.path = Path(path).expanduser()
        self._client_id = client_id
        self._seed = _fingerprint(configured_token)

    def __repr__(self) -> str:
        return f"RefreshTokenStore({str(self.path)!r})"

    def load(self) -> str | None:
        """The stored token if it descends from the configured one, else ``None``."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("client_id") != self._client_id or data.get("seed") != self._seed:
            return None
        token = data.get("refresh_token")
        return str(token) if token else None

    def save(self, token: str) -> None:
        """Write the newest token atomically, readable by the owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"client_id": self._client_id, "seed": self._seed, "refresh_token": token})
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".oauth-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
