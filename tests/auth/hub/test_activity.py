"""Activity reports to the hub (nbserver.auth.hub.activity), against the fake hub API."""

import asyncio

import pytest

from nbserver.auth.hub.activity import HubActivityReporter
from nbserver.auth.hub.client import HubClient
from tests.support.fake_hub import SERVER_TOKEN


@pytest.mark.gen_test
async def test_activity_is_posted_once_per_new_activity(fake_hub):
    clock = [1_700_000_000.5]
    reporter = HubActivityReporter(HubClient(fake_hub.api_url, SERVER_TOKEN), "", lambda: clock[0],
                                   activity_url=f"{fake_hub.api_url}/users/alice/activity")
    assert await reporter.report() is True
    assert fake_hub.state.activity == [{"user": "alice", "last_activity": "2023-11-14T22:13:20.500000Z",
                                        "servers": {"": {"last_activity": "2023-11-14T22:13:20.500000Z"}}}]
    assert await reporter.report() is False
    clock[0] += 60
    assert await reporter.report() is True
    assert fake_hub.state.activity[-1]["servers"][""]["last_activity"] == "2023-11-14T22:14:20.500000Z"


@pytest.mark.gen_test
async def test_reporting_runs_in_the_background_until_stopped(fake_hub):
    reporter = HubActivityReporter(HubClient(fake_hub.api_url, SERVER_TOKEN), "lab", lambda: 1_700_000_000.0,
                                   activity_url=f"{fake_hub.api_url}/users/alice/activity", activity_interval=0.05)
    reporter.start()
    for _ in range(100):
        if fake_hub.state.activity:
            break
        await asyncio.sleep(0.02)
    await reporter.stop()
    assert fake_hub.state.activity[0]["servers"] == {"lab": {"last_activity": "2023-11-14T22:13:20.000000Z"}}
