"""Malformed configuration and refused credentials: the tap and the target, run as processes, stop with a
non-zero exit code and a clear error line naming the problem, and print no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator, OAuthSettings
from tests.reliability.conftest import run_module, target_files, write_json
from tests.target.conftest import empty_sizes, record, schema, text

TARGET_INPUT = text(schema("persons", {"ext": {"type": "string"}, "name": {"type": "string"}}, ["ext"]),
                    record("persons", {"ext": "a", "name": "A"}))

#: (case id, config changes, text the error line must contain)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("bad_token", {"api_token": "not-the-token"}, "HTTP 401"),
    ("not_a_url", {"api_url": "ftp://nowhere"}, "api_url must be an http(s) URL"),
    ("plain_http_remote", {"api_url": "http://api.pipedrive.com"}, "api_url must use https"),
    ("credentials_in_url", {"api_url": "https://user:pw@api.pipedrive.com"}, "must not contain credentials"),
    ("unreachable_host", {"api_url": "http://127.0.0.1:9"}, "connection failed"),
    ("no_credentials", {"api_token": None}, "no credentials"),
    ("half_oauth", {"api_token": None, "oauth_client_id": "x"}, "OAuth needs"),
    ("negative_timeout", {"request_timeout": -1}, "request_timeout must be > 0"),
]
TAP_ONLY: list[tuple[str, dict[str, Any], str]] = [
    ("start_date_words", {"start_date": "yesterday"}, "start_date"),
    ("start_date_impossible", {"start_date": "2024-13-45"}, "start_date"),
    ("unknown_setting_value", {"custom_field_names": "label"}, "custom_field_names"),
    ("unknown_search_stream", {"search_terms": {"dealz": ["acme"]}}, "search_terms: dealz is not searchable"),
    ("unknown_reconcile_stream", {"reconcile_deletes": ["dealz"]}, "reconcile_deletes: dealz"),
    ("negative_lookback", {"lookback_seconds": -60}, "lookback_seconds must be 0 or more"),
    ("unknown_include_fields_value", {"include_fields": {"deals": ["nonsense"]}}, "include_fields.deals: nonsense"),
]
TARGET_ONLY: list[tuple[str, dict[str, Any], str]] = [
    ("unknown_on_error", {"on_error": "explode"}, "on_error"),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(seed=1, sizes=empty_sizes(), oauth=OAuthSettings()) as emulator:
        yield emulator


def _config(emu: Emulator, changes: dict[str, Any]) -> dict[str, Any]:
    cfg = {"api_token": emu.api_token, "api_url": emu.url, "max_retries": 1, "backoff_base_seconds": 0.01,
           "backoff_max_seconds": 0.02}
    cfg.update(changes)
    return {k: v for k, v in cfg.items() if v is not None}


def _assert_one_clear_error(stderr: str, returncode: int, needle: str) -> None:
    assert returncode != 0
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if "| ERROR " in line or line.startswith("ERROR")]
    assert any(needle in line for line in errors), stderr[-3000:]
    assert len(errors) <= 2, errors  # the problem, and at most singer-sdk's "Config validation failed"


@pytest.mark.parametrize(("case", "changes", "needle"), CASES + TAP_ONLY, ids=[c[0] for c in CASES + TAP_ONLY])
def test_tap_refuses_bad_configuration_with_one_clear_line(emu, tmp_path: Path, case, changes, needle):
    cfg = write_json(tmp_path / "config.json", _config(emu, changes))
    out = run_module("tap_pipedrive", ["--config", str(cfg)], timeout=60)
    _assert_one_clear_error(out.stderr, out.returncode, needle)
    assert '"type":"RECORD"' not in out.stdout


@pytest.mark.parametrize(("case", "changes", "needle"), CASES + TARGET_ONLY,
                         ids=[c[0] for c in CASES + TARGET_ONLY])
def test_target_refuses_bad_configuration_with_one_clear_line(emu, tmp_path: Path, case, changes, needle):
    cfg = write_json(tmp_path / "config.json", {**_config(emu, changes), **target_files(tmp_path)})
    out = run_module("target_pipedrive", ["--config", str(cfg)], input_text=TARGET_INPUT, timeout=60)
    _assert_one_clear_error(out.stderr, out.returncode, needle)
    assert not emu.store.records("persons")


def test_target_unknown_stream_is_one_clear_line(emu, tmp_path: Path):
    cfg = write_json(tmp_path / "config.json", {**_config(emu, {}), **target_files(tmp_path)})
    unknown = text(schema("dealz", {"title": {"type": "string"}}, []), record("dealz", {"title": "x"}))
    out = run_module("target_pipedrive", ["--config", str(cfg)], input_text=unknown, timeout=60)
    _assert_one_clear_error(out.stderr, out.returncode, "stream 'dealz' maps to no Pipedrive resource")


def test_tap_and_target_with_a_revoked_refresh_token_say_so(emu, tmp_path: Path):
    oauth = {"api_token": None, "oauth_client_id": "emulator-client", "oauth_client_secret": "emulator-secret",
             "oauth_refresh_token": "revoked-long-ago", "oauth_token_url": f"{emu.url}/oauth/token"}
    cfg = write_json(tmp_path / "config.json", {**_config(emu, oauth), **target_files(tmp_path)})
    tap = run_module("tap_pipedrive", ["--config", str(cfg)], timeout=60)
    _assert_one_clear_error(tap.stderr, tap.returncode, "OAuth refresh token was refused")
    target = run_module("target_pipedrive", ["--config", str(cfg)], input_text=TARGET_INPUT, timeout=60)
    _assert_one_clear_error(target.stderr, target.returncode, "OAuth refresh token was refused")


@pytest.mark.parametrize(("case", "lines", "needle"), [
    ("not_json", text(schema("persons", {"ext": {"type": "string"}}, ["ext"])) + "{not json\n",
     "an input line is not JSON: {not json"),
    ("record_before_schema", text(record("persons", {"ext": "a", "name": "A"})),
     "encountered before a corresponding schema"),
], ids=["not_json", "record_before_schema"])
def test_target_broken_singer_input_is_one_clear_line(emu, tmp_path: Path, case, lines, needle):
    cfg = write_json(tmp_path / "config.json", {**_config(emu, {}), **target_files(tmp_path)})
    out = run_module("target_pipedrive", ["--config", str(cfg)], input_text=lines, timeout=60)
    _assert_one_clear_error(out.stderr, out.returncode, needle)
