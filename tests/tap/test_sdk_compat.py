"""The private singer-sdk surface the tap relies on exists in the installed singer-sdk, and nothing outside
``tap_pipedrive/sdk_compat.py`` reaches into it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tap_pipedrive.sdk_compat import PRIVATE_SURFACE

PACKAGE = Path(__file__).resolve().parents[2] / "tap_pipedrive"


@pytest.mark.parametrize(("owner", "name"), PRIVATE_SURFACE,
                         ids=[f"{getattr(o, '__name__', o)}.{n}" for o, n in PRIVATE_SURFACE])
def test_installed_singer_sdk_still_has_every_private_name_the_tap_uses(owner: object, name: str) -> None:
    assert hasattr(owner, name), f"singer-sdk no longer has {name}: adapt tap_pipedrive/sdk_compat.py"


def test_no_module_but_sdk_compat_imports_a_private_singer_sdk_module_or_overrides_a_private_sdk_method() -> None:
    statement = re.compile(r"^(?:from (singer_sdk[\w.]*) import (\([^)]*\)|[^\n]*)|import (singer_sdk[\w.]*))", re.M)
    overrides = {name for _, name in PRIVATE_SURFACE if name.startswith("_")}
    for path in PACKAGE.glob("*.py"):
        if path.name == "sdk_compat.py":
            continue
        text = path.read_text(encoding="utf-8")
        for module, names, plain in statement.findall(text):
            dotted = module or plain
            assert not re.search(r"\._", dotted), f"{path.name} imports {dotted}"
            assert not re.search(r"\b_[a-z]\w*", names), f"{path.name} imports a private name of {dotted}"
        for name in overrides:
            assert not re.search(rf"def {name}\(|^\s+{name}\s*=", text, re.M), f"{path.name} overrides {name}"
