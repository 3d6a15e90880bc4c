"""API token and OAuth: 401 envelopes, token rotation, expiry on the fake clock, revocation."""

from __future__ import annotations

import pytest
import requests

from pipedrive_emulator import Emulator, OAuthSettings


def _refresh(emu: Emulator, refresh_token: str, auth=("cid", "secret")) -> requests.Response:
    return requests.post(f"{emu.url}/oauth/token", auth=auth, timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token})


@pytest.fixture
def oauth_emu():
    with Emulator(seed=1, scale=0.05, oauth=OAuthSettings("cid", "secret", "r0", access_token_ttl=600)) as emu:
        yield emu


def test_api_token_header_and_query(shared_emu: Emulator):
    url = f"{shared_emu.url}/api/v2/deals"
    assert requests.get(url, headers={"x-api-token": shared_emu.api_token}, timeout=10).status_code == 200
    assert requests.get(url, params={"api_token": shared_emu.api_token}, timeout=10).status_code == 200
    for headers in ({}, {"x-api-token": "wrong"}, {"Authorization": "Bearer nope"}):
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False
        assert body["data"] is None
        assert body["error"]


def test_oauth_flow_rotation_and_expiry(oauth_emu: Emulator):
    first = _refresh(oauth_emu, "r0")
    assert first.status_code == 200
    token = first.json()
    assert token["api_domain"] == oauth_emu.url
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 600
    assert token["refresh_token"] != "r0"
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{oauth_emu.url}/api/v2/deals", headers=bearer, timeout=10).status_code == 200
    # the old refresh token was rotated away
    reused = _refresh(oauth_emu, "r0")
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    oauth_emu.clock.advance(601)
    expired = requests.get(f"{oauth_emu.url}/api/v2/deals", headers=bearer, timeout=10)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]
    second = _refresh(oauth_emu, token["refresh_token"])
    assert second.status_code == 200
    bearer2 = {"Authorization": f"Bearer {second.json()['access_token']}"}
    assert requests.get(f"{oauth_emu.url}/v1/users", headers=bearer2, timeout=10).status_code == 200


def test_oauth_revocation_and_bad_client(oauth_emu: Emulator):
    assert _refresh(oauth_emu, "r0", auth=("cid", "bad")).status_code == 401
    oauth_emu.oauth.revoke()
    revoked = _refresh(oauth_emu, "r0")
    assert revoked.status_code == 400
    assert revoked.json()["error"] == "invalid_grant"
    bad_grant = requests.post(f"{oauth_emu.url}/oauth/token", auth=("cid", "secret"), timeout=10,
                              data={"grant_type": "password"})
    assert bad_grant.status_code == 400


def test_oauth_expire_helper(oauth_emu: Emulator):
    token = _refresh(oauth_emu, "r0").json()["access_token"]
    oauth_emu.oauth.expire_access_tokens()
    response = requests.get(f"{oauth_emu.url}/api/v2/deals", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert response.status_code == 401
