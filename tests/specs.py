"""Where Pipedrive's OpenAPI documents are on this machine (they are not vendored in the repo)."""

from __future__ import annotations

from pathlib import Path

from pipedrive_core.openapi import default_spec_dir


def openapi_dir() -> Path | None:
    """The documents' directory as the product finds it (``$PIPEDRIVE_OPENAPI_DIR`` or beside the checkout)."""
    return default_spec_dir()
