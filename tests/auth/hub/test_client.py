"""The hub API client (nbserver.auth.hub.client), against the fake hub API."""

import asyncio

import pytest

from nbserver.auth.hub.client import HubClient, HubRefused, HubUnavailable
from tests.support.fake_hub import CLIENT_ID, SERVER_TOKEN


@pytest.mark.gen_test
async def test_a_revoked_token_stops_working_when_its_cache_entry_expires(fake_hub):
    client = HubClient(fake_hub.api_url, SERVER_TOKEN, cache_seconds=0.2)
    token = fake_hub.state.issue_token("alice", ["access:servers!user=alice"])
    assert (await client.user_for_token(token))["name"] == "alice"
    del fake_hub.state.tokens[token]
    assert (await client.user_for_token(token))["name"] == "alice"  # cached
    await asyncio.sleep(0.25)
    assert await client.user_for_token(token) is None
    assert fake_hub.state.token_checks == 2


@pytest.mark.gen_test
async def test_refusals_are_cached_too(fake_hub):
    client = HubClient(fake_hub.api_url, SERVER_TOKEN)
    for _ in range(3):
        assert await client.user_for_token("unknown") is None
    assert fake_hub.state.token_checks == 1


@pytest.mark.gen_test
async def test_an_unknown_code_is_refused(fake_hub):
    client = HubClient(fake_hub.api_url, SERVER_TOKEN)
    with pytest.raises(HubRefused):
        await client.token_for_code("nope", "verifier", CLIENT_ID, "/user/alice/oauth_callback")


@pytest.mark.gen_test
async def test_a_hub_that_is_down_is_unavailable(fake_hub):
    fake_hub.stop()
    fake_hub.socket.close()
    with pytest.raises(HubUnavailable):
        await HubClient(fake_hub.api_url, SERVER_TOKEN).user_for_token("any")


@pytest.mark.gen_test
async def test_groups_of_a_user(fake_hub):
    client = HubClient(fake_hub.api_url, SERVER_TOKEN)
    assert await client.user_groups("alice") == ["team"]
    assert await client.user_groups("nobody-here") == []
