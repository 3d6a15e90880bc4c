"""Where Pipedrive's OpenAPI documents are on this machine (they are not vendored in the repo)."""

from __future__ import annotations

import os
from pathlib import Path


def openapi_dir() -> Path | None:
    """``$PIPEDRIVE_OPENAPI_DIR``, else the first ``shared/pipedrive-openapi`` above this repo, else /work/shared."""
    env = os.environ.get("PIPEDRIVE_OPENAPI_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "pipedrive-openapi" for p in here.parents]
    candidates.append(Path("/work/shared/pipedrive-openapi"))
    return next((c for c in candidates if (c / "openapi-v2.yaml").is_file()), None)
