"""Secrets never leak: the API token, the OAuth client secret, refresh and access tokens appear in no log line
(at DEBUG, urllib3 included), exception text, URL, Singer message, state, dead-letter file or ledger, even on
runs that retry, refresh tokens and stop on errors. TLS verification cannot be turned off, and the settings
that hold secrets are marked so."""

from __future__ import annotations

import base64
import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipedrive_core.http import ClientConfig, ConfigError, PipedriveSession
from pipedrive_core.settings import CONNECTION_SETTINGS
from pipedrive_emulator.server import Emulator, OAuthSettings
from tap_pipedrive.tap import TapPipedrive
from target_pipedrive.target import TargetPipedrive
from tests.reliability.conftest import (
    FAST,
    REPO,
    SMALL_SIZES,
    TARGET_FAST,
    cli_env,
    run_module,
    target_files,
    write_json,
)
from tests.target.conftest import record, run_target, schema, text

API_TOKEN = "tok-SECRET-5c0ffee5c0ffee5c0ffee"
OAUTH = OAuthSettings(client_id="rel-client-id", client_secret="csec-SECRET-d00dfeedd00dfeed",
                      refresh_token="rtok-SECRET-0badcafe0badcafe", rotate_refresh_tokens=True)
SECRET_SETTINGS = {"api_token", "oauth_client_secret", "oauth_refresh_token"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=3, sizes=SMALL_SIZES, custom_fields_per_entity=4, api_token=API_TOKEN, oauth=OAUTH) as e:
        yield e


def secrets_of(emu: Emulator) -> set[str]:
    """Every credential that existed during the run, issued tokens included, and the basic-auth header."""
    assert emu.oauth is not None
    found = {API_TOKEN, OAUTH.client_secret, OAUTH.refresh_token, *emu.oauth.access_tokens, *emu.oauth.refresh_tokens}
    basic = base64.b64encode(f"{OAUTH.client_id}:{OAUTH.client_secret}".encode()).decode()
    return found | {basic}


def assert_clean(blobs: dict[str, str | bytes], secrets: set[str]) -> None:
    for name, blob in blobs.items():
        data = blob.encode() if isinstance(blob, str) else blob
        leaked = sorted(s for s in secrets if s.encode() in data)
        assert not leaked, f"{name} contains {leaked}"


@contextlib.contextmanager
def capture_everything() -> Iterator[io.StringIO]:
    """All log records of the process at DEBUG (urllib3, requests, singer-sdk, ours) into one buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(exc_info)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("urllib3", "requests", "singer_sdk", "pipedrive.http", "tap-pipedrive",
                                               "target-pipedrive", "target_pipedrive")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _inject_trouble(emu: Emulator, *, oauth: bool = True) -> None:
    """Retries, a forced token refresh and a refused call: every error path writes its messages."""
    emu.faults.add("500", path=r"^/api/v2/deals$", after=1, count=2)
    emu.faults.add("malformed", path=r"^/api/v2/persons$", after=1, count=1)
    if oauth:  # (with an API token a 401 is final)
        emu.faults.add("oauth_expire", path=r"^/v1/notes$", after=1, count=1)
    emu.faults.add("timeout", path=r"^/api/v2/persons$", after=2, count=1, delay=0.8)


def _oauth(emu: Emulator) -> dict[str, Any]:
    return {"oauth_client_id": OAUTH.client_id, "oauth_client_secret": OAUTH.client_secret,
            "oauth_refresh_token": OAUTH.refresh_token, "oauth_token_url": f"{emu.url}/oauth/token"}


@pytest.mark.parametrize("auth", ["api_token", "oauth"])
def test_tap_process_at_debug_leaks_no_secret(emu, tmp_path: Path, auth):
    _inject_trouble(emu, oauth=auth == "oauth")
    emu.faults.add("html403", path=r"^/v1/webhooks$", count=1)  # ends the run with an error
    creds = {"api_token": API_TOKEN} if auth == "api_token" else _oauth(emu)
    cfg = write_json(tmp_path / "config.json", {"api_url": emu.url, **creds, **FAST, "request_timeout": 0.5})
    env = cli_env(LOGLEVEL="DEBUG", TAP_PIPEDRIVE_LOG_LEVEL="DEBUG")
    out = run_module("tap_pipedrive", ["--config", str(cfg)], env=env)
    assert out.returncode == 1  # the Cloudflare block
    assert "| DEBUG " in out.stderr
    assert "Cloudflare" in out.stderr
    assert emu.faults.fired() >= 3
    if auth == "oauth":
        assert emu.requests.count(path="/oauth/token") >= 2
    assert_clean({"stdout": out.stdout, "stderr": out.stderr}, secrets_of(emu))


def test_tap_in_process_with_every_logger_at_debug_leaks_no_secret(emu):
    _inject_trouble(emu)
    config = {"api_url": emu.url, **_oauth(emu), **FAST, "request_timeout": 0.5}
    out = io.StringIO()
    with capture_everything() as logs, contextlib.redirect_stdout(out):
        tap = TapPipedrive(config=config, parse_env_config=False)
        shown = [repr(tap.session), repr(tap.session.auth_handler), repr(tap.client_config)]
        with contextlib.suppress(SystemExit):
            tap.sync_all()
    assert "urllib3.connectionpool DEBUG" in logs.getvalue()  # the capture did reach urllib3
    assert_clean({"stdout": out.getvalue(), "logs": logs.getvalue(), "reprs": "\n".join(shown)},
                 secrets_of(emu))


def test_target_run_with_rejects_and_errors_leaks_no_secret(emu, tmp_path: Path):
    props = {"ext": {"type": "string"}, "name": {"type": ["string", "null"]}, "seats": {"type": "integer"}}
    rows = [{"ext": f"e{i}", "name": f"Person {i}", "seats": i} for i in range(8)]
    rows += [{"ext": "bad", "name": None, "seats": 1}]  # rejected: a person needs a name
    msgs = [schema("persons", {**props}, ["ext"]), *(record("persons", {k: v for k, v in r.items() if k != "seats"})
                                                     for r in rows)]
    emu.faults.add("commit_then_timeout", method="POST", path=r"^/api/v2/persons$", count=1, delay=0.8)
    emu.faults.add("503", method="POST", path=r"^/api/v2/persons$", after=3, count=1)
    config = {"api_url": emu.url, **_oauth(emu), **target_files(tmp_path), **TARGET_FAST, "on_error": "skip"}
    with capture_everything() as logs:
        run = run_target(config, *msgs)
    assert run.summary["rejected"] == 1
    cfg = write_json(tmp_path / "config.json", {**config, "api_token": API_TOKEN})
    out = run_module("target_pipedrive", ["--config", str(cfg)], input_text=text(*msgs),
                     env=cli_env(LOGLEVEL="DEBUG"))
    files = {name: Path(config[key]).read_bytes() for name, key in (("dead letters", "dead_letter_path"),)}
    ledger = Path(config["ledger_url"].removeprefix("sqlite:///"))
    files["ledger"] = ledger.read_bytes()
    assert_clean({"logs": logs.getvalue(), "cli stdout": out.stdout, "cli stderr": out.stderr, **files},
                 secrets_of(emu))


def test_errors_and_reprs_carry_no_secret():
    cfg = ClientConfig.from_config({"api_url": "https://api.pipedrive.com", "api_token": API_TOKEN})
    session = PipedriveSession(cfg)
    assert API_TOKEN not in repr(cfg) + repr(session) + repr(session.auth_handler)
    oauth = ClientConfig.from_config({"oauth_client_id": "id", "oauth_client_secret": OAUTH.client_secret,
                                      "oauth_refresh_token": OAUTH.refresh_token})
    assert OAUTH.client_secret not in repr(oauth) + repr(PipedriveSession(oauth).auth_handler)
    with pytest.raises(ConfigError) as info:
        ClientConfig.from_config({"api_url": f"https://me:{API_TOKEN}@api.pipedrive.com", "api_token": API_TOKEN})
    assert API_TOKEN not in str(info.value)


# -- TLS and secret marking --------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://api.pipedrive.com", "http://10.0.0.5:8080", "http://acme.pipedrive.com"])
def test_plain_http_is_refused_for_every_non_loopback_host(url):
    with pytest.raises(ConfigError, match="must use https"):
        ClientConfig.from_config({"api_url": url, "api_token": "x"})
    with pytest.raises(ConfigError, match="must use https"):
        ClientConfig.from_config({"api_token": "x", "oauth_client_id": "a", "oauth_client_secret": "b",
                                  "oauth_refresh_token": "c", "oauth_token_url": url + "/oauth/token"})


def test_tls_verification_is_always_on(monkeypatch):
    """The session verifies certificates, and no setting of the tap or the target can switch that off."""
    seen: list[Any] = []

    def fake_send(self: Any, request: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("verify"))
        raise OSError("stop here")

    monkeypatch.setattr("requests.adapters.HTTPAdapter.send", fake_send)
    monkeypatch.setenv("CURL_CA_BUNDLE", "")  # a known way to disable verification in older requests
    session = PipedriveSession(ClientConfig.from_config({"api_token": "x", "max_retries": 0}))
    assert session.verify is True
    with contextlib.suppress(Exception):
        session.get("https://api.pipedrive.com/api/v2/deals")
    assert seen and all(v not in (False, None, "") for v in seen)
    for plugin in (TapPipedrive, TargetPipedrive):
        names = set(plugin.config_jsonschema["properties"])
        assert not {n for n in names if any(w in n for w in ("verify", "ssl", "insecure", "tls"))}, plugin.name


def test_secret_settings_are_marked_secret_and_sensitive():
    """``secret`` in the settings schema and ``sensitive`` in each plugin's Meltano definition (generated into
    ``plugins/hub/<name>.yml``, which meltano.yml uses)."""
    props = CONNECTION_SETTINGS.to_dict()["properties"]
    assert {name for name, p in props.items() if p.get("secret")} == SECRET_SETTINGS
    for name in ("tap-pipedrive", "target-pipedrive"):
        plugin = yaml.safe_load((REPO / "plugins" / "hub" / f"{name}.yml").read_text(encoding="utf-8"))
        settings = {s["name"]: s for s in plugin.get("settings", [])}
        for setting in SECRET_SETTINGS:
            assert setting in settings, f"{name}: {setting} not declared"
            assert settings[setting].get("sensitive") is True, f"{name}: {setting} not marked sensitive"


# -- secrets given the wrong way: stripped or refused, never echoed (both plugins, as processes) ------------

PASTED_TOKEN = API_TOKEN + "\n"  # copied with its line break
NUMBER_SECRET = 98765432123456789

#: (case id, config entries, secret texts that must not appear anywhere in the output)
BAD_SECRETS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("token-inner-newline", {"api_token": "tok-SECRET-inner\nline-SECRET-two"},
     {"tok-SECRET-inner", "line-SECRET-two"}),
    ("token-inner-space", {"api_token": "tok-SECRET-with space-SECRET-x"}, {"tok-SECRET-with", "space-SECRET-x"}),
    ("token-a-number", {"api_token": NUMBER_SECRET}, {str(NUMBER_SECRET)}),
    ("token-a-list", {"api_token": ["tok-SECRET-listed"]}, {"tok-SECRET-listed"}),
    ("token-an-object", {"api_token": {"value": "tok-SECRET-object"}}, {"tok-SECRET-object"}),
    ("client-secret-a-number", {"oauth_client_id": "cid", "oauth_client_secret": NUMBER_SECRET,
                                "oauth_refresh_token": "rtok-SECRET-ok"}, {str(NUMBER_SECRET), "rtok-SECRET-ok"}),
    ("userinfo-in-api-url", {"api_url": "https://user-SECRET:pw-SECRET-1@api.pipedrive.com"},
     {"user-SECRET", "pw-SECRET-1"}),
    ("userinfo-in-bad-scheme-url", {"api_url": "ftp://user-SECRET:pw-SECRET-2@api.pipedrive.com"},
     {"user-SECRET", "pw-SECRET-2"}),
    ("userinfo-in-token-url", {"oauth_client_id": "cid", "oauth_client_secret": "csec-SECRET-3",
                               "oauth_refresh_token": "rtok-SECRET-3",
                               "oauth_token_url": "https://id-SECRET:pw-SECRET-3@oauth.pipedrive.com/oauth/token"},
     {"id-SECRET", "pw-SECRET-3", "csec-SECRET-3", "rtok-SECRET-3"}),
]


def _both_plugins(cfg: Path) -> dict[str, Any]:
    person = text(schema("persons", {"ext": {"type": "string"}, "name": {"type": "string"}}, ["ext"]),
                  record("persons", {"ext": "a", "name": "A"}))
    return {
        "tap": run_module("tap_pipedrive", ["--config", str(cfg), "--discover"], env=cli_env()),
        "target": run_module("target_pipedrive", ["--config", str(cfg)], input_text=person, env=cli_env()),
    }




@pytest.mark.parametrize(
    ("case", "entries", "secrets"),
    [pytest.param(*c, id=c[0]) for c in BAD_SECRETS],
)
def test_a_secret_given_the_wrong_way_is_refused_and_never_echoed(tmp_path: Path, case, entries, secrets):
    config = {"api_url": "http://127.0.0.1:9", "api_token": "placeholder-token", **target_files(tmp_path),
              **entries}
    for plugin, out in _both_plugins(write_json(tmp_path / "config.json", config)).items():
        assert out.returncode != 0, f"{plugin} accepted {case}"
        assert "Traceback" not in out.stderr, f"{plugin}: {out.stderr[-2000:]}"
        assert_clean({f"{plugin} stdout": out.stdout, f"{plugin} stderr": out.stderr}, secrets)


def test_a_token_pasted_with_its_line_break_is_stripped_and_works(emu, tmp_path: Path):
    """The tap printed such a token in a traceback (``Invalid header value``), the target three times."""
    config = {"api_url": emu.url, "api_token": PASTED_TOKEN, **target_files(tmp_path), **TARGET_FAST}
    for plugin, out in _both_plugins(write_json(tmp_path / "config.json", config)).items():
        assert out.returncode == 0, f"{plugin}: {out.stderr[-2000:]}"
        assert_clean({f"{plugin} stdout": out.stdout, f"{plugin} stderr": out.stderr}, {API_TOKEN})
    assert emu.requests.count(method="POST", path="/api/v2/persons") == 1
