"""Shared settings behaviour: unknown keys are reported with a suggestion (both plugins call it at start)."""

from __future__ import annotations

from pipedrive_core.settings import CONNECTION_SETTINGS, SECRET_SETTINGS, unknown_settings

KNOWN = [*CONNECTION_SETTINGS.to_dict()["properties"], "page_size", "start_date", "stream_maps", "flattening_enabled"]


def test_a_typo_of_a_setting_is_named_with_a_suggestion():
    config = {"apitoken": "x", "api-url": "https://h", "API_TOKEN": "y", "startdate": "2024", "page_sise": 5,
              "page_size": 5, "totally_unrelated": 1}
    warnings = unknown_settings(config, KNOWN)
    assert warnings == [
        "unknown setting 'API_TOKEN' is ignored; did you mean 'api_token'?",
        "unknown setting 'api-url' is ignored; did you mean 'api_url'?",
        "unknown setting 'apitoken' is ignored; did you mean 'api_token'?",
        "unknown setting 'page_sise' is ignored; did you mean 'page_size'?",
        "unknown setting 'startdate' is ignored; did you mean 'start_date'?",
        "unknown setting 'totally_unrelated' is ignored",
    ]


def test_known_settings_give_no_warning():
    assert unknown_settings({"api_token": "x", "page_size": 5, "stream_maps": {}}, KNOWN) == []


def test_the_secret_settings_are_the_ones_marked_secret():
    assert {"api_token", "oauth_client_secret", "oauth_refresh_token"} == SECRET_SETTINGS
