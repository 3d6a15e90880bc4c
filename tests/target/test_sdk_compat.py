"""The target's private singer-sdk surface is fenced in ``target_pipedrive/sdk_compat.py``: a singer-sdk
version that renames or drops one of those members fails here, loudly, instead of changing behaviour."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from target_pipedrive import sdk_compat
from target_pipedrive.sdk_compat import PRIVATE_INSTANCE_ATTRIBUTES, PRIVATE_SURFACE
from target_pipedrive.target import TargetPipedrive

PACKAGE = Path(sdk_compat.__file__).parent


@pytest.mark.parametrize(("owner", "name"), PRIVATE_SURFACE, ids=[f"{getattr(o, '__name__', o)}.{n}"
                                                                 for o, n in PRIVATE_SURFACE])
def test_every_private_member_exists_in_the_installed_singer_sdk(owner, name):
    assert hasattr(owner, name), f"singer-sdk no longer has {owner!r}.{name}: update target_pipedrive/sdk_compat.py"


def test_private_instance_attributes_exist(config):
    target = TargetPipedrive(config={**config, "dry_run": True}, parse_env_config=False, validate_config=True)
    sink = target.get_sink("persons", schema={"properties": {"name": {"type": "string"}}}, key_properties=[])
    objects = {"target": target, "sink": sink}
    for which, name in PRIVATE_INSTANCE_ATTRIBUTES:
        assert hasattr(objects[which], name), f"singer-sdk's {which} no longer has {name}"
    target._runtime.close()  # type: ignore[union-attr]


def test_overrides_of_private_members_are_marked_and_live_only_in_sdk_compat():
    """Every ``_name`` method defined in the target overrides singer-sdk, so it must be in sdk_compat and carry
    ``@override``; other modules use the public hooks."""
    overridden = {n for _o, n in PRIVATE_SURFACE}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
                if fn.name in overridden:
                    assert path.name == "sdk_compat.py", f"{path.name}: {cls.name}.{fn.name} overrides singer-sdk"
                    names = {ast.unparse(d) for d in fn.decorator_list}
                    assert "override" in names, f"{cls.name}.{fn.name} lacks @override"


def test_no_private_singer_sdk_import_outside_sdk_compat():
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "sdk_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
                hidden = [a.name for a in node.names if a.name.startswith("_")]
                assert "._" not in (node.module or "") and not hidden, f"{path.name} imports {node.module}"


def test_compat_overrides_carry_the_override_marker():
    for cls in (sdk_compat.CompatTarget, sdk_compat.CompatSink):
        for name, member in vars(cls).items():
            if name.startswith("_") and not name.startswith("__") and inspect.isfunction(member):
                assert getattr(member, "__override__", False), f"{cls.__name__}.{name} lacks @override"
